//! Identity: phone + SMS-code login, JWTs, profile, voice samples.
//!
//! Same anatomy as every Scout service: `serve` wires the gRPC services,
//! health, reflection and metrics onto one listener; `api` holds the RPC
//! implementations; `error` maps failures to the shared error table.

pub mod admin;
mod api;
mod error;
pub mod profile;
pub mod session;
pub mod sms;
mod store;
pub mod voice;

use std::path::PathBuf;
use std::sync::Arc;

use diesel_migrations::embed_migrations;
use scout_common::ServiceName;
use scout_common::adapters::db::{Db, Migrations, open_for_service};
use scout_common::adapters::db_readiness;
use scout_common::auth::token::{StaticKeys, TokenVerifier, key_map};
use scout_common::auth::{InternalChannel, KeyRing};
use scout_common::config::{AuthConfig, Config, ServiceConfig, SmsConfig};
use scout_common::jobs::{self, JobKind};
use scout_common::server::GrpcServer;
use scout_common::service::{Section, ServiceContext};
use scout_common::shutdown::Shutdown;
use scout_proto::scout::identity::v1::identity_admin_service_server::IdentityAdminServiceServer;
use scout_proto::scout::identity::v1::identity_internal_service_server::IdentityInternalServiceServer;
use scout_proto::scout::identity::v1::identity_service_server::IdentityServiceServer;
use scout_proto::scout::render::v1::render_service_client::RenderServiceClient;
use tokio::net::TcpListener;

pub use api::{IdentityAdminApi, IdentityApi, IdentityInternalApi};
pub use error::IdentityError;

/// The parts of the config identity reads.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Its listen address and database.
    pub server: ServiceConfig,
    /// Token lifetimes, keys and the issuer.
    pub auth: AuthConfig,
    /// Login codes and their provider.
    pub sms: SmsConfig,
    /// Where the default signing key is created (`{data_dir}/keys`).
    pub data_dir: PathBuf,
    /// Where the log SMS provider writes codes.
    pub sms_outbox: PathBuf,
}

impl Section for Settings {
    const SERVICE: ServiceName = ServiceName::Identity;

    fn from_config(config: &Config) -> Self {
        Self {
            server: config.identity.clone(),
            auth: config.auth.clone(),
            sms: config.sms.clone(),
            data_dir: config.data_dir.clone(),
            sms_outbox: config.sms.outbox_path(&config.data_dir),
        }
    }
}

/// What every RPC of this service can reach.
pub struct State {
    /// Its config section and the shared adapters.
    pub ctx: ServiceContext<Settings>,
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
    ctx: ServiceContext<Settings>,
    listener: TcpListener,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let config = ctx.config.clone();
    let db = open_for_service("identity", &config.server.database_url, MIGRATIONS).await?;
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
    let clone_jobs = ctx.jobs.voice_clone.clone();
    jobs::ensure_topics(ctx.adapters.bus.as_ref(), &clone_jobs)
        .await
        .map_err(|e| anyhow::anyhow!("job bus: cannot create the voice-clone topics: {e}"))?;
    let render = RenderServiceClient::new(
        ctx.auth
            .internal_channel(ctx.peers.channel(ServiceName::Render)?),
    );
    let state = Arc::new(State {
        sms: sms::from_config(&config.sms, config.sms_outbox.clone())?,
        ctx: ServiceContext {
            auth: auth.clone(),
            ..ctx.clone()
        },
        db: db.clone(),
        keys,
        render,
        clone_jobs,
    });
    GrpcServer::new(ServiceName::Identity, auth)
        .add_service(IdentityServiceServer::new(IdentityApi::new(state.clone())))
        .add_service(IdentityAdminServiceServer::new(IdentityAdminApi::new(
            state.clone(),
        )))
        .add_service(IdentityInternalServiceServer::new(
            IdentityInternalApi::new(state.clone()),
        ))
        .adapter_checks(&ctx.adapters)
        .readiness_check("database", db_readiness(db))
        .serve(listener, shutdown, ctx.listen.drain_timeout)
        .await
}
