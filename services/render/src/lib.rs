//! Render: the media node. It owns no tables; it reads clips from the blob
//! store, works on them with FFmpeg's libraries (and NVIDIA engines when the
//! node has them) and writes results back.

pub mod capabilities;
pub mod compose;
mod error;
pub mod media;
mod service;
pub mod store;
pub mod subtitles;
pub mod voice;
pub mod worker;

pub use capabilities::capabilities;
pub use error::RenderError;

use std::sync::Arc;

use scout_common::jobs::{Consumers, JobKind};
use scout_common::server::{GrpcServer, Shutdown};
use scout_common::service::ServiceContext;
use scout_proto::scout::render::v1::render_service_server::RenderServiceServer;
use tokio::net::TcpListener;

/// Serves the render service until `shutdown`, then drains.
pub async fn serve(
    ctx: ServiceContext,
    listener: TcpListener,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    // FFmpeg's global init (codec registration, log level) once, up front.
    capabilities::init_ffmpeg()?;
    media::hw::configure(ctx.config.media.gpu);
    // Probe the hardware once at start-up, off the runtime (it loads driver
    // libraries and may create a CUDA context).
    let caps = tokio::task::spawn_blocking(capabilities::capabilities).await?;
    tracing::info!(
        ffmpeg = %caps.ffmpeg_version,
        nvidia = caps.nvidia.as_ref().is_some_and(|n| n.present),
        encoder = %caps.compose_encoder,
        "render capabilities probed"
    );
    let svc = service::Render::new(ctx.clone(), caps);

    // Compose jobs from the bus, on the same slots as the Compose RPC.
    let workers = Consumers::start(
        ctx.adapters.bus.clone(),
        JobKind::compose(&ctx.config),
        COMPOSE_GROUP,
        Arc::new(svc.compose_worker(&ctx)?),
    )
    .await?;

    let served = GrpcServer::new("render", ctx.auth.clone())
        .add_service(RenderServiceServer::new(svc))
        .adapter_checks(&ctx.adapters)
        .serve(listener, shutdown, ctx.config.render.drain_timeout)
        .await;
    // The RPCs are drained; let the worker finish (or give back) its job.
    workers.stop().await;
    served
}

/// The consumer group of render's compose workers (after the topic prefix).
pub const COMPOSE_GROUP: &str = "render-compose";
