//! Tasks: the task state machine, uploads, scripts, jobs and outputs.
//!
//! Same anatomy as every Scout service: `serve` wires the gRPC services,
//! health, reflection and metrics onto one listener; `api` holds the RPC
//! implementations; `error` maps failures to the shared error table.

mod api;
mod error;

use std::sync::Arc;

use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use scout_common::adapters::db::{Db, Migrations};
use scout_common::adapters::db_readiness;
use scout_common::server::{GrpcServer, Shutdown};
use scout_common::service::ServiceContext;
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
}

const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Opens the tasks database and applies pending migrations.
pub async fn open_db(url: &str) -> anyhow::Result<Db> {
    let migrations = Migrations {
        postgres: PG_MIGRATIONS,
        sqlite: SQLITE_MIGRATIONS,
    };
    Db::open(url, migrations, 8).await.map_err(|e| {
        anyhow::anyhow!(
            "tasks database ({}): {e}",
            scout_common::adapters::db::redact(url)
        )
    })
}

/// Serves the tasks service until `shutdown`, then drains.
pub async fn serve(
    ctx: ServiceContext,
    listener: TcpListener,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let db = open_db(&ctx.config.tasks.database_url).await?;
    let state = Arc::new(State {
        ctx: ctx.clone(),
        db: db.clone(),
    });
    let mut server = GrpcServer::new("tasks")
        .add_service(TasksServiceServer::new(TasksApi::new(state.clone())))
        .add_service(TasksInternalServiceServer::new(TasksInternalApi::new(
            state.clone(),
        )));
    for (check, probe) in ctx.adapters.readiness_checks() {
        server = server.readiness_check(check, probe);
    }
    server = server.readiness_check("database", db_readiness(db));
    server
        .serve(listener, shutdown, ctx.config.tasks.drain_timeout)
        .await
}
