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

    /// The worst PSNR of `other`'s samples against these, per plane
    /// (Y, U, V), over the samples both took of the same frame index and
    /// size; and how many were compared.
    pub fn worst_psnr(&self, other: &DecodeRun) -> ([f64; 3], usize) {
        let (w, h) = self.size;
        let plane = (w * h) as usize;
        let chroma = (w.div_ceil(2) * h.div_ceil(2)) as usize;
        let parts = [
            (0, plane),
            (plane, plane + chroma),
            (plane + chroma, plane + 2 * chroma),
        ];
        let mut worst = [f64::INFINITY; 3];
        let mut compared = 0;
        for ((i, a), (j, b)) in self.samples.iter().zip(&other.samples) {
            if i != j || a.len() < plane + 2 * chroma || b.len() < plane + 2 * chroma {
                continue;
            }
            compared += 1;
            for (k, (s, e)) in parts.into_iter().enumerate() {
                worst[k] = worst[k].min(psnr(&a[s..e], &b[s..e]));
            }
        }
        (worst, compared)
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
        while decoder.receive(&mut frame) {
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

/// Decodes every frame of `path`'s video on NVDEC through our own Video
/// Codec SDK path (`scout_gpu::sdk`), scaled by NVDEC to `target` when
/// given: packets are demuxed by FFmpeg, turned into an Annex B elementary
/// stream by its `*_mp4toannexb` filter, parsed and decoded by NVDEC, and
/// copied back at the output size. Samples are full-size only.
#[cfg(feature = "nvidia")]
pub fn decode_all_sdk(
    path: &Path,
    target: Option<(u32, u32)>,
    sample_every: u64,
) -> Result<DecodeRun, RenderError> {
    let mut samples = Vec::new();
    let mut size = (0, 0);
    let (frames, seconds) = decode_sdk(
        path,
        &|codec| scout_gpu::sdk::NvdecDecoder::new(codec, target),
        &mut |i, f| {
            size = (f.width, f.height);
            if target.is_none() && sample_every > 0 && i.is_multiple_of(sample_every) {
                samples.push((i, host_planes(f)));
            }
        },
    )?;
    Ok(DecodeRun {
        path: DecodePath::Nvdec,
        frames,
        seconds,
        size,
        samples,
    })
}

/// Runs a whole clip through an NVDEC session made by `open` for its
/// codec, calling `each` with every frame's index and frame; returns the
/// frame count and the wall time in seconds.
#[cfg(feature = "nvidia")]
pub fn decode_sdk(
    path: &Path,
    open_session: &dyn Fn(
        scout_gpu::VideoCodec,
    ) -> Result<scout_gpu::sdk::NvdecDecoder, scout_gpu::sdk::NvdecError>,
    each: &mut dyn FnMut(u64, &scout_gpu::sdk::HostFrame),
) -> Result<(u64, f64), RenderError> {
    let name = path.display().to_string();
    let started = Instant::now();
    let mut input = open(path, &name)?;
    let stream = input
        .streams()
        .best(ff::media::Type::Video)
        .ok_or_else(|| RenderError::media(&name, "has no video stream"))?;
    let index = stream.index();
    let mut bsf = AnnexB::for_stream(&stream.parameters(), &name)?;
    let codec = bsf.codec;
    let mut lease = hw::nvdec_lease();
    let mut nvdec = open_session(codec).map_err(|e| RenderError::Gpu(e.to_string()))?;
    let mut frames = 0u64;
    let mut take = |batch: Vec<scout_gpu::sdk::HostFrame>| {
        for f in &batch {
            each(frames, f);
            frames += 1;
            lease.add_frames(1);
        }
    };
    loop {
        let mut packet = ff::Packet::empty();
        match packet.read(&mut input) {
            Ok(()) if packet.stream() != index => continue,
            Ok(()) => {
                for (data, pts) in bsf.filter(&mut packet)? {
                    take(
                        nvdec
                            .decode(&data, pts)
                            .map_err(|e| RenderError::Gpu(e.to_string()))?,
                    );
                }
            }
            Err(ff::Error::Eof) => break,
            Err(e) => return Err(RenderError::media(&name, format!("is damaged: {e}"))),
        }
    }
    take(nvdec.flush().map_err(|e| RenderError::Gpu(e.to_string()))?);
    Ok((frames, started.elapsed().as_secs_f64()))
}

/// NV12 / P016 (high byte) to 8-bit planar Y, U, V.
#[cfg(feature = "nvidia")]
fn host_planes(f: &scout_gpu::sdk::HostFrame) -> Vec<u8> {
    let step = f.bytes_per_sample as usize;
    let hi = step - 1;
    let mut out: Vec<u8> = f.luma.iter().skip(hi).step_by(step).copied().collect();
    let samples: Vec<u8> = f.chroma.iter().skip(hi).step_by(step).copied().collect();
    out.extend(samples.iter().step_by(2));
    out.extend(samples.iter().skip(1).step_by(2));
    out
}

/// An FFmpeg frame of `format` and size from planes that come packed (no
/// row padding): each `(bytes, row bytes, rows)`; a short plane is a GPU
/// failure (`what` names it).
#[cfg(feature = "nvidia")]
pub(crate) fn frame_from_packed(
    format: ff::format::Pixel,
    (width, height): (u32, u32),
    planes: &[(&[u8], usize, usize)],
    what: &str,
) -> Result<ff::frame::Video, RenderError> {
    let mut frame = ff::frame::Video::new(format, width, height);
    for (p, &(src, row, rows)) in planes.iter().enumerate() {
        if src.len() < row * rows {
            return Err(RenderError::Gpu(format!("{what} came back short")));
        }
        let stride = frame.stride(p);
        let dst = frame.data_mut(p);
        for r in 0..rows {
            dst[r * stride..r * stride + row].copy_from_slice(&src[r * row..(r + 1) * row]);
        }
    }
    Ok(frame)
}

/// An Annex B access unit and its timestamp, when it has one.
#[cfg(feature = "nvidia")]
pub(crate) type AnnexbUnit = (Vec<u8>, Option<i64>);

/// FFmpeg's `*_mp4toannexb` bitstream filter.
#[cfg(feature = "nvidia")]
pub(crate) struct AnnexB {
    ctx: *mut ff::ffi::AVBSFContext,
    /// The stream's codec.
    pub(crate) codec: scout_gpu::VideoCodec,
}

#[cfg(feature = "nvidia")]
impl AnnexB {
    /// The filter for an H.264 or HEVC stream.
    pub(crate) fn for_stream(
        params: &ff::codec::Parameters,
        name: &str,
    ) -> Result<Self, RenderError> {
        let codec = hw::codec_of(params.id()).ok_or_else(|| {
            RenderError::media(
                name,
                format!("{:?} is not decoded on NVDEC here", params.id()),
            )
        })?;
        let filter = match codec {
            scout_gpu::VideoCodec::H264 => c"h264_mp4toannexb",
            scout_gpu::VideoCodec::Hevc => c"hevc_mp4toannexb",
        };
        Self::new(filter, params, codec)
    }

    fn new(
        name: &std::ffi::CStr,
        params: &ff::codec::Parameters,
        codec: scout_gpu::VideoCodec,
    ) -> Result<Self, RenderError> {
        // SAFETY: standard av_bsf_* set-up; the context is freed on drop.
        unsafe {
            let f = ff::ffi::av_bsf_get_by_name(name.as_ptr());
            if f.is_null() {
                return Err(RenderError::Init(format!("FFmpeg has no {name:?} filter")));
            }
            let mut ctx = std::ptr::null_mut();
            if ff::ffi::av_bsf_alloc(f, &mut ctx) < 0 {
                return Err(RenderError::Init("av_bsf_alloc failed".into()));
            }
            let me = Self { ctx, codec };
            if ff::ffi::avcodec_parameters_copy((*ctx).par_in, params.as_ptr()) < 0
                || ff::ffi::av_bsf_init(ctx) < 0
            {
                return Err(RenderError::Init(format!("{name:?} would not start")));
            }
            Ok(me)
        }
    }

    /// The Annex B packets (data, pts) for one demuxed packet.
    pub(crate) fn filter(
        &mut self,
        packet: &mut ff::Packet,
    ) -> Result<Vec<AnnexbUnit>, RenderError> {
        use ff::packet::Mut as _;
        let mut out = Vec::new();
        // SAFETY: the filter takes the packet's reference and hands back
        // packets it owns until it answers EAGAIN.
        unsafe {
            if ff::ffi::av_bsf_send_packet(self.ctx, packet.as_mut_ptr()) < 0 {
                return Err(RenderError::Init(
                    "the Annex B filter refused a packet".into(),
                ));
            }
            loop {
                let mut p = ff::Packet::empty();
                if ff::ffi::av_bsf_receive_packet(self.ctx, p.as_mut_ptr()) < 0 {
                    break;
                }
                if let Some(data) = p.data() {
                    out.push((data.to_vec(), p.pts()));
                }
            }
        }
        Ok(out)
    }
}

#[cfg(feature = "nvidia")]
impl Drop for AnnexB {
    fn drop(&mut self) {
        // SAFETY: allocated by av_bsf_alloc, freed once.
        unsafe { ff::ffi::av_bsf_free(&mut self.ctx) }
    }
}

/// The visible bytes of a YUV 4:2:0 frame's planes, without row padding.
pub(crate) fn planes(f: &ff::frame::Video) -> Vec<u8> {
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
