//! A single picture (JPEG, PNG, WebP) decoded whole: its one frame, its
//! time base and sample aspect ratio. Stills are drawn from it, and an
//! image's thumbnail when the frame picker (made for clips) finds nothing.

use std::path::Path;

use ffmpeg_next as ff;

use super::open;
use crate::error::RenderError;

/// A decoded picture.
pub struct Picture {
    /// Its one frame, as decoded (not turned: see `media::exif`).
    pub frame: ff::frame::Video,
    /// The stream's time base.
    pub time_base: ff::Rational,
    /// The decoder's sample aspect ratio.
    pub aspect_ratio: ff::Rational,
}

/// Decodes the first picture of `path`.
pub fn decode(path: &Path, name: &str) -> Result<Picture, RenderError> {
    let mut input = open(path, name)?;
    let stream = input
        .streams()
        .best(ff::media::Type::Video)
        .ok_or_else(|| RenderError::media(name, "is not an image"))?;
    let index = stream.index();
    let time_base = stream.time_base();
    let ctx = ff::codec::context::Context::from_parameters(stream.parameters())
        .map_err(RenderError::ffmpeg("image decoder"))?;
    let mut decoder = ctx
        .decoder()
        .video()
        .map_err(|e| RenderError::media(name, format!("cannot decode the image: {e}")))?;
    let mut frame = ff::frame::Video::empty();
    let mut image = None;
    for (stream, packet) in input.packets() {
        if stream.index() != index {
            continue;
        }
        decoder
            .send_packet(&packet)
            .map_err(|e| RenderError::media(name, format!("cannot decode the image: {e}")))?;
        if decoder.receive_frame(&mut frame).is_ok() {
            image = Some(frame.clone());
            break;
        }
    }
    if image.is_none() {
        // Some decoders give the picture up only once told it is the last.
        let _ = decoder.send_eof();
        if decoder.receive_frame(&mut frame).is_ok() {
            image = Some(frame.clone());
        }
    }
    let mut frame = image.ok_or_else(|| RenderError::media(name, "holds no decodable image"))?;
    frame.set_pts(Some(0));
    Ok(Picture {
        frame,
        time_base,
        aspect_ratio: decoder.aspect_ratio(),
    })
}
