//! `scout up`: every service in one process.
//!
//! Internal services listen on ephemeral loopback ports (only the edge is
//! meant to be reached); all of them share one set of adapters, so the
//! in-process cache, bus and blob directory are common. Shutdown is ordered:
//! the edge stops taking calls and drains first, then the services drain.

use std::sync::Arc;
use std::time::Duration;

use scout_common::adapters::Adapters;
use scout_common::config::Config;
use scout_common::grpc::wait_serving;
use scout_common::server::{Shutdown, bind};
use scout_common::service::ServiceContext;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// The mesh's internal services, started before the edge.
const INTERNAL: [&str; 5] = ["identity", "tasks", "vision", "render", "publish"];

/// Runs the mesh until SIGTERM / Ctrl-C or until a service fails.
pub async fn run(mut config: Config) -> anyhow::Result<()> {
    let mut listeners = Vec::new();
    for name in INTERNAL {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let svc = match name {
            "identity" => &mut config.identity,
            "tasks" => &mut config.tasks,
            "vision" => &mut config.vision,
            "render" => &mut config.render,
            _ => &mut config.publish,
        };
        svc.addr = addr;
        svc.endpoint = format!("http://{addr}");
        listeners.push((name, listener));
    }
    let edge_listener = bind(config.edge.addr).await?;
    config.edge.addr = edge_listener.local_addr()?;

    let adapters = Adapters::from_config(&config).await?;
    let ctx = ServiceContext {
        config: Arc::new(config),
        adapters,
    };
    let signal = Shutdown::on_signals();
    let services_down = Shutdown::new();
    let edge_down = Shutdown::new();

    let mut services = JoinSet::new();
    for (name, listener) in listeners {
        let ctx = ctx.clone();
        let down = services_down.clone();
        services.spawn(async move {
            let result = match name {
                "identity" => scout_identity::serve(ctx, listener, down).await,
                "tasks" => scout_tasks::serve(ctx, listener, down).await,
                "vision" => scout_vision::serve(ctx, listener, down).await,
                "render" => scout_render::serve(ctx, listener, down).await,
                _ => scout_publish::serve(ctx, listener, down).await,
            };
            (name, result)
        });
    }
    let edge = tokio::spawn(scout_edge::serve(
        ctx.clone(),
        edge_listener,
        edge_down.clone(),
    ));

    let edge_url = ctx.config.edge.public_base_url();
    let startup = async {
        for name in INTERNAL {
            let svc = match name {
                "identity" => &ctx.config.identity,
                "tasks" => &ctx.config.tasks,
                "vision" => &ctx.config.vision,
                "render" => &ctx.config.render,
                _ => &ctx.config.publish,
            };
            wait_serving(&svc.endpoint_url(), Duration::from_secs(60))
                .await
                .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        }
        wait_serving(&edge_url, Duration::from_secs(30))
            .await
            .map_err(|e| anyhow::anyhow!("edge: {e}"))
    };
    let mut failure: Option<anyhow::Error> = None;
    tokio::select! {
        r = startup => match r {
            Ok(()) => {
                tracing::info!(edge = %edge_url, data_dir = %ctx.config.data_dir.display(), "scout is up");
                println!("Scout is up at {edge_url}  (gRPC + grpc-web + REST /api/v1; Ctrl-C to stop)");
            }
            Err(e) => failure = Some(e),
        },
        Some(done) = services.join_next() => failure = Some(exit_reason(done)),
        _ = signal.wait() => {}
    }
    if failure.is_none() {
        tokio::select! {
            _ = signal.wait() => {}
            Some(done) = services.join_next() => failure = Some(exit_reason(done)),
        }
    }

    // Ordered stop: the edge drains its in-flight calls, then the services.
    edge_down.trigger();
    match edge.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %format!("{e:#}"), "edge failed while stopping"),
        Err(e) => tracing::error!(error = %e, "edge task failed"),
    }
    services_down.trigger();
    while let Some(done) = services.join_next().await {
        if let Ok((name, Err(e))) = done {
            tracing::error!(service = name, error = %format!("{e:#}"), "service failed while stopping");
        }
    }
    match failure {
        Some(e) => Err(e),
        None => {
            println!("Scout stopped");
            Ok(())
        }
    }
}

fn exit_reason(
    done: Result<(&'static str, anyhow::Result<()>), tokio::task::JoinError>,
) -> anyhow::Error {
    match done {
        Ok((name, Ok(()))) => anyhow::anyhow!("the {name} service stopped unexpectedly"),
        Ok((name, Err(e))) => e.context(format!("the {name} service failed")),
        Err(e) => anyhow::anyhow!("a service task failed: {e}"),
    }
}
