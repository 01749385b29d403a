//! The whole mesh in one process: what `scout up` runs, and what the
//! integration tests start.
//!
//! Internal services listen on ephemeral loopback ports (only the edge is
//! meant to be reached) and share one set of adapters, so the in-process
//! cache, bus and blob directory are common. Each service has its own
//! shutdown signal, so one can be stopped on its own; a full stop is ordered:
//! the edge stops taking calls and drains first, then the services drain.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use scout_common::ServiceName;
use scout_common::config::Config;
use scout_common::grpc::wait_serving;
use scout_common::server::bind;
use scout_common::service::Shared;
use scout_common::shutdown::Shutdown;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The internal services, started before the edge.
pub const INTERNAL: [ServiceName; 5] = ServiceName::INTERNAL;

struct Running {
    shutdown: Shutdown,
    task: JoinHandle<anyhow::Result<()>>,
}

/// A running mesh.
pub struct Mesh {
    config: Arc<Config>,
    shared: Shared,
    edge: Option<Running>,
    services: HashMap<ServiceName, Running>,
}

/// How a mesh is started.
#[derive(Debug, Clone, Default)]
pub struct MeshOptions {
    /// Services that run elsewhere (their own processes): not started here,
    /// reached at their configured addresses.
    pub external: Vec<ServiceName>,
    /// Bind the configured addresses instead of ephemeral ports, so
    /// processes outside the mesh can reach its services.
    pub fixed_ports: bool,
}

impl Mesh {
    /// Starts every service and waits until each answers its health check.
    pub async fn start(config: Config) -> anyhow::Result<Mesh> {
        Self::start_with(config, MeshOptions::default()).await
    }

