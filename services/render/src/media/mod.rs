//! Media work on FFmpeg's libraries: probing, frame extraction and the
//! pieces compose is built from. Everything here is blocking CPU work: call
//! it from `spawn_blocking` or a dedicated thread, never on the runtime.

pub mod audio;
pub mod frames;
pub mod jpeg;
pub mod probe;
pub mod rotation;

use std::path::Path;

use ffmpeg_next as ff;

use crate::error::RenderError;

/// Opens a media file for reading, naming the file on failure.
pub fn open(path: &Path, name: &str) -> Result<ff::format::context::Input, RenderError> {
    crate::capabilities::init_ffmpeg()?;
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

/// A timestamp in a time base from seconds.
pub fn timestamp(secs: f64, tb: ff::Rational) -> i64 {
    let tb = f64::from(tb);
    if tb <= 0.0 {
        0
    } else {
        (secs / tb).round() as i64
    }
}
