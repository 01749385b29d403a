//! Media work on FFmpeg's libraries: probing, frame extraction and the
//! pieces compose is built from. Everything here is blocking CPU work: call
//! it from `spawn_blocking` or a dedicated thread, never on the runtime.

pub mod audio;
pub mod beats;
pub mod bed;
pub mod decode;
pub mod exif;
pub mod faults;
pub mod frames;
pub mod graph;
pub mod hw;
pub mod jpeg;
pub mod picture;
pub mod probe;
pub mod rotation;
pub(crate) mod sweep;
pub mod turbo;

use std::path::Path;

use ffmpeg_next as ff;

use crate::error::RenderError;

/// Opens a media file for reading, naming the file on failure.
pub fn open(path: &Path, name: &str) -> Result<ff::format::context::Input, RenderError> {
    crate::runtime::init_ffmpeg()?;
    match std::fs::metadata(path) {
        Ok(m) if m.len() == 0 => return Err(RenderError::media(name, "file is empty")),
        Ok(_) => {}
        Err(e) => {
            return Err(RenderError::media(
                name,
                format!("cannot read the file: {e}"),
            ));
        }
    }
    ff::format::input(&path).map_err(|e| RenderError::media(name, describe_open_error(&e)))
}

/// Opens a file for frame picking, skipping `avformat_find_stream_info`
/// for MP4/MOV: their header already holds size, duration, rotation and
/// frame count, and the probe would decode the first frame (a large,
/// expensive keyframe on phone footage) only to learn the pixel format,
/// which the first decoded frame gives anyway. Other containers, or an MP4
/// whose header lacks a video size, are probed as usual.
pub fn open_light(path: &Path, name: &str) -> Result<ff::format::context::Input, RenderError> {
    use std::os::unix::ffi::OsStrExt;
    crate::runtime::init_ffmpeg()?;
    match std::fs::metadata(path) {
        Ok(m) if m.len() == 0 => return Err(RenderError::media(name, "file is empty")),
        Ok(_) => {}
        Err(e) => {
            return Err(RenderError::media(
                name,
                format!("cannot read the file: {e}"),
            ));
        }
    }
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| RenderError::media(name, "the path holds a NUL byte"))?;
    let mut ctx: *mut ff::ffi::AVFormatContext = std::ptr::null_mut();
    // SAFETY: standard avformat_open_input call; on success `ctx` is owned by
    // the returned Input, which closes it on drop.
    let opened = unsafe {
        ff::ffi::avformat_open_input(
            &mut ctx,
            c_path.as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    if opened < 0 {
        return Err(RenderError::media(
            name,
            describe_open_error(&ff::Error::from(opened)),
        ));
    }
    // SAFETY: `ctx` is a valid, opened context.
    let input = unsafe { ff::format::context::Input::wrap(ctx) };
    let container = input.format().name().to_string();
    let header_has_size = input
        .streams()
        .best(ff::media::Type::Video)
        .is_some_and(|s| {
            // SAFETY: reads plain fields of the stream's codec parameters.
            unsafe { (*s.parameters().as_ptr()).width > 0 && (*s.parameters().as_ptr()).height > 0 }
        });
    if !(container.contains("mp4") || container.contains("mov")) || !header_has_size {
        // SAFETY: `ctx` is valid and still owned by `input`.
        let r = unsafe { ff::ffi::avformat_find_stream_info(ctx, std::ptr::null_mut()) };
        if r < 0 {
            return Err(RenderError::media(
                name,
                describe_open_error(&ff::Error::from(r)),
            ));
        }
    }
    Ok(input)
}

/// A reader-friendly reason for a failed open.
fn describe_open_error(e: &ff::Error) -> String {
    match e {
        ff::Error::InvalidData => {
            "not a media file, or its index is missing (a truncated upload?)".into()
        }
        other => format!("not readable as media: {other}"),
    }
}

/// Seconds from a timestamp in a time base.
pub fn seconds(ts: i64, tb: ff::Rational) -> f64 {
    ts as f64 * f64::from(tb)
}

/// Where a stream's times start, seconds (0 when the container says nothing).
pub fn stream_start(stream: &ff::format::stream::Stream<'_>) -> f64 {
    if stream.start_time() == ff::ffi::AV_NOPTS_VALUE {
        0.0
    } else {
        seconds(stream.start_time(), stream.time_base())
    }
}

/// A clip's duration in seconds: the container's, else its stream's.
pub fn clip_duration(
    input: &ff::format::context::Input,
    stream: &ff::format::stream::Stream<'_>,
) -> f64 {
    if input.duration() > 0 {
        input.duration() as f64 / f64::from(ff::ffi::AV_TIME_BASE)
    } else {
        seconds(stream.duration().max(0), stream.time_base())
    }
}

/// A timestamp in a time base from seconds.
pub fn timestamp(secs: f64, tb: ff::Rational) -> i64 {
    let tb = f64::from(tb);
    if tb <= 0.0 {
        0
    } else {
        (secs / tb).round() as i64
    }
}
