//! The subtitle pass: the ASS file burned into the output frames by
//! libass, once over each piece of the output (`pieces`).

use std::path::Path;

use ffmpeg_next as ff;

use super::plan::Output;
use crate::error::RenderError;
use crate::media::graph::VideoGraph;

/// The subtitle pass: one `subtitles` filter over a run of frames (a
/// piece: its own ASS file holds what shows over it, in its own times).
pub struct Tail {
    graph: Option<VideoGraph>,
}

impl Tail {
    /// Burns `ass` into frames of the output shape; `None` passes frames through.
    pub fn new(out: &Output, ass: Option<&Path>) -> Result<Self, RenderError> {
        let Some(path) = ass else {
            return Ok(Self { graph: None });
        };
        let chain = format!("{},format=yuv420p", burn_filter(path)?);
        let graph = VideoGraph::new(
            out.width,
            out.height,
            ff::format::Pixel::YUV420P,
            ff::Rational(1, out.fps as i32),
            ff::Rational(1, 1),
            &chain,
        )?;
        Ok(Self { graph: Some(graph) })
    }

    /// Passes a frame (pts in output frames) through; calls `sink` for what comes out.
    pub fn push(
        &mut self,
        frame: ff::frame::Video,
        sink: &mut dyn FnMut(ff::frame::Video) -> Result<(), RenderError>,
    ) -> Result<(), RenderError> {
        match self.graph.as_mut() {
            None => sink(frame),
            Some(g) => {
                g.push(Some(&frame))?;
                while let Some(f) = g.pull()? {
                    sink(f)?;
                }
                Ok(())
            }
        }
    }

    /// Flushes what the filter still holds.
    pub fn finish(
        &mut self,
        sink: &mut dyn FnMut(ff::frame::Video) -> Result<(), RenderError>,
    ) -> Result<(), RenderError> {
        if let Some(g) = self.graph.as_mut() {
            g.push(None)?;
            while let Some(f) = g.pull()? {
                sink(f)?;
            }
        }
        Ok(())
    }
}

/// The libass filter burning the ASS file at `path`. Paths with characters
/// the filter syntax reserves are refused rather than escaped: ours are
/// scratch paths and never need them.
pub fn burn_filter(path: &Path) -> Result<String, RenderError> {
    let p = path.to_string_lossy();
    if p.chars()
        .any(|c| matches!(c, ':' | '\\' | '\'' | ',' | '[' | ']' | ';' | '='))
    {
        return Err(RenderError::Io(format!(
            "subtitle path {p} has characters the filter syntax reserves"
        )));
    }
    Ok(format!("subtitles=filename={p}"))
}