    /// Starts the services `options` leaves here.
    pub async fn start_with(mut config: Config, options: MeshOptions) -> anyhow::Result<Mesh> {
        let mut listeners = Vec::new();
        for name in INTERNAL {
            if options.external.contains(&name) {
                continue;
            }
            let listener = if options.fixed_ports {
                bind(config.listen(name).addr).await?
            } else {
                TcpListener::bind("127.0.0.1:0").await?
            };
            config.set_addr(name, listener.local_addr()?);
            listeners.push((name, listener));
        }
        let edge_listener = bind(config.edge.addr).await?;
        config.set_addr(ServiceName::Edge, edge_listener.local_addr()?);

        let shared = Shared::connect(&config).await?;
        let config = Arc::new(config);
        let start = |name: ServiceName, listener: TcpListener| {
            let shutdown = Shutdown::new();
            let (config, shared, s) = (config.clone(), shared.clone(), shutdown.clone());
            let task = tokio::spawn(async move {
                crate::services::serve(name, &config, &shared, listener, s).await
            });
            Running { shutdown, task }
        };
        let mut services = HashMap::new();
        for (name, listener) in listeners {
            services.insert(name, start(name, listener));
        }
        let edge = start(ServiceName::Edge, edge_listener);
        let mut mesh = Mesh {
            config: config.clone(),
            shared: shared.clone(),
            edge: Some(edge),
            services,
        };

        let ready = async {
            for name in INTERNAL {
                if options.external.contains(&name) {
                    continue;
                }
                let url = mesh.service_url(name);
                wait_serving(&url, Duration::from_secs(60))
                    .await
                    .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
            }
            wait_serving(&mesh.edge_url(), Duration::from_secs(30))
                .await
                .map_err(|e| anyhow::anyhow!("edge: {e}"))
        };
        // A service that fails at start (bad database URL, say) ends its
        // task: report that error rather than a health timeout.
        let failed = async {
            loop {
                if let Some(name) = mesh
                    .services
                    .iter()
                    .find(|(_, r)| r.task.is_finished())
                    .map(|(n, _)| *n)
                {
                    return name;
                }
                if mesh.edge.as_ref().is_some_and(|e| e.task.is_finished()) {
                    return ServiceName::Edge;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        let outcome = tokio::select! {
            r = ready => r,
            name = failed => Err(anyhow::anyhow!("the {name} service stopped during start-up")),
        };
        if let Err(e) = outcome {
            let detail = mesh.collect_failure().await;
            mesh.shutdown().await.ok();
            return Err(detail.unwrap_or(e));
        }
        Ok(mesh)
    }

    /// The first error of a service that has already stopped.
    async fn collect_failure(&mut self) -> Option<anyhow::Error> {
        let finished: Vec<ServiceName> = self
            .services
            .iter()
            .filter(|(_, r)| r.task.is_finished())
            .map(|(n, _)| *n)
            .collect();
        for name in finished {
            if let Some(r) = self.services.remove(&name) {
                match r.task.await {
                    Ok(Err(e)) => return Some(e.context(format!("the {name} service failed"))),
                    Err(e) => return Some(anyhow::anyhow!("the {name} service panicked: {e}")),
                    Ok(Ok(())) => {}
                }
            }
        }
        if self.edge.as_ref().is_some_and(|e| e.task.is_finished())
            && let Some(r) = self.edge.take()
            && let Ok(Err(e)) = r.task.await
        {
            return Some(e.context("the edge failed"));
        }
        None
    }

    /// The adapters, credentials and peers every service shares.
    pub fn context(&self) -> &Shared {
        &self.shared
    }

    /// The mesh's effective config (with the ports it bound).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The edge's URL.
    pub fn edge_url(&self) -> String {
        self.config.edge.public_base_url()
    }

    /// The edge's address.
    pub fn edge_addr(&self) -> SocketAddr {
        self.config.edge.addr
    }

    /// A service's URL.
    pub fn service_url(&self, name: ServiceName) -> String {
        self.config.listen(name).url
    }

    /// Stops one internal service (drains it) and leaves the rest running.
    pub async fn stop_service(&mut self, name: ServiceName) -> anyhow::Result<()> {
        let Some(r) = self.services.remove(&name) else {
            anyhow::bail!("{name} is not running")
        };
        r.shutdown.trigger();
        r.task.await?
    }

    /// Resolves when any service stops on its own, with its error.
    pub async fn failure(&mut self) -> anyhow::Error {
        loop {
            if let Some(e) = self.collect_failure().await {
                return e;
            }
            if self.services.values().any(|r| r.task.is_finished())
                || self.edge.as_ref().is_some_and(|e| e.task.is_finished())
            {
                return anyhow::anyhow!("a service stopped unexpectedly");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Ordered stop: the edge drains, then the services.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        let mut first_error = None;
        if let Some(edge) = self.edge.take() {
            edge.shutdown.trigger();
            match edge.task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => first_error = Some(e.context("the edge failed while stopping")),
                Err(e) => first_error = Some(anyhow::anyhow!("the edge task failed: {e}")),
            }
        }
        for r in self.services.values() {
            r.shutdown.trigger();
        }
        for (name, r) in self.services.drain() {
            match r.task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    first_error.get_or_insert(
                        e.context(format!("the {name} service failed while stopping")),
                    );
                }
                Err(e) => {
                    first_error.get_or_insert(anyhow::anyhow!("the {name} task failed: {e}"));
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// `scout up`: runs the mesh until SIGTERM / Ctrl-C or a service failure.
pub async fn up(config: Config) -> anyhow::Result<()> {
    let signal = Shutdown::on_signals();
    let mut mesh = tokio::select! {
        m = Mesh::start(config) => m?,
        _ = signal.wait() => return Ok(()),
    };
    let url = mesh.edge_url();
    tracing::info!(edge = %url, data_dir = %mesh.config().data_dir.display(), "scout is up");
    println!(
        "Scout is up: open {url} in a browser (the web app; gRPC, grpc-web and REST /api/v1 on the same port). Ctrl-C stops it."
    );
    let failure = tokio::select! {
        _ = signal.wait() => None,
        e = mesh.failure() => Some(e),
    };
    mesh.shutdown().await?;
    match failure {
        Some(e) => Err(e),
        None => {
            println!("Scout stopped");
            Ok(())
        }
    }
}
