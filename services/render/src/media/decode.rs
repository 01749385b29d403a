//! Whole-clip decoding for measurements and checks: how fast a clip decodes
//! on the CPU and on NVDEC, and what the frames look like (as YUV 4:2:0
//! planes) so the two can be compared (PSNR).

use std::path::Path;
use std::time::Instant;

use ffmpeg_next as ff;
use scout_gpu::DecodePath;

use super::hw::{self, SendError};
use super::open;
use crate::error::RenderError;

/// One decoding run over a clip.
#[derive(Debug, Clone)]
pub struct DecodeRun {
    /// Where it decoded.
    pub path: DecodePath,
    /// Frames decoded.
    pub frames: u64,
    /// Wall time of demux + decode (and the sampling copies), seconds.
    pub seconds: f64,
    /// Width and height of the frames.
    pub size: (u32, u32),
    /// Every `sample_every`th frame (by decode order index) as 8-bit YUV
    /// 4:2:0 planes, Y then U then V.
    pub samples: Vec<(u64, Vec<u8>)>,
}

impl DecodeRun {
    /// Frames per second.
    pub fn fps(&self) -> f64 {
        self.frames as f64 / self.seconds.max(1e-9)
    }
}

/// Decodes every frame of `path`'s video, on NVDEC when `gpu` (and this
/// node plans it) else on the CPU with frame threads.
pub fn decode_all(path: &Path, gpu: bool, sample_every: u64) -> Result<DecodeRun, RenderError> {
    let name = path.display().to_string();
    let started = Instant::now();
    let mut input = open(path, &name)?;
    let stream = input
        .streams()
        .best(ff::media::Type::Video)
        .ok_or_else(|| RenderError::media(&name, "has no video stream"))?;
    let index = stream.index();
    let mut threading = ff::threading::Config::default();
    threading.kind = ff::threading::Type::Frame;
    threading.count = 0;
    let mut decoder = hw::open_decoder(stream.parameters(), &name, threading, gpu)?;
    let mut frame = ff::frame::Video::empty();
    let mut frames = 0u64;
    let mut samples = Vec::new();
    let mut size = (0, 0);
    let mut scaler: Option<ff::software::scaling::Context> = None;
    let mut take = |frame: &ff::frame::Video, frames: &mut u64| -> Result<(), RenderError> {
        if sample_every > 0 && (*frames).is_multiple_of(sample_every) {
            let s = match scaler.as_mut() {
                Some(s) => s,
                None => scaler.insert(
                    ff::software::scaling::Context::get(
                        frame.format(),
                        frame.width(),
                        frame.height(),
                        ff::format::Pixel::YUV420P,
                        frame.width(),
                        frame.height(),
                        ff::software::scaling::Flags::POINT,
                    )
                    .map_err(RenderError::ffmpeg("sampling scaler"))?,
                ),
            };
            let mut yuv = ff::frame::Video::empty();
            s.run(frame, &mut yuv)
                .map_err(RenderError::ffmpeg("sampling a frame"))?;
            samples.push((*frames, planes(&yuv)));
        }
        *frames += 1;
        Ok(())
    };
    loop {
        let mut packet = ff::Packet::empty();
        let eof = match packet.read(&mut input) {
            Ok(()) if packet.stream() != index => continue,
            Ok(()) => {
                match hw::send_packet(&mut decoder, &packet) {
                    Ok(()) => {}
                    Err(SendError::Gpu(why)) => return Err(RenderError::Gpu(why)),
                    Err(SendError::Packet(e)) => {
                        tracing::debug!(file = %name, error = %e, "undecodable packet skipped");
                    }
                }
                false
            }
            Err(ff::Error::Eof) => {
                let _ = decoder.decoder.send_eof();
                true
            }
            Err(e) => return Err(RenderError::media(&name, format!("is damaged: {e}"))),
        };
        while decoder.decoder.receive_frame(&mut frame).is_ok() {
            size = (frame.width(), frame.height());
            take(&frame, &mut frames)?;
        }
        if eof {
            break;
        }
    }
    Ok(DecodeRun {
        path: decoder.path,
        frames,
        seconds: started.elapsed().as_secs_f64(),
        size,
        samples,
    })
}

/// The visible bytes of a YUV 4:2:0 frame's planes, without row padding.
fn planes(f: &ff::frame::Video) -> Vec<u8> {
    let mut out = Vec::with_capacity((f.width() * f.height() * 3 / 2) as usize);
    for plane in 0..3 {
        let (w, h) = if plane == 0 {
            (f.width() as usize, f.height() as usize)
        } else {
            (
                f.width().div_ceil(2) as usize,
                f.height().div_ceil(2) as usize,
            )
        };
        let stride = f.stride(plane);
        let data = f.data(plane);
        for row in 0..h {
            let start = row * stride;
            out.extend_from_slice(&data[start..start + w]);
        }
    }
    out
}

/// PSNR in dB between two equally sized byte buffers (infinity when equal).
pub fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let n = a.len().min(b.len()).max(1) as f64;
    let mse = a
        .iter()
        .zip(b)
        .map(|(x, y)| {
            let d = f64::from(*x) - f64::from(*y);
            d * d
        })
        .sum::<f64>()
        / n;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0 * 255.0 / mse).log10()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psnr_is_infinite_for_equal_and_drops_with_noise() {
        let a = vec![100u8; 1000];
        assert!(psnr(&a, &a).is_infinite());
        let b: Vec<u8> = a
            .iter()
            .enumerate()
            .map(|(i, v)| v + (i % 3) as u8)
            .collect();
        let c: Vec<u8> = a
            .iter()
            .enumerate()
            .map(|(i, v)| v + (i % 9) as u8)
            .collect();
        assert!(psnr(&a, &b) > psnr(&a, &c));
        assert!(psnr(&a, &b) > 40.0);
    }
}
