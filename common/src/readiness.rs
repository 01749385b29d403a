//! Readiness: whether a process should get traffic now. Each dependency
//! (database, cache, bus, blob store, upstream services) has a check; a
//! draining process is not ready whatever its checks say.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A readiness probe: `Ok` when a dependency answers.
pub type ReadinessCheck =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// Readiness of one process: checks of its dependencies, and a flag that
/// drops when the process starts draining.
#[derive(Clone)]
pub struct Readiness {
    draining: Arc<AtomicBool>,
    checks: Arc<Vec<(String, ReadinessCheck)>>,
}

impl Readiness {
    /// Readiness from named checks.
    pub fn new(checks: Vec<(String, ReadinessCheck)>) -> Self {
        Self {
            draining: Arc::new(AtomicBool::new(false)),
            checks: Arc::new(checks),
        }
    }

    /// Marks the process as draining: `/readyz` answers 503 from now on.
    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Runs every check (each bounded to 2 s) and reports per dependency.
    pub async fn report(&self) -> (bool, serde_json::Value) {
        let mut ok = !self.draining.load(Ordering::SeqCst);
        let mut deps = serde_json::Map::new();
        for (name, check) in self.checks.iter() {
            let result = tokio::time::timeout(Duration::from_secs(2), check()).await;
            let value = match result {
                Ok(Ok(())) => serde_json::json!("ok"),
                Ok(Err(e)) => {
                    ok = false;
                    serde_json::json!(e)
                }
                Err(_) => {
                    ok = false;
                    serde_json::json!("timed out")
                }
            };
            deps.insert(name.clone(), value);
        }
        let draining = self.draining.load(Ordering::SeqCst);
        (
            ok,
            serde_json::json!({ "ready": ok, "draining": draining, "dependencies": deps }),
        )
    }
}
