//! Render: the media node. It owns no tables; it reads clips from the blob
//! store, works on them with FFmpeg's libraries (and NVIDIA engines when the
//! node has them) and writes results back.
//!
//! Same anatomy as every Scout service: `serve` (here) wires the gRPC
//! service and the compose worker onto one listener; `api` holds the thin
//! RPC implementations; `error` maps failures to the shared error table.
//! The domain modules, lowest first (each uses only those before it):
//! `error`, `runtime` (the blocking pool, FFmpeg's set-up), `media` (probe,
//! decode, frames, JPEG, audio, the hardware plan), `subtitles`, `store`
//! (blob keys to files), `voice`, `capabilities`, `compose` (a timeline to
//! `final.mp4` in one pass), `generative` (a hosted image-to-video model
//! behind a trait), `worker` (compose jobs from the bus), `cloning`
//! (voice-clone jobs from the bus, reported to identity), `heartbeat`
//! (this node and its capabilities, reported to tasks for the admin panel).

mod api;
pub mod capabilities;
pub mod cloning;
pub mod compose;
mod error;
pub mod generative;
pub mod heartbeat;
pub mod media;
pub mod runtime;
pub mod store;
pub mod subtitles;
pub mod voice;
pub mod worker;

pub use api::RenderApi;
pub use capabilities::capabilities;
pub use error::{CloneError, RenderError, VoiceError};

use std::sync::Arc;

use scout_common::ServiceName;
use scout_common::config::{
    Config, FaultsConfig, GenerativeConfig, MediaConfig, ServiceConfig, VoiceConfig,
};
use scout_common::jobs::Consumers;
use scout_common::server::GrpcServer;
use scout_common::service::{Section, ServiceContext};
use scout_common::shutdown::Shutdown;
use scout_proto::scout::render::v1::render_service_server::RenderServiceServer;
use tokio::net::TcpListener;

/// The parts of the config render reads.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Its listen address.
    pub server: ServiceConfig,
    /// Scratch space, encoder preset, subtitle font, concurrency, GPU use.
    pub media: MediaConfig,
    /// The speech provider.
    pub voice: VoiceConfig,
    /// The generative video provider (montages whose images move).
    pub generative: GenerativeConfig,
    /// Injected failures (test builds only; all off otherwise).
    pub faults: FaultsConfig,
}

impl Section for Settings {
    const SERVICE: ServiceName = ServiceName::Render;

    fn from_config(config: &Config) -> Self {
        Self {
            server: config.render.clone(),
            media: config.media.clone(),
            voice: config.voice.clone(),
            generative: config.generative.clone(),
            faults: config.faults(),
        }
    }
}

/// Serves the render service until `shutdown`, then drains.
pub async fn serve(
    ctx: ServiceContext<Settings>,
    listener: TcpListener,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let settings = ctx.config.clone();
    // FFmpeg's global init (codec registration, log level) once, up front.
    runtime::init_ffmpeg()?;
    media::hw::configure(settings.media.gpu, &settings.faults);
    media::hw::set_nvdec_sessions(settings.media.nvdec_sessions);
    // Probe the hardware once at start-up, off the runtime (it loads driver
    // libraries and may create a CUDA context).
    let caps = tokio::task::spawn_blocking(capabilities::capabilities).await?;
    tracing::info!(
        ffmpeg = %caps.ffmpeg_version,
        nvidia = caps.nvidia.as_ref().is_some_and(|n| n.present),
        encoder = %caps.compose_encoder,
        "render capabilities probed"
    );
    let work_dir = settings.media.work_dir.clone();
    // Scratch of jobs killed mid-way (this node's or another's sharing the
    // directory), never of one still running.
    let sweep_dir = work_dir.clone();
    tokio::task::spawn_blocking(move || store::sweep(&sweep_dir)).await?;
    let store = ctx.adapters.blobs.clone();
    let voice = voice::from_config(&settings.voice, &work_dir);
    // The Compose RPC and the worker share the composer, so its slots bound
    // both.
    let composer =
        compose::Composer::new(store::MediaSource::blobs(store.clone()), &settings.media);

    // Compose jobs from the bus.
    let worker = worker::ComposeWorker::new(
        voice.clone(),
        composer.clone(),
        store.clone(),
        work_dir.clone(),
        ctx.auth.clone(),
        ctx.peers.url(ServiceName::Tasks),
    )?
    .with_generator(generative::from_config(&settings.generative)?);
    let workers = Consumers::start(
        ctx.adapters.bus.clone(),
        ctx.jobs.compose.clone(),
        Arc::new(worker),
    )
    .await?;
    // Voice-clone jobs from the bus (one consumer group, seed 000's
    // single clone consumer per partition).
    let cloner = cloning::CloneWorker::new(
        voice::cloner_from_config(&settings.voice),
        store.clone(),
        work_dir.clone(),
        &settings.voice.seed_icl_speaker_prefix,
        &ctx.auth,
        ctx.peers.url(ServiceName::Identity),
    )?;
    let clone_workers = Consumers::start(
        ctx.adapters.bus.clone(),
        ctx.jobs.voice_clone.clone(),
        Arc::new(cloner),
    )
    .await?;
    let stop_beats = Shutdown::new();
    let beats = heartbeat::spawn(
        scout_common::report::TaskReporter::new(&ctx.auth, ctx.peers.url(ServiceName::Tasks))?,
        caps.clone(),
        composer.clone(),
        stop_beats.clone(),
    );

    let api = RenderApi::new(
        caps,
        store,
        voice,
        composer,
        work_dir,
        settings.media.subtitle_font.clone(),
    );
    let served = GrpcServer::new(ServiceName::Render, ctx.auth.clone())
        .add_service(RenderServiceServer::new(api))
        .adapter_checks(&ctx.adapters)
        .serve(listener, shutdown, ctx.listen.drain_timeout)
        .await;
    // The RPCs are drained; let the worker finish (or give back) its job.
    workers.stop().await;
    clone_workers.stop().await;
    stop_beats.trigger();
    let _ = beats.await;
    served
}
