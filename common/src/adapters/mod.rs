//! Storage and messaging adapters, each behind one trait with a production
//! implementation and an embedded one, chosen by config (never by
//! `cfg(test)`): see DESIGN.md §4.

pub mod blob;
pub mod bus;
pub mod cache;
pub mod db;

use std::sync::Arc;

use crate::config::{BlobBackend, Config};

/// The shared adapters of one process. In `scout up` all services share one
/// instance, so the in-process cache, bus and blob directory are common.
#[derive(Clone)]
pub struct Adapters {
    /// Cache.
    pub cache: Arc<dyn cache::Cache>,
    /// Job bus.
    pub bus: Arc<dyn bus::JobBus>,
    /// Object store.
    pub blobs: Arc<dyn blob::BlobStore>,
    /// The local blob store when that is the backend, for the edge to serve
    /// its signed URLs (`server::blob_routes`).
    pub local_blobs: Option<Arc<blob::LocalBlobStore>>,
}

impl std::fmt::Debug for Adapters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Adapters")
            .field("local_blobs", &self.local_blobs.is_some())
            .finish()
    }
}

impl Adapters {
    /// Connects every adapter the config names. Errors name the adapter.
    pub async fn from_config(config: &Config) -> anyhow::Result<Self> {
        let cache = cache::from_config(&config.cache)
            .await
            .map_err(|e| anyhow::anyhow!("cache ({:?}): {e}", config.cache.backend))?;
        let bus = bus::from_config(&config.bus)
            .await
            .map_err(|e| anyhow::anyhow!("job bus ({:?}): {e}", config.bus.backend))?;
        let base = config.edge.public_base_url();
        let (blobs, local_blobs): (Arc<dyn blob::BlobStore>, _) = match config.blobs.backend {
            BlobBackend::Local => {
                let local = Arc::new(
                    blob::LocalBlobStore::new(&config.blobs, &base)
                        .map_err(|e| anyhow::anyhow!("blob store (local): {e}"))?,
                );
                (local.clone(), Some(local))
            }
            BlobBackend::S3 => (
                blob::from_config(&config.blobs, &base).await.map_err(|e| {
                    anyhow::anyhow!("blob store (s3 {}): {e}", config.blobs.endpoint)
                })?,
                None,
            ),
        };
        Ok(Self {
            cache,
            bus,
            blobs,
            local_blobs,
        })
    }

    /// Readiness checks for these adapters.
    pub fn readiness_checks(&self) -> Vec<(String, crate::readiness::ReadinessCheck)> {
        let cache = self.cache.clone();
        let bus = self.bus.clone();
        let blobs = self.blobs.clone();
        vec![
            (
                "cache".into(),
                Arc::new(move || {
                    let c = cache.clone();
                    Box::pin(async move { c.ping().await.map_err(|e| e.to_string()) }) as _
                }),
            ),
            (
                "bus".into(),
                Arc::new(move || {
                    let b = bus.clone();
                    Box::pin(async move { b.ping().await.map_err(|e| e.to_string()) }) as _
                }),
            ),
            (
                "blobs".into(),
                Arc::new(move || {
                    let b = blobs.clone();
                    Box::pin(async move { b.ping().await.map_err(|e| e.to_string()) }) as _
                }),
            ),
        ]
    }
}

/// A readiness check for a database.
pub fn db_readiness(db: db::Db) -> crate::readiness::ReadinessCheck {
    Arc::new(move || {
        let db = db.clone();
        Box::pin(async move { db.ping().await.map_err(|e| e.to_string()) })
    })
}
