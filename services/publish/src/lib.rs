//! Publish: topics, titles, publishing to the platforms and their figures.
//!
//! Same anatomy as every Scout service: `serve` wires the gRPC services,
//! health, reflection and metrics onto one listener; `api` holds the RPC
//! implementations; `error` maps failures to the shared error table. The
//! domain: `assist`/`suggest` (topics and titles), `accounts` (linked
//! platform accounts, tokens sealed by `vault`), `publications` (Publish and
//! its rows), `publisher` (the loop that posts due publications through
//! `platforms`), `analytics` (the figures, fetched on a schedule).

mod accounts;
mod analytics;
mod api;
pub mod assist;
mod error;
pub mod platforms;
mod publications;
mod publisher;
mod store;
mod suggest;
pub mod vault;

use std::sync::Arc;

use diesel_migrations::embed_migrations;
use scout_common::ServiceName;
use scout_common::adapters::db::{Db, Migrations, open_for_service};
use scout_common::adapters::db_readiness;
use scout_common::auth::InternalChannel;
use scout_common::config::{AiConfig, Config, PlatformsConfig, ServiceConfig};
use scout_common::server::GrpcServer;
use scout_common::service::{Section, ServiceContext};
use scout_common::shutdown::Shutdown;
use scout_proto::scout::publish::v1::publish_service_server::PublishServiceServer;
use scout_proto::scout::tasks::v1::tasks_internal_service_client::TasksInternalServiceClient;
use scout_proto::scout::tasks::v1::{GetTaskContextRequest, GetTaskContextResponse};
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
    /// The platforms' apps, the token keys, the publisher's schedule.
    pub platforms: PlatformsConfig,
    /// Where embedded state lives (the generated token key, downloads).
    pub data_dir: std::path::PathBuf,
    /// The edge's public base URL (the default OAuth redirect).
    pub public_url: String,
}

impl Section for Settings {
    const SERVICE: ServiceName = ServiceName::Publish;

    fn from_config(config: &Config) -> Self {
        Self {
            server: config.publish.clone(),
            ai: config.ai.clone(),
            platforms: config.platforms.clone(),
            data_dir: config.data_dir.clone(),
            public_url: config.edge.public_base_url(),
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
    /// Seals and opens the platforms' tokens.
    pub vault: vault::Vault,
    /// The configured platforms.
    pub platforms: platforms::Platforms,
    /// Where videos are downloaded before they are uploaded.
    pub work_dir: std::path::PathBuf,
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
    let vault = vault::Vault::from_config(&ctx.config.platforms.token_keys, &ctx.config.data_dir)?;
    // After a key rotation, every token is sealed again with the new key.
    accounts::reseal(&db, &vault).await?;
    let platforms = platforms::Platforms::from_config(&ctx.config.platforms)?;
    let work_dir = ctx.config.data_dir.join("publish-tmp");
    let tasks = TasksInternalServiceClient::new(
        ctx.auth
            .internal_channel(ctx.peers.channel(ServiceName::Tasks)?),
    );
    let state = Arc::new(State {
        ctx: ctx.clone(),
        db: db.clone(),
        tasks,
        writer,
        vault,
        platforms,
        work_dir,
    });
    let stop = Shutdown::new();
    let loops = [
        tokio::spawn(publisher::run(state.clone(), stop.clone())),
        tokio::spawn(analytics::run(state.clone(), stop.clone())),
    ];
    let served = GrpcServer::new(ServiceName::Publish, ctx.auth.clone())
        .add_service(PublishServiceServer::new(PublishApi::new(state.clone())))
        .adapter_checks(&ctx.adapters)
        .readiness_check("database", db_readiness(db))
        .serve(listener, shutdown, ctx.listen.drain_timeout)
        .await;
    // An upload in flight stops at its next chunk; its lease runs out and
    // another node resumes it from the saved session.
    stop.trigger();
    for l in loops {
        let _ = l.await;
    }
    served
}

/// The task's context from tasks, if it is this user's (another user's task
/// does not exist for this one).
pub(crate) async fn task_context(
    state: &State,
    user_id: i64,
    task_id: i64,
) -> Result<GetTaskContextResponse, PublishError> {
    let mut req = state.ctx.auth.internal(GetTaskContextRequest {
        task_id,
        with_library: false,
    });
    req.set_timeout(std::time::Duration::from_secs(10));
    let ctx = match state.tasks.clone().get_task_context(req).await {
        Ok(r) => r.into_inner(),
        Err(s) if s.code() == tonic::Code::NotFound => {
            return Err(PublishError::TaskNotFound(task_id));
        }
        Err(s) => return Err(PublishError::Tasks(scout_common::ApiError::from_status(&s))),
    };
    if ctx.user_id != user_id {
        return Err(PublishError::TaskNotFound(task_id));
    }
    Ok(ctx)
}

/// A stored UTC time as a protobuf timestamp.
pub(crate) fn timestamp(t: chrono::NaiveDateTime) -> prost_types::Timestamp {
    let utc = t.and_utc();
    prost_types::Timestamp {
        seconds: utc.timestamp(),
        nanos: utc.timestamp_subsec_nanos() as i32,
    }
}

/// A protobuf timestamp as a stored UTC time (`None` when out of range).
pub(crate) fn naive(t: &prost_types::Timestamp) -> Option<chrono::NaiveDateTime> {
    chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32).map(|d| d.naive_utc())
}
