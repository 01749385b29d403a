//! Tasks: the task state machine, uploads, scripts, jobs and outputs.
//!
//! Same anatomy as every Scout service: `serve` wires the gRPC services,
//! health, reflection and metrics onto one listener; `api` holds the RPC
//! implementations; `error` maps failures to the shared error table.

pub mod admin;
pub mod analysis;
mod api;
pub mod brand;
pub mod compose;
pub mod deadletters;
pub mod documents;
pub mod drafts;
mod error;
pub mod explainer;
pub mod library;
pub mod machine;
pub mod nodes;
pub mod previews;
pub mod progress;
pub mod quotas;
pub mod recipes;
pub mod scripts;
pub mod shorts;
pub mod speech;
mod store;
pub mod tasks;
pub mod uploads;
pub mod usage;

use std::sync::Arc;

use diesel_migrations::embed_migrations;
use scout_common::ServiceName;
use scout_common::adapters::db::{Db, Migrations, open_for_service};
use scout_common::adapters::db_readiness;
use scout_common::auth::InternalChannel;
use scout_common::config::{
    AigcConfig, Config, CostsConfig, QuotasConfig, ServiceConfig, WriterKind,
};
use scout_common::jobs::{self, JobKind};
use scout_common::server::GrpcServer;
use scout_common::service::{Section, ServiceContext};
use scout_common::shutdown::Shutdown;
use scout_proto::scout::identity::v1::identity_internal_service_client::IdentityInternalServiceClient;
use scout_proto::scout::render::v1::render_service_client::RenderServiceClient;
use scout_proto::scout::tasks::v1::tasks_admin_service_server::TasksAdminServiceServer;
use scout_proto::scout::tasks::v1::tasks_internal_service_server::TasksInternalServiceServer;
use scout_proto::scout::tasks::v1::tasks_service_server::TasksServiceServer;
use tokio::net::TcpListener;

pub use api::{TasksAdminApi, TasksApi, TasksInternalApi};
pub use error::TasksError;

/// The parts of the config tasks reads: its listen address and database,
/// the quotas per membership tier and the unit prices of the cost estimate. (Job retry policies come with the
/// context, upload limits are seed 000's.)
#[derive(Debug, Clone)]
pub struct Settings {
    /// Its listen address and database.
    pub server: ServiceConfig,
    /// Quotas per membership tier.
    pub quotas: QuotasConfig,
    /// Unit prices of the admin panel's cost estimate.
    pub costs: CostsConfig,
    /// The AI-generated-content labels outputs carry.
    pub aigc: AigcConfig,
    /// A text model writes scripts (`ai.writer = "remote"`): a document
    /// explainer's narration goes through vision for it.
    pub narrate_with_model: bool,
}

impl Section for Settings {
    const SERVICE: ServiceName = ServiceName::Tasks;

    fn from_config(config: &Config) -> Self {
        Self {
            server: config.tasks.clone(),
            quotas: config.quotas.clone(),
            costs: config.costs.clone(),
            aigc: config.aigc.clone(),
            narrate_with_model: config.ai.writer == WriterKind::Remote,
        }
    }
}

/// What every RPC of this service can reach.
pub struct State {
    /// Its config section and the shared adapters.
    pub ctx: ServiceContext<Settings>,
    /// The service's own database.
    pub db: Db,
    /// Render, for probing clips (and their thumbnails).
    pub render: RenderServiceClient<InternalChannel>,
    /// The analyze job kind.
    pub analyze_jobs: JobKind,
    /// The compose job kind.
    pub compose_jobs: JobKind,
    /// Identity, for voice samples.
    pub identity: IdentityInternalServiceClient<InternalChannel>,
    /// Speaking rates render measured, kept a while.
    pub rates: speech::Rates,
}

/// This service's schema, one migration directory per backend.
pub const MIGRATIONS: Migrations = Migrations {
    postgres: embed_migrations!("migrations/postgres"),
    sqlite: embed_migrations!("migrations/sqlite"),
};

/// Serves the tasks service until `shutdown`, then drains.
pub async fn serve(
    ctx: ServiceContext<Settings>,
    listener: TcpListener,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let db = open_for_service("tasks", &ctx.config.server.database_url, MIGRATIONS).await?;
    let render = RenderServiceClient::new(
        ctx.auth
            .internal_channel(ctx.peers.channel(ServiceName::Render)?),
    );
    let analyze_jobs = ctx.jobs.analyze.clone();
    jobs::ensure_topics(ctx.adapters.bus.as_ref(), &analyze_jobs)
        .await
        .map_err(|e| anyhow::anyhow!("job bus: cannot create the analyze topics: {e}"))?;
    let compose_jobs = ctx.jobs.compose.clone();
    jobs::ensure_topics(ctx.adapters.bus.as_ref(), &compose_jobs)
        .await
        .map_err(|e| anyhow::anyhow!("job bus: cannot create the compose topics: {e}"))?;
    let identity = IdentityInternalServiceClient::new(
        ctx.auth
            .internal_channel(ctx.peers.channel(ServiceName::Identity)?),
    );
    let state = Arc::new(State {
        ctx: ctx.clone(),
        db: db.clone(),
        render,
        analyze_jobs,
        compose_jobs,
        identity,
        rates: speech::Rates::default(),
    });
    if !ctx.adapters.bus.is_durable() {
        redispatch(&state).await;
    }
    let stop_collector = Shutdown::new();
    let collector = deadletters::spawn_collector(state.clone(), stop_collector.clone());
    let sampler = admin::spawn_queue_sampler(state.clone(), stop_collector.clone());
    let served = GrpcServer::new(ServiceName::Tasks, ctx.auth.clone())
        .add_service(TasksServiceServer::new(TasksApi::new(state.clone())))
        .add_service(TasksInternalServiceServer::new(TasksInternalApi::new(
            state.clone(),
        )))
        .add_service(TasksAdminServiceServer::new(TasksAdminApi::new(
            state.clone(),
        )))
        .adapter_checks(&ctx.adapters)
        .readiness_check("database", db_readiness(db))
        .serve(listener, shutdown, ctx.listen.drain_timeout)
        .await;
    stop_collector.trigger();
    let _ = collector.await;
    let _ = sampler.await;
    served
}

/// The in-process bus keeps nothing across restarts: put the job every
/// unfinished task waits for back on it (same job id, so a result that
/// did arrive is not applied twice).
async fn redispatch(state: &State) {
    let pending = match state.db.run(store::tasks_with_jobs).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list unfinished jobs");
            return;
        }
    };
    for task in pending {
        let requeued = match task.status() {
            machine::Status::Analyzing => analysis::requeue(state, &task).await,
            _ => compose::requeue(state, &task).await,
        };
        match requeued {
            Ok(()) => tracing::info!(
                task_id = task.id,
                status = task.status.as_str(),
                "unfinished job re-dispatched"
            ),
            Err(e) => {
                tracing::warn!(task_id = task.id, error = %e, "cannot re-dispatch an unfinished job")
            }
        }
    }
}
