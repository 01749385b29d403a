//! A filter graph with one video source and one sink: how every frame of
//! compose is fitted, timed and subtitled by FFmpeg's filters.

use ffmpeg_next as ff;

use crate::error::RenderError;

/// A filter graph with one video source `in` and one sink `out`.
pub struct VideoGraph {
    graph: ff::filter::Graph,
}

impl VideoGraph {
    /// Builds `chain` between a source of the given shape and a sink.
    pub fn new(
        width: u32,
        height: u32,
        format: ff::format::Pixel,
        time_base: ff::Rational,
        sar: ff::Rational,
        chain: &str,
    ) -> Result<Self, RenderError> {
        let mut graph = ff::filter::Graph::new();
        let args = format!(
            "video_size={width}x{height}:pix_fmt={}:time_base={}/{}:pixel_aspect={}/{}",
            ff::ffi::AVPixelFormat::from(format) as i32,
            time_base.numerator(),
            time_base.denominator().max(1),
            sar.numerator().max(1),
            sar.denominator().max(1),
        );
        let buffer = ff::filter::find("buffer")
            .ok_or_else(|| RenderError::Init("no buffer filter".into()))?;
        let sink = ff::filter::find("buffersink")
            .ok_or_else(|| RenderError::Init("no buffersink filter".into()))?;
        graph
            .add(&buffer, "in", &args)
            .map_err(RenderError::ffmpeg("video source"))?;
        graph
            .add(&sink, "out", "")
            .map_err(RenderError::ffmpeg("video sink"))?;
        graph
            .output("in", 0)
            .and_then(|p| p.input("out", 0))
            .and_then(|p| p.parse(chain))
            .map_err(|e| RenderError::Ffmpeg {
                context: format!("video filter {chain:?}"),
                source: e,
            })?;
        graph
            .validate()
            .map_err(RenderError::ffmpeg("video filter"))?;
        Ok(Self { graph })
    }

    /// Feeds a frame (or, with `None`, the end of input).
    pub fn push(&mut self, frame: Option<&ff::frame::Video>) -> Result<(), RenderError> {
        let mut src = self
            .graph
            .get("in")
            .ok_or_else(|| RenderError::Init("filter source missing".into()))?;
        match frame {
            Some(f) => src
                .source()
                .add(f)
                .map_err(RenderError::ffmpeg("filter a frame")),
            None => src
                .source()
                .flush()
                .map_err(RenderError::ffmpeg("flush the filter")),
        }
    }

    /// The next filtered frame, if one is ready.
    pub fn pull(&mut self) -> Result<Option<ff::frame::Video>, RenderError> {
        let mut sink = self
            .graph
            .get("out")
            .ok_or_else(|| RenderError::Init("filter sink missing".into()))?;
        let mut frame = ff::frame::Video::empty();
        match sink.sink().frame(&mut frame) {
            Ok(()) => Ok(Some(frame)),
            Err(ff::Error::Eof) => Ok(None),
            Err(ff::Error::Other { errno }) if errno == ff::ffi::EAGAIN => Ok(None),
            Err(e) => Err(RenderError::ffmpeg("filter a frame")(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::plan::fit_chain;
    use crate::compose::test_picture::picture;
    use crate::media::decode::{planes, psnr};
    use crate::media::rotation;
    use scout_gpu::fit::{FitMode as DeviceFit, FitPlan, SourceFormat};
    use scout_proto::scout::render::v1::FitMode;

    /// The device fit (checked here through its CPU reference, which the
    /// device matches byte for byte: `scout gpu-bench`) against the CPU
    /// path's FFmpeg filters, for every fit mode and rotation: same picture,
    /// same place, same bars and background, within the difference between
    /// bilinear (device) and bicubic (FFmpeg) scaling.
    #[test]
    fn the_device_fit_agrees_with_ffmpegs_filters() {
        crate::runtime::init_ffmpeg().expect("ffmpeg");
        let src = picture();
        let bytes = planes(&src);
        let (y, rest) = bytes.split_at(640 * 360);
        let (u, v) = rest.split_at(320 * 180);
        // Portrait outputs, and a square one so turned pictures still need
        // bars or a crop.
        let (tall, square) = ((360u32, 640u32), (480u32, 480u32));
        for (fit, device, rot, out, min_db) in [
            (FitMode::Letterbox, DeviceFit::Letterbox, 0, tall, 40.0),
            (FitMode::CropCenter, DeviceFit::CropCenter, 0, tall, 40.0),
            (FitMode::BlurPad, DeviceFit::BlurPad, 0, tall, 33.0),
            (FitMode::Letterbox, DeviceFit::Letterbox, 90, tall, 40.0),
            (FitMode::Letterbox, DeviceFit::Letterbox, 90, square, 40.0),
            (
                FitMode::CropCenter,
                DeviceFit::CropCenter,
                270,
                square,
                40.0,
            ),
            (FitMode::BlurPad, DeviceFit::BlurPad, 180, tall, 33.0),
            (FitMode::BlurPad, DeviceFit::BlurPad, 270, square, 33.0),
        ] {
            let display = rotation::display_size(640, 360, rot);
            let turn = rotation::filter(rot);
            let chain = format!(
                "{}format=yuv420p,{},format=yuv420p",
                if turn.is_empty() {
                    String::new()
                } else {
                    format!("{turn},")
                },
                fit_chain(fit, display, out)
            );
            let mut graph = VideoGraph::new(
                640,
                360,
                ff::format::Pixel::YUV420P,
                ff::Rational(1, 30),
                ff::Rational(1, 1),
                &chain,
            )
            .expect("graph");
            // The source takes the frame's buffers: give it a copy.
            graph.push(Some(&src.clone())).expect("push");
            graph.push(None).expect("flush");
            let cpu = graph.pull().expect("pull").expect("a frame");
            assert_eq!((cpu.width(), cpu.height()), out);
            let cpu = planes(&cpu);
            let plan = FitPlan::new(device, SourceFormat::I420, (640, 360), rot, out);
            let dev = plan.run_cpu(&[(y, 640), (u, 320), (v, 320)]);
            assert_eq!(dev.len(), cpu.len());
            let luma = (out.0 * out.1) as usize;
            let chroma = luma / 4;
            for (k, (s, e)) in [
                (0, luma),
                (luma, luma + chroma),
                (luma + chroma, luma + 2 * chroma),
            ]
            .into_iter()
            .enumerate()
            {
                let db = psnr(&cpu[s..e], &dev[s..e]);
                assert!(
                    db >= min_db,
                    "{fit:?} rot {rot} plane {k}: {db:.1} dB < {min_db}"
                );
            }
        }
    }
}
