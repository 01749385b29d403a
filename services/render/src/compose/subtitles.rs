//! The subtitle pass: the ASS file burned into the output frames by
//! libass, and the brand's logo drawn over them, once over each piece of
//! the output (`pieces`).

use std::path::Path;

use ffmpeg_next as ff;

use super::plan::{Output, PlannedLogo};
use crate::error::RenderError;
use crate::media::graph::VideoGraph;

/// What the pass draws over a piece's frames.
#[derive(Debug, Clone, Copy, Default)]
pub struct Overlays<'a> {
    /// The piece's ASS file (captions, the AI mark).
    pub ass: Option<&'a Path>,
    /// The brand's logo.
    pub logo: Option<&'a PlannedLogo>,
}

/// The subtitle pass: one `subtitles` filter over a run of frames (a
/// piece: its own ASS file holds what shows over it, in its own times).
pub struct Tail {
    graph: Option<VideoGraph>,
}

impl Tail {
    /// Burns `over.ass` into frames of the output shape and draws
    /// `over.logo` on them; with neither, frames pass through.
    pub fn new(out: &Output, over: Overlays<'_>) -> Result<Self, RenderError> {
        let chain = match (over.ass, over.logo) {
            (None, None) => return Ok(Self { graph: None }),
            (Some(path), None) => format!("{},format=yuv420p", burn_filter(path)?),
            (ass, Some(logo)) => {
                // The image read once by `movie`, sized, made see-through,
                // and laid over every frame (overlay repeats its one frame).
                let (w, h, x, y) = logo.placement(out.width, out.height);
                let base = match ass {
                    Some(path) => burn_filter(path)?,
                    None => "null".into(),
                };
                format!(
                    "movie=filename={},format=rgba,scale={w}:{h},colorchannelmixer=aa={:.3}[logo];\
                     [in]{base}[base];[base][logo]overlay=x={x}:y={y}:format=auto,format=yuv420p[out]",
                    filter_path(&logo.path)?,
                    logo.opacity,
                )
            }
        };
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

/// The libass filter burning the ASS file at `path`.
pub fn burn_filter(path: &Path) -> Result<String, RenderError> {
    Ok(format!("subtitles=filename={}", filter_path(path)?))
}

/// A path as a filter option's value. Paths with characters the filter
/// syntax reserves are refused rather than escaped: ours are scratch
/// paths and never need them.
fn filter_path(path: &Path) -> Result<String, RenderError> {
    let p = path.to_string_lossy();
    if p.chars()
        .any(|c| matches!(c, ':' | '\\' | '\'' | ',' | '[' | ']' | ';' | '='))
    {
        return Err(RenderError::Io(format!(
            "path {p} has characters the filter syntax reserves"
        )));
    }
    Ok(p.into_owned())
}
