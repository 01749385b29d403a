//! Vision: shot analysis and script writing.
//!
//! Same anatomy as every Scout service: `serve` wires the gRPC services,
//! health, reflection and metrics onto one listener; `api` holds the RPC
//! implementations; `error` maps failures to the shared error table.

pub mod analyzer;
mod api;
pub mod engine;
mod error;
pub mod faces;
pub mod remote;
pub mod worker;
pub mod writer;

use std::sync::Arc;

use scout_common::jobs::{Consumers, JobKind};
use scout_common::server::{GrpcServer, Shutdown};
use scout_common::service::ServiceContext;
use scout_proto::scout::vision::v1::vision_service_server::VisionServiceServer;
use tokio::net::TcpListener;

pub use api::VisionApi;

/// What every RPC of this service can reach.
pub struct State {
    /// Config and shared adapters.
    pub ctx: ServiceContext,
    /// Frames, analysis and writing.
    pub engine: Arc<engine::Engine>,
}

/// Serves the vision service until `shutdown`, then drains.
pub async fn serve(
    ctx: ServiceContext,
    listener: TcpListener,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let providers = engine::Providers::from_config(&ctx.config.ai)?;
    let engine = Arc::new(engine::Engine::new(
        ctx.auth.clone(),
        ctx.adapters.blobs.clone(),
        &ctx.config.render.endpoint_url(),
        providers,
    )?);
    let state = Arc::new(State {
        ctx: ctx.clone(),
        engine: engine.clone(),
    });

    // Analyze jobs from the bus.
    let workers = Consumers::start(
        ctx.adapters.bus.clone(),
        JobKind::analyze(&ctx.config),
        ANALYZE_GROUP,
        Arc::new(worker::AnalyzeWorker::new(
            ctx.auth.clone(),
            engine,
            &ctx.config.tasks.endpoint_url(),
        )?),
    )
    .await?;

    let served = GrpcServer::new("vision", ctx.auth.clone())
        .add_service(VisionServiceServer::new(VisionApi::new(state.clone())))
        .adapter_checks(&ctx.adapters)
        .serve(listener, shutdown, ctx.config.vision.drain_timeout)
        .await;
    workers.stop().await;
    served
}

/// The consumer group of the analyze workers (after the topic prefix).
pub const ANALYZE_GROUP: &str = "vision-analyze";
