//! Tasks: the task state machine, uploads, scripts, jobs and outputs.
//!
//! Same anatomy as every Scout service: `serve` wires the gRPC services,
//! health, reflection and metrics onto one listener; `api` holds the RPC
//! implementations; `error` maps failures to the shared error table.

pub mod analysis;
mod api;
mod error;
pub mod machine;
pub mod progress;
pub mod scripts;
mod store;
pub mod tasks;
pub mod uploads;

use std::sync::Arc;

use diesel_migrations::embed_migrations;
use scout_common::adapters::db::{Db, Migrations, open_for_service};
use scout_common::adapters::db_readiness;
use scout_common::auth::InternalChannel;
use scout_common::jobs::{self, JobKind};
use scout_common::server::{GrpcServer, Shutdown};
use scout_common::service::ServiceContext;
use scout_proto::scout::render::v1::render_service_client::RenderServiceClient;
use scout_proto::scout::tasks::v1::tasks_internal_service_server::TasksInternalServiceServer;
use scout_proto::scout::tasks::v1::tasks_service_server::TasksServiceServer;
use tokio::net::TcpListener;

pub use api::{TasksApi, TasksInternalApi};

/// What every RPC of this service can reach.
pub struct State {
    /// Config and shared adapters.
    pub ctx: ServiceContext,
    /// The service's own database.
    pub db: Db,
    /// Render, for probing clips (and their thumbnails).
    pub render: RenderServiceClient<InternalChannel>,
    /// The analyze job kind.
    pub analyze_jobs: JobKind,
}

/// This service's schema, one migration directory per backend.
pub const MIGRATIONS: Migrations = Migrations {
    postgres: embed_migrations!("migrations/postgres"),
    sqlite: embed_migrations!("migrations/sqlite"),
};

/// Serves the tasks service until `shutdown`, then drains.
pub async fn serve(
    ctx: ServiceContext,
    listener: TcpListener,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let db = open_for_service("tasks", &ctx.config.tasks.database_url, MIGRATIONS).await?;
    let render = RenderServiceClient::new(ctx.auth.internal_channel(scout_common::grpc::channel(
        &ctx.config.render.endpoint_url(),
    )?));
    let analyze_jobs = analysis::job_kind(&ctx.config);
    jobs::ensure_topics(ctx.adapters.bus.as_ref(), &analyze_jobs)
        .await
        .map_err(|e| anyhow::anyhow!("job bus: cannot create the analyze topics: {e}"))?;
    let state = Arc::new(State {
        ctx: ctx.clone(),
        db: db.clone(),
        render,
        analyze_jobs,
    });
    GrpcServer::new("tasks", ctx.auth.clone())
        .add_service(TasksServiceServer::new(TasksApi::new(state.clone())))
        .add_service(TasksInternalServiceServer::new(TasksInternalApi::new(
            state.clone(),
        )))
        .adapter_checks(&ctx.adapters)
        .readiness_check("database", db_readiness(db))
        .serve(listener, shutdown, ctx.config.tasks.drain_timeout)
        .await
}
