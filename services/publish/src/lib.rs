//! Publish: topics, titles and publishing.
//!
//! Same anatomy as every Scout service: `serve` wires the gRPC services,
//! health, reflection and metrics onto one listener; `api` holds the RPC
//! implementations; `error` maps failures to the shared error table.

mod api;
pub mod assist;
mod error;
mod store;
mod suggest;

use std::sync::Arc;

use diesel_migrations::embed_migrations;
use scout_common::adapters::db::{Db, Migrations, open_for_service};
use scout_common::adapters::db_readiness;
use scout_common::auth::InternalChannel;
use scout_common::server::{GrpcServer, Shutdown};
use scout_common::service::ServiceContext;
use scout_proto::scout::publish::v1::publish_service_server::PublishServiceServer;
use scout_proto::scout::tasks::v1::tasks_internal_service_client::TasksInternalServiceClient;
use tokio::net::TcpListener;

pub use api::PublishApi;

/// What every RPC of this service can reach.
pub struct State {
    /// Config and shared adapters.
    pub ctx: ServiceContext,
    /// The service's own database.
    pub db: Db,
    /// Tasks, for a task's owner, shop and script.
    pub tasks: TasksInternalServiceClient<InternalChannel>,
    /// Writes topics and titles.
    pub writer: suggest::Writer,
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
    let writer = suggest::Writer::from_config(&ctx.config.ai)?;
    let tasks = TasksInternalServiceClient::new(ctx.auth.internal_channel(
        scout_common::grpc::channel(&ctx.config.tasks.endpoint_url())?,
    ));
    let state = Arc::new(State {
        ctx: ctx.clone(),
        db: db.clone(),
        tasks,
        writer,
    });
    GrpcServer::new("publish", ctx.auth.clone())
        .add_service(PublishServiceServer::new(PublishApi::new(state.clone())))
        .adapter_checks(&ctx.adapters)
        .readiness_check("database", db_readiness(db))
        .serve(listener, shutdown, ctx.config.publish.drain_timeout)
        .await
}
