//! Getting media in and results out: blob keys to local files and back.
//!
//! With the local blob store, render reads clips in place; with S3 it
//! downloads them into a per-request scratch directory that is removed when
//! the request ends, whatever the outcome.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use scout_common::adapters::blob::BlobStore;
use scout_proto::scout::render::v1::MediaRef;
use scout_proto::scout::render::v1::media_ref::Location;

use crate::error::RenderError;

/// A scratch directory for one request, removed on drop.
pub struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    /// A new directory under `work_dir`.
    pub fn new(work_dir: &Path) -> Result<Self, RenderError> {
        std::fs::create_dir_all(work_dir)?;
        Ok(Self {
            dir: tempfile::Builder::new()
                .prefix("job-")
                .tempdir_in(work_dir)?,
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
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
