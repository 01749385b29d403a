//! Getting media in and results out: blob keys to local files and back.
//!
//! With the local blob store, render reads clips in place; with S3 it
//! downloads them into a per-request scratch directory that is removed when
//! the request ends, whatever the outcome.
//!
//! A process killed mid-job cannot remove its scratch, so every scratch
//! directory holds a lock file its owner keeps locked while it lives (the
//! kernel drops the lock with the process). [`sweep`] removes the
//! directories nobody holds: at start and after each job, on one node or
//! several sharing the directory, never one a running job still uses.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use scout_common::adapters::blob::BlobStore;
use scout_proto::scout::render::v1::MediaRef;
use scout_proto::scout::render::v1::media_ref::Location;

use crate::error::RenderError;

/// Scratch directories are named `job-*`.
const PREFIX: &str = "job-";
/// The lock file inside each.
const LOCK: &str = ".owner.lock";
/// A directory without a lock file is being created, or was left by an
/// older version: it is swept only once this old.
const UNLOCKED_GRACE: std::time::Duration = std::time::Duration::from_secs(600);

/// A scratch directory for one request, removed on drop, locked while it lives.
pub struct Scratch {
    // Field order matters: the lock is released (closed) before the
    // directory is removed.
    _lock: std::fs::File,
    dir: tempfile::TempDir,
}

impl Scratch {
    /// A new directory under `work_dir`, locked by this process.
    pub fn new(work_dir: &Path) -> Result<Self, RenderError> {
        std::fs::create_dir_all(work_dir)?;
        let dir = tempfile::Builder::new()
            .prefix(PREFIX)
            .tempdir_in(work_dir)?;
        let lock = std::fs::File::create(dir.path().join(LOCK))?;
        lock.try_lock()
            .map_err(|e| RenderError::Io(format!("cannot lock new scratch: {e}")))?;
        Ok(Self { _lock: lock, dir })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Removes the scratch directories under `work_dir` that no living process
/// holds; returns how many. Errors are logged, never fatal: a sweep that
/// cannot remove something now will try again after the next job.
pub fn sweep(work_dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(work_dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let is_scratch = entry.file_name().to_string_lossy().starts_with(PREFIX)
            && entry.file_type().is_ok_and(|t| t.is_dir());
        if !is_scratch || !abandoned(&path) {
            continue;
        }
        match std::fs::remove_dir_all(&path) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::debug!(dir = %path.display(), error = %e, "cannot remove old scratch yet")
            }
        }
    }
    if removed > 0 {
        tracing::info!(removed, dir = %work_dir.display(), "scratch of stopped jobs removed");
    }
    removed
}

/// True when no living process holds `dir`'s lock.
fn abandoned(dir: &Path) -> bool {
    match std::fs::File::open(dir.join(LOCK)) {
        // Whoever holds it is alive; we get it only if nobody does.
        Ok(lock) => lock.try_lock().is_ok(),
        Err(_) => std::fs::metadata(dir)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > UNLOCKED_GRACE),
    }
}

/// Where media comes from: the blob store, and (for the operator CLI only)
/// local paths.
#[derive(Clone)]
pub struct MediaSource {
    blobs: Option<Arc<dyn BlobStore>>,
    allow_local_paths: bool,
}

impl MediaSource {
    /// Blob keys only: what the service accepts over the network.
    pub fn blobs(blobs: Arc<dyn BlobStore>) -> Self {
        Self {
            blobs: Some(blobs),
            allow_local_paths: false,
        }
    }

    /// Local paths only: what the operator CLI uses.
    pub fn local_files() -> Self {
        Self {
            blobs: None,
            allow_local_paths: true,
        }
    }

    /// A readable local file for `media` and the name errors should use.
    pub async fn fetch(
        &self,
        media: Option<&MediaRef>,
        scratch: &Path,
    ) -> Result<(PathBuf, String), RenderError> {
        match media.and_then(|m| m.location.as_ref()) {
            Some(Location::BlobKey(key)) => {
                let blobs = self.blobs.as_ref().ok_or_else(|| {
                    RenderError::InvalidArgument(format!(
                        "blob key {key:?} given where only local files are available"
                    ))
                })?;
                if let Some(path) = blobs.local_path(key).filter(|p| p.is_file()) {
                    return Ok((path, key.clone()));
                }
                if blobs.head(key).await?.is_none() {
                    return Err(RenderError::media(key, "no such object in the blob store"));
                }
                let file_name = key.rsplit('/').next().unwrap_or("media");
                let path = scratch.join(format!("{}-{file_name}", uuid::Uuid::new_v4().simple()));
                blobs.get_to_file(key, &path).await?;
                Ok((path, key.clone()))
            }
            Some(Location::LocalPath(path)) if self.allow_local_paths => {
                Ok((PathBuf::from(path), path.clone()))
            }
            Some(Location::LocalPath(_)) => Err(RenderError::InvalidArgument(
                "local_path is accepted only by the operator CLI; give a blob_key".into(),
            )),
            None => Err(RenderError::InvalidArgument(
                "a media reference is missing".into(),
            )),
        }
    }

