//! Publish: topics, titles and publishing.
//!
//! Same anatomy as every Scout service: `serve` wires the gRPC services,
//! health, reflection and metrics onto one listener; `api` holds the RPC
//! implementations; `error` maps failures to the shared error table.

mod api;
mod error;

use std::sync::Arc;

use diesel_migrations::embed_migrations;
use scout_common::adapters::db::{Db, Migrations, open_for_service};
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

/// This service's schema, one migration directory per backend.
pub const MIGRATIONS: Migrations = Migrations {
    postgres: embed_migrations!("migrations/postgres"),
    sqlite: embed_migrations!("migrations/sqlite"),
};

/// Serves the publish service until `shutdown`, then drains.
pub async fn serve(
    ctx: ServiceContext,
    listener: TcpListener,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let db = open_for_service("publish", &ctx.config.publish.database_url, MIGRATIONS).await?;
    let state = Arc::new(State {
        ctx: ctx.clone(),
        db: db.clone(),
    });
    GrpcServer::new("publish", ctx.auth.clone())
        .add_service(PublishServiceServer::new(PublishApi::new(state.clone())))
        .adapter_checks(&ctx.adapters)
        .readiness_check("database", db_readiness(db))
        .serve(listener, shutdown, ctx.config.publish.drain_timeout)
        .await
}
