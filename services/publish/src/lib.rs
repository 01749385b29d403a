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
use scout_common::ServiceName;
use scout_common::adapters::db::{Db, Migrations, open_for_service};
use scout_common::adapters::db_readiness;
use scout_common::auth::InternalChannel;
use scout_common::config::{AiConfig, Config, ServiceConfig};
use scout_common::server::GrpcServer;
use scout_common::service::{Section, ServiceContext};
use scout_common::shutdown::Shutdown;
use scout_proto::scout::publish::v1::publish_service_server::PublishServiceServer;
use scout_proto::scout::tasks::v1::tasks_internal_service_client::TasksInternalServiceClient;
use tokio::net::TcpListener;

pub use api::PublishApi;
pub use error::PublishError;

/// The parts of the config publish reads.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Its listen address and database.
    pub server: ServiceConfig,
    /// The writer of topics and titles, template or remote.
    pub ai: AiConfig,
}

impl Section for Settings {
    const SERVICE: ServiceName = ServiceName::Publish;

    fn from_config(config: &Config) -> Self {
        Self {
            server: config.publish.clone(),
            ai: config.ai.clone(),
        }
    }
}

/// What every RPC of this service can reach.
pub struct State {
    /// Its config section and the shared adapters.
    pub ctx: ServiceContext<Settings>,
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
    ctx: ServiceContext<Settings>,
    listener: TcpListener,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let db = open_for_service("publish", &ctx.config.server.database_url, MIGRATIONS).await?;
    let writer = suggest::Writer::from_config(&ctx.config.ai)?;
    let tasks = TasksInternalServiceClient::new(
        ctx.auth
            .internal_channel(ctx.peers.channel(ServiceName::Tasks)?),
    );
    let state = Arc::new(State {
        ctx: ctx.clone(),
        db: db.clone(),
        tasks,
        writer,
    });
    GrpcServer::new(ServiceName::Publish, ctx.auth.clone())
        .add_service(PublishServiceServer::new(PublishApi::new(state.clone())))
        .adapter_checks(&ctx.adapters)
        .readiness_check("database", db_readiness(db))
        .serve(listener, shutdown, ctx.listen.drain_timeout)
        .await
}
