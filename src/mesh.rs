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
use std::time::Duration;

use scout_common::adapters::Adapters;
use scout_common::config::Config;
use scout_common::grpc::wait_serving;
use scout_common::server::{Shutdown, bind};
use scout_common::service::ServiceContext;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The internal services, started before the edge.
pub const INTERNAL: [&str; 5] = ["identity", "tasks", "vision", "render", "publish"];

struct Running {
    shutdown: Shutdown,
    task: JoinHandle<anyhow::Result<()>>,
}

/// A running mesh.
pub struct Mesh {
    ctx: ServiceContext,
    edge: Option<Running>,
    services: HashMap<&'static str, Running>,
}

fn service_config<'a>(
    config: &'a mut Config,
    name: &str,
) -> &'a mut scout_common::config::ServiceConfig {
    match name {
        "identity" => &mut config.identity,
        "tasks" => &mut config.tasks,
        "vision" => &mut config.vision,
        "render" => &mut config.render,
        _ => &mut config.publish,
    }
}

/// How a mesh is started.
#[derive(Debug, Clone, Default)]
pub struct MeshOptions {
    /// Services that run elsewhere (their own processes): not started here,
    /// reached at their configured addresses.
    pub external: Vec<&'static str>,
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
            let svc = service_config(&mut config, name);
            let listener = if options.fixed_ports {
                bind(svc.addr).await?
            } else {
                TcpListener::bind("127.0.0.1:0").await?
            };
            let addr = listener.local_addr()?;
            svc.addr = addr;
            svc.endpoint = format!("http://{addr}");
            listeners.push((name, listener));
        }
        let edge_listener = bind(config.edge.addr).await?;
        config.edge.addr = edge_listener.local_addr()?;

        let adapters = Adapters::from_config(&config).await?;
        let ctx = ServiceContext::new(config, adapters)?;
        let mut services = HashMap::new();
        for (name, listener) in listeners {
            let shutdown = Shutdown::new();
            let (c, s) = (ctx.clone(), shutdown.clone());
            let task = tokio::spawn(async move {
                match name {
                    "identity" => scout_identity::serve(c, listener, s).await,
                    "tasks" => scout_tasks::serve(c, listener, s).await,
                    "vision" => scout_vision::serve(c, listener, s).await,
                    "render" => scout_render::serve(c, listener, s).await,
                    _ => scout_publish::serve(c, listener, s).await,
                }
            });
            services.insert(name, Running { shutdown, task });
        }
        let edge_shutdown = Shutdown::new();
        let edge_task = tokio::spawn(scout_edge::serve(
            ctx.clone(),
            edge_listener,
            edge_shutdown.clone(),
        ));
        let mut mesh = Mesh {
            ctx,
            edge: Some(Running {
                shutdown: edge_shutdown,
                task: edge_task,
            }),
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
                    return "edge";
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
        let finished: Vec<&'static str> = self
            .services
            .iter()
            .filter(|(_, r)| r.task.is_finished())
            .map(|(n, _)| *n)
            .collect();
        for name in finished {
            if let Some(r) = self.services.remove(name) {
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

    /// Config and adapters shared by every service.
    pub fn context(&self) -> &ServiceContext {
        &self.ctx
    }

    /// The edge's URL.
    pub fn edge_url(&self) -> String {
        self.ctx.config.edge.public_base_url()
    }

    /// The edge's address.
    pub fn edge_addr(&self) -> SocketAddr {
        self.ctx.config.edge.addr
    }

    /// An internal service's URL.
    pub fn service_url(&self, name: &str) -> String {
        let mut config = (*self.ctx.config).clone();
        service_config(&mut config, name).endpoint_url()
    }

    /// Stops one internal service (drains it) and leaves the rest running.
    pub async fn stop_service(&mut self, name: &str) -> anyhow::Result<()> {
        let Some(r) = self.services.remove(name) else {
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
    tracing::info!(edge = %url, data_dir = %mesh.context().config.data_dir.display(), "scout is up");
    println!("Scout is up at {url}  (gRPC + grpc-web + REST /api/v1; Ctrl-C to stop)");
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
