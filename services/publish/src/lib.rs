//! Publish: topics, titles and publishing.
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
use scout_proto::scout::publish::v1::publish_service_server::PublishServiceServer;
use tokio::net::TcpListener;

pub use api::PublishApi;

/// What every RPC of this service can reach.
pub struct State {
    /// Config and shared adapters.
    pub ctx: ServiceContext,
    /// The service's own database.
    pub db: Db,
}

const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Opens the publish database and applies pending migrations.
pub async fn open_db(url: &str) -> anyhow::Result<Db> {
    let migrations = Migrations {
        postgres: PG_MIGRATIONS,
        sqlite: SQLITE_MIGRATIONS,
    };
    Db::open(url, migrations, 8).await.map_err(|e| {
        anyhow::anyhow!(
            "publish database ({}): {e}",
            scout_common::adapters::db::redact(url)
        )
    })
}

/// Serves the publish service until `shutdown`, then drains.
pub async fn serve(
    ctx: ServiceContext,
    listener: TcpListener,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let db = open_db(&ctx.config.publish.database_url).await?;
    let state = Arc::new(State {
        ctx: ctx.clone(),
        db: db.clone(),
    });
    let mut server = GrpcServer::new("publish")
        .add_service(PublishServiceServer::new(PublishApi::new(state.clone())));
    for (check, probe) in ctx.adapters.readiness_checks() {
        server = server.readiness_check(check, probe);
    }
    server = server.readiness_check("database", db_readiness(db));
    server
        .serve(listener, shutdown, ctx.config.publish.drain_timeout)
        .await
}