    /// The blob store, for writing results.
    pub fn store(&self) -> Option<&Arc<dyn BlobStore>> {
        self.blobs.as_ref()
    }
}

/// A zip archive being written (an output pack): media that is compressed
/// already is stored as is, the rest deflated.
pub struct ZipOut {
    zip: zip::ZipWriter<std::io::BufWriter<std::fs::File>>,
    name: String,
}

impl ZipOut {
    /// Starts the archive at `path`.
    pub fn create(path: &Path) -> Result<Self, RenderError> {
        let file = std::fs::File::create(path)?;
        Ok(Self {
            zip: zip::ZipWriter::new(std::io::BufWriter::new(file)),
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        })
    }

    fn error(&self, e: zip::result::ZipError) -> RenderError {
        RenderError::Io(format!("{}: {e}", self.name))
    }

    /// Adds what `from` reads as the entry `entry`; `deflate` for what
    /// compresses (text, WAV), not for what is compressed already.
    pub fn add(
        &mut self,
        entry: &str,
        from: &mut dyn std::io::Read,
        deflate: bool,
    ) -> Result<(), RenderError> {
        let options = zip::write::SimpleFileOptions::default().large_file(true);
        let options = if deflate {
            options.compression_method(zip::CompressionMethod::Deflated)
        } else {
            options.compression_method(zip::CompressionMethod::Stored)
        };
        if let Err(e) = self.zip.start_file(entry, options) {
            return Err(self.error(e));
        }
        std::io::copy(from, &mut self.zip)?;
        Ok(())
    }

    /// Adds the file at `path` as the entry `entry`.
    pub fn add_file(&mut self, entry: &str, path: &Path, deflate: bool) -> Result<(), RenderError> {
        self.add(entry, &mut std::fs::File::open(path)?, deflate)
    }

    /// Writes the central directory.
    pub fn finish(self) -> Result<(), RenderError> {
        let name = self.name;
        self.zip
            .finish()
            .map(|_| ())
            .map_err(|e| RenderError::Io(format!("{name}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweeping_removes_what_no_living_job_holds() {
        let work = tempfile::tempdir().expect("tempdir");
        // A job still running (here: this process holds it).
        let running = Scratch::new(work.path()).expect("scratch");
        // A job whose process died: its directory and unheld lock remain.
        let dead = work.path().join("job-dead");
        std::fs::create_dir_all(dead.join("out")).expect("dir");
        std::fs::write(dead.join(LOCK), b"").expect("lock file");
        std::fs::write(dead.join("out/final.mp4"), b"half a video").expect("file");
        // Something else in the work directory is not ours to remove.
        std::fs::create_dir_all(work.path().join("cache")).expect("dir");

        assert_eq!(sweep(work.path()), 1);
        assert!(!dead.exists(), "the dead job's scratch is gone");
        assert!(running.path().exists(), "a running job's scratch stays");
        assert!(work.path().join("cache").exists());

        let path = running.path().to_path_buf();
        drop(running);
        assert!(!path.exists(), "a finished job removes its own scratch");
        assert_eq!(sweep(work.path()), 0);
    }

    #[test]
    fn another_process_holding_a_scratch_keeps_it() {
        let work = tempfile::tempdir().expect("tempdir");
        let dir = work.path().join("job-elsewhere");
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join(LOCK), b"").expect("lock file");
        // Another process holds the lock while we sweep: a shell takes it
        // with flock(1) on its own descriptor, says so, and keeps it until
        // its stdin closes.
        let mut holder = std::process::Command::new("sh")
            .args([
                "-c",
                "exec 9>>\"$1\"; flock 9 && echo locked; read _ || true",
                "sh",
            ])
            .arg(dir.join(LOCK))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("sh and flock(1) from util-linux");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(holder.stdout.take().expect("stdout")),
            &mut line,
        )
        .expect("holder answers");
        assert_eq!(line.trim(), "locked");
        assert_eq!(sweep(work.path()), 0);
        assert!(
            dir.exists(),
            "a job running in another process keeps its scratch"
        );
        drop(holder.stdin.take());
        assert!(holder.wait().expect("holder exits").success());
        assert_eq!(sweep(work.path()), 1);
    }
}
