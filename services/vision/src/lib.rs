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
pub mod narration;
pub mod remote;
pub mod topic;
pub mod visuals;
pub mod worker;
pub mod writer;

use std::sync::Arc;

use scout_common::ServiceName;
use scout_common::config::{AiConfig, Config, ServiceConfig};
use scout_common::jobs::Consumers;
use scout_common::server::GrpcServer;
use scout_common::service::{Section, ServiceContext};
use scout_common::shutdown::Shutdown;
use scout_proto::scout::vision::v1::vision_service_server::VisionServiceServer;
use tokio::net::TcpListener;

pub use api::VisionApi;
pub use error::VisionError;

/// The parts of the config vision reads.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Its listen address.
    pub server: ServiceConfig,
    /// The analyzer and writer, local or remote.
    pub ai: AiConfig,
}

impl Section for Settings {
    const SERVICE: ServiceName = ServiceName::Vision;

    fn from_config(config: &Config) -> Self {
        Self {
            server: config.vision.clone(),
            ai: config.ai.clone(),
        }
    }
}

/// What every RPC of this service can reach.
pub struct State {
    /// Its config section and the shared adapters.
    pub ctx: ServiceContext<Settings>,
    /// Frames, analysis and writing.
    pub engine: Arc<engine::Engine>,
}

/// Serves the vision service until `shutdown`, then drains.
pub async fn serve(
    ctx: ServiceContext<Settings>,
    listener: TcpListener,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let providers = engine::Providers::from_config(&ctx.config.ai)?;
    let engine = Arc::new(engine::Engine::new(
        ctx.auth.clone(),
        ctx.adapters.blobs.clone(),
        ctx.peers.url(ServiceName::Render),
        providers,
    )?);
    let state = Arc::new(State {
        ctx: ctx.clone(),
        engine: engine.clone(),
    });

    // Analyze jobs from the bus.
    let workers = Consumers::start(
        ctx.adapters.bus.clone(),
        ctx.jobs.analyze.clone(),
        Arc::new(worker::AnalyzeWorker::new(
            ctx.auth.clone(),
            engine,
            ctx.peers.url(ServiceName::Tasks),
        )?),
    )
    .await?;

    let served = GrpcServer::new(ServiceName::Vision, ctx.auth.clone())
        .add_service(VisionServiceServer::new(VisionApi::new(state.clone())))
        .adapter_checks(&ctx.adapters)
        .serve(listener, shutdown, ctx.listen.drain_timeout)
        .await;
    workers.stop().await;
    served
}
