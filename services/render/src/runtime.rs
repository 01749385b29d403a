//! Where render's blocking work runs, and FFmpeg's one-time set-up: the
//! leaf every other module may use (it uses only `error`).
//!
//! FFmpeg, image work and file I/O block for milliseconds to minutes: they
//! run on tokio's blocking pool through [`blocking`], never on the runtime.

use crate::error::RenderError;

/// Initialises FFmpeg once; later calls are cheap no-ops.
pub fn init_ffmpeg() -> Result<(), RenderError> {
    static INIT: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    INIT.get_or_init(|| {
        ffmpeg_next::init().map_err(|e| e.to_string())?;
        // FFmpeg would log to stderr what we already report as errors naming
        // the file (a missing index, a damaged packet): keep only fatal ones.
        ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Fatal);
        Ok(())
    })
    .clone()
    .map_err(RenderError::Init)
}

/// Runs blocking media work off the runtime.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, RenderError> + Send + 'static,
) -> Result<T, RenderError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| RenderError::Io(format!("media task failed: {e}")))?
}
