//! A still of what compose would make of a clip with a subtitle style: the
//! clip's representative frame turned upright, fitted to the output as a
//! segment is (blurred background), the caption laid out and burned by the
//! same ASS writer and libass pass, then scaled down to a JPEG. Used to let
//! a reviewer pick a style on their own footage.

use std::path::Path;

use ffmpeg_next as ff;
use scout_proto::scout::common::v1::SubtitleStyle;
use scout_proto::scout::render::v1::{FitMode, SubtitleEvent, WordTiming};

use super::plan::fit_chain;
use crate::error::RenderError;
use crate::media::frames::FramePicker;
use crate::media::graph::VideoGraph;
use crate::media::jpeg::JpegWriter;
use crate::media::rotation;
use crate::media::turbo::QUALITY_THUMBNAIL;

/// The output frame compose renders (seed 000: 1080x1920).
const OUTPUT: (u32, u32) = (1080, 1920);
/// Longest side of the preview JPEG.
pub const PREVIEW_MAX: u32 = 960;

/// A preview JPEG of `text` in `style` over the clip at `path` (called
/// `name` in errors), drawn with `font`; `scratch` holds the ASS file.
/// Returns the JPEG and its size.
pub fn subtitle_preview(
    path: &Path,
    name: &str,
    style: SubtitleStyle,
    text: &str,
    font: &str,
    scratch: &Path,
) -> Result<(Vec<u8>, (u32, u32)), RenderError> {
    crate::runtime::init_ffmpeg()?;
    if text.trim().is_empty() {
        return Err(RenderError::InvalidArgument(
            "text: the caption to preview is required".into(),
        ));
    }
    let mut picker = FramePicker::open(path, name, false)?;
    let rot = picker.rotation();
    let (_, mut frame) = picker.representative(name)?;
    // The frame is drawn 2 s into the caption; a karaoke caption's words
    // are spread over its first 4 s, so it shows half lit, as mid-sentence.
    let units = crate::voice::align::words(text);
    let step = 4.0 / units.len().max(1) as f64;
    let events = [SubtitleEvent {
        start_seconds: 0.0,
        end_seconds: 10.0,
        text: text.to_string(),
        words: units
            .into_iter()
            .enumerate()
            .map(|(i, (word, _, _))| WordTiming {
                text: word,
                start_seconds: i as f64 * step,
                end_seconds: (i + 1) as f64 * step,
            })
            .collect(),
    }];
    let ass = scratch.join("preview.ass");
    std::fs::write(&ass, crate::subtitles::write_ass(&events, style, font)?)?;
    let turn = rotation::filter(rot);
    let display = rotation::display_size(frame.width(), frame.height(), rot);
    let mut chain = Vec::new();
    if !turn.is_empty() {
        chain.push(turn.to_string());
    }
    chain.push("format=yuv420p".into());
    chain.push(fit_chain(FitMode::BlurPad, display, OUTPUT));
    chain.push(super::subtitles::burn_filter(&ass)?);
    chain.push("format=yuv420p".into());
    // The frame is at 2 s (30 fps) of the caption's 10.
    frame.set_pts(Some(60));
    let mut graph = VideoGraph::new(
        frame.width(),
        frame.height(),
        frame.format(),
        ff::Rational(1, 30),
        ff::Rational(1, 1),
        &chain.join(","),
    )?;
    graph.push(Some(&frame))?;
    graph.push(None)?;
    let drawn = graph
        .pull()?
        .ok_or_else(|| RenderError::media(name, "gave no frame to draw the preview on"))?;
    let mut writer = JpegWriter::for_frame(&drawn, PREVIEW_MAX, QUALITY_THUMBNAIL)?;
    let size = writer.size();
    Ok((writer.encode(&drawn)?, size))
}
