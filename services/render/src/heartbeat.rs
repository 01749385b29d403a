//! The node's heartbeat: every few seconds render tells tasks who it is,
//! what it can do (the capabilities probed at start) and how busy it is,
//! so the admin panel can list the render nodes. A missed beat only logs:
//! tasks shows a node as gone after three silent intervals.

use std::time::Duration;

use scout_common::report::TaskReporter;
use scout_common::shutdown::Shutdown;
use scout_proto::scout::render::v1::CapabilitiesResponse;
use scout_proto::scout::tasks::v1::ReportRenderNodeRequest;
use tokio::task::JoinHandle;

use crate::compose::Composer;

/// How often a node reports.
pub const INTERVAL: Duration = Duration::from_secs(15);

/// This node's name: the pod's (`HOSTNAME`) or the host's.
pub fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Reports every [`INTERVAL`] until `shutdown`.
pub fn spawn(
    reporter: TaskReporter,
    caps: CapabilitiesResponse,
    composer: Composer,
    shutdown: Shutdown,
) -> JoinHandle<()> {
    let host = hostname();
    let node_id = format!("{host}/{}", std::process::id());
    tokio::spawn(async move {
        let mut warned = false;
        loop {
            let req = reporter.request(
                ReportRenderNodeRequest {
                    node_id: node_id.clone(),
                    hostname: host.clone(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    capabilities: Some(caps.clone()),
                    interval_seconds: INTERVAL.as_secs() as i32,
                    active_composes: composer.active() as i32,
                },
                Duration::from_secs(5),
            );
            match reporter.client().report_render_node(req).await {
                Ok(_) => warned = false,
                Err(s) if !warned => {
                    warned = true;
                    tracing::warn!(error = %s.message(), "cannot report this render node to tasks yet");
                }
                Err(_) => {}
            }
            tokio::select! {
                _ = shutdown.wait() => return,
                _ = tokio::time::sleep(INTERVAL) => {}
            }
        }
    })
}
