//! A filter graph with one video source and one sink: how frames are
//! turned, scaled, fitted, timed and subtitled by FFmpeg's filters (JPEG
//! frames and every frame of compose).

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
