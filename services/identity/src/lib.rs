//! Identity: phone + SMS-code login, JWTs, profile, voice samples.
//!
//! Same anatomy as every Scout service: `serve` wires the gRPC services,
//! health, reflection and metrics onto one listener; `api` holds the RPC
//! implementations; `error` maps failures to the shared error table.

mod api;
pub mod session;
pub mod sms;
mod store;
pub mod voice;

use std::sync::Arc;

use diesel_migrations::embed_migrations;
use scout_common::adapters::db::{Db, Migrations, open_for_service};
use scout_common::adapters::db_readiness;
use scout_common::auth::token::{StaticKeys, TokenVerifier, key_map};
use scout_common::auth::{InternalChannel, KeyRing};
use scout_common::jobs::{self, JobKind};
use scout_common::server::{GrpcServer, Shutdown};
use scout_common::service::ServiceContext;
use scout_proto::scout::identity::v1::identity_internal_service_server::IdentityInternalServiceServer;
use scout_proto::scout::identity::v1::identity_service_server::IdentityServiceServer;
use scout_proto::scout::render::v1::render_service_client::RenderServiceClient;
use tokio::net::TcpListener;

pub use api::{IdentityApi, IdentityInternalApi};

/// What every RPC of this service can reach.
pub struct State {
    /// Config and shared adapters.
    pub ctx: ServiceContext,
    /// The service's own database.
    pub db: Db,
    /// The token signing keys.
    pub keys: KeyRing,
    /// Sends login codes.
    pub sms: Box<dyn sms::SmsSender>,
    /// Render, for probing uploaded voice samples.
    pub render: RenderServiceClient<InternalChannel>,
    /// The voice-clone job kind.
    pub clone_jobs: JobKind,
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
    let config = ctx.config.clone();
    let db = open_for_service("identity", &config.identity.database_url, MIGRATIONS).await?;
    let keys = KeyRing::load(&config.auth, &config.data_dir)?;
    tracing::info!(
        kid = keys.signing_kid(),
        published = keys.published().len(),
        "token keys loaded"
    );
    // Identity verifies with its own keys rather than asking itself.
    let verifier = Arc::new(TokenVerifier::new(
        Arc::new(StaticKeys(key_map(keys.published()))),
        &config.auth,
        ctx.adapters.cache.clone(),
    ));
    let auth = ctx.auth.with_verifier(verifier);
    let clone_jobs = JobKind::voice_clone(&config);
    jobs::ensure_topics(ctx.adapters.bus.as_ref(), &clone_jobs)
        .await
        .map_err(|e| anyhow::anyhow!("job bus: cannot create the voice-clone topics: {e}"))?;
    let render = RenderServiceClient::new(
        ctx.auth
            .internal_channel(scout_common::grpc::channel(&config.render.endpoint_url())?),
    );
    let state = Arc::new(State {
        sms: sms::from_config(&config.sms, &config.data_dir)?,
        ctx: ServiceContext {
            auth: auth.clone(),
            ..ctx.clone()
        },
        db: db.clone(),
        keys,
        render,
        clone_jobs,
    });
    GrpcServer::new("identity", auth)
        .add_service(IdentityServiceServer::new(IdentityApi::new(state.clone())))
        .add_service(IdentityInternalServiceServer::new(
            IdentityInternalApi::new(state.clone()),
        ))
        .adapter_checks(&ctx.adapters)
        .readiness_check("database", db_readiness(db))
        .serve(listener, shutdown, config.identity.drain_timeout)
        .await
}
