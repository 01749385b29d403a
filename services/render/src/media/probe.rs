//! Probe: what a media file holds, and whether it is whole.

use std::ffi::CStr;
use std::path::Path;

use ffmpeg_next as ff;
use scout_proto::scout::render::v1::MediaInfo;

use super::{open, rotation, seconds};
use crate::error::RenderError;

/// How far apart the average and the nominal frame rate may be before a
/// stream counts as variable frame rate.
const VFR_TOLERANCE: f64 = 0.02;

/// Reads a file's container, streams, rotation, frame rate and duration,
/// and checks that its tail is readable (a truncated upload is refused).
/// `name` is how errors refer to the file (a blob key or the path).
pub fn probe(path: &Path, name: &str) -> Result<MediaInfo, RenderError> {
    let mut input = open(path, name)?;
    let size = std::fs::metadata(path).map(|m| m.len() as i64).unwrap_or(0);
    let mut info = MediaInfo {
        container: input.format().name().to_string(),
        size_bytes: size,
        bit_rate: input.bit_rate(),
        ..MediaInfo::default()
    };
    let format_duration = input.duration();
    if format_duration > 0 {
        info.duration_seconds = format_duration as f64 / f64::from(ff::ffi::AV_TIME_BASE);
    }

    let video_index = input
        .streams()
        .best(ff::media::Type::Video)
        .map(|s| s.index());
    if let Some(stream) = input.streams().best(ff::media::Type::Video) {
        let params = stream.parameters();
        info.video_codec = params.id().name().to_string();
        // SAFETY: `params` wraps a valid AVCodecParameters for this stream.
        let (width, height, format) = unsafe {
            let p = params.as_ptr();
            ((*p).width, (*p).height, (*p).format)
        };
        info.width = width;
        info.height = height;
        info.rotation = rotation::display_rotation(&stream);
        let (dw, dh) =
            rotation::display_size(width.max(0) as u32, height.max(0) as u32, info.rotation);
        info.display_width = dw as i32;
        info.display_height = dh as i32;
        // A photo says in EXIF how to turn it (stills are turned so).
        if info.video_codec == "mjpeg" && matches!(info.container.as_str(), "image2" | "jpeg_pipe")
        {
            let o = super::exif::orientation(path);
            info.rotation = super::exif::rotation(o);
            if super::exif::swaps(o) {
                info.display_width = height;
                info.display_height = width;
            }
        }
        if format >= 0 {
            // SAFETY: `format` is an AVPixelFormat value from FFmpeg itself.
            let pix = unsafe { std::mem::transmute::<i32, ff::ffi::AVPixelFormat>(format) };
            // SAFETY: both calls take any pixel format and return static data or null.
            unsafe {
                let name = ff::ffi::av_get_pix_fmt_name(pix);
                if !name.is_null() {
                    info.pixel_format = CStr::from_ptr(name).to_string_lossy().into_owned();
                }
                let desc = ff::ffi::av_pix_fmt_desc_get(pix);
                if !desc.is_null() {
                    info.bit_depth = (*desc).comp[0].depth;
                }
            }
        }
        let avg = f64::from(stream.avg_frame_rate());
        let nominal = f64::from(stream.rate());
        info.frame_rate = if avg.is_finite() && avg > 0.0 {
            avg
        } else {
            nominal
        };
        info.variable_frame_rate =
            avg > 0.0 && nominal > 0.0 && ((avg - nominal).abs() / nominal) > VFR_TOLERANCE;
        if info.duration_seconds <= 0.0 && stream.duration() > 0 {
            info.duration_seconds = seconds(stream.duration(), stream.time_base());
        }
    }
    if let Some(stream) = input.streams().best(ff::media::Type::Audio) {
        info.has_audio = true;
        info.audio_codec = stream.parameters().id().name().to_string();
    }
    if video_index.is_none() && !info.has_audio {
        return Err(RenderError::media(name, "holds neither video nor audio"));
    }
    // A single picture (PNG, WebP, … read by their `*_pipe` demuxers) has
    // no duration; it is one frame, as image2 says of a JPEG.
    if info.duration_seconds <= 0.0 && video_index.is_some() && info.container.ends_with("_pipe") {
        info.duration_seconds = 0.04;
    }
    if info.duration_seconds <= 0.0 {
        return Err(RenderError::media(
            name,
            "has no duration (an empty or broken stream)",
        ));
    }
    check_tail(&mut input, name, info.duration_seconds)?;
    Ok(info)
}

/// Reads the last seconds of every stream. A file cut short (an
/// interrupted upload whose index survived) fails here instead of in the
/// middle of a compose.
fn check_tail(
    input: &mut ff::format::context::Input,
    name: &str,
    duration: f64,
) -> Result<(), RenderError> {
    let from = ((duration - 1.5).max(0.0) * f64::from(ff::ffi::AV_TIME_BASE)) as i64;
    if from > 0 && input.seek(from, ..from).is_err() {
        return Err(RenderError::media(
            name,
            "cannot seek near the end; the file is damaged or truncated",
        ));
    }
    let mut last_end = 0.0f64;
    loop {
        let mut packet = ff::Packet::empty();
        match packet.read(input) {
            Ok(()) => {
                if let Some(stream) = input.stream(packet.stream()) {
                    let tb = stream.time_base();
                    let pts = packet.pts().or(packet.dts()).unwrap_or(0);
                    let end = seconds(pts + packet.duration().max(0), tb)
                        - seconds(stream.start_time().max(0), tb);
                    last_end = last_end.max(end);
                }
            }
            Err(ff::Error::Eof) => break,
            Err(e) => {
                return Err(RenderError::media(
                    name,
                    format!(
                        "is truncated or damaged: data ends after {last_end:.1} s of {duration:.1} s ({e})"
                    ),
                ));
            }
        }
    }
    if last_end + 1.0 < duration {
        return Err(RenderError::media(
            name,
            format!("is truncated: data ends after {last_end:.1} s of {duration:.1} s"),
        ));
    }
    Ok(())
}
