//! Identity: phone + SMS-code login, JWTs, profile, voice samples.
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
use scout_proto::scout::identity::v1::identity_internal_service_server::IdentityInternalServiceServer;
use scout_proto::scout::identity::v1::identity_service_server::IdentityServiceServer;
use tokio::net::TcpListener;

pub use api::{IdentityApi, IdentityInternalApi};

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

/// Serves the identity service until `shutdown`, then drains.
pub async fn serve(
    ctx: ServiceContext,
    listener: TcpListener,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let db = open_for_service("identity", &ctx.config.identity.database_url, MIGRATIONS).await?;
    let state = Arc::new(State {
        ctx: ctx.clone(),
        db: db.clone(),
    });
    GrpcServer::new("identity")
        .add_service(IdentityServiceServer::new(IdentityApi::new(state.clone())))
        .add_service(IdentityInternalServiceServer::new(
            IdentityInternalApi::new(state.clone()),
        ))
        .adapter_checks(&ctx.adapters)
        .readiness_check("database", db_readiness(db))
        .serve(listener, shutdown, ctx.config.identity.drain_timeout)
        .await
}
