//! What every service's `main` does: read config, start telemetry, connect
//! the adapters, bind, serve until SIGTERM, drain, exit.
//!
//! A service is handed a [`ServiceContext`] holding its own section of the
//! config (a type it defines, [`Section`]), not the whole file: what it can
//! read is what it says it reads. The shared pieces built from the other
//! sections (adapters, credentials, job kinds, where the other services
//! are) come ready-made.

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::adapters::Adapters;
use crate::auth::MeshAuth;
use crate::config::{Config, Listen};
use crate::jobs::JobKinds;
use crate::registry::ServiceName;
use crate::shutdown::Shutdown;

/// The part of the config file a service reads, taken from the whole file
/// once at start.
pub trait Section: Send + Sync + Sized + 'static {
    /// The service it belongs to.
    const SERVICE: ServiceName;
    /// Takes the section out of the whole config.
    fn from_config(config: &Config) -> Self;
}

/// Where the services of the mesh are.
#[derive(Debug, Clone)]
pub struct Peers {
    urls: Vec<(ServiceName, String)>,
}

impl Peers {
    /// Every service's URL, as the config gives it.
    pub fn from_config(config: &Config) -> Self {
        Self {
            urls: ServiceName::ALL
                .into_iter()
                .map(|s| (s, config.listen(s).url))
                .collect(),
        }
    }

    /// The URL `service` is reached at.
    pub fn url(&self, service: ServiceName) -> &str {
        self.urls
            .iter()
            .find(|(s, _)| *s == service)
            .map(|(_, u)| u.as_str())
            .unwrap_or_default()
    }

    /// A lazily connecting channel to `service`.
    pub fn channel(&self, service: ServiceName) -> anyhow::Result<tonic::transport::Channel> {
        crate::grpc::channel(self.url(service))
    }
}

/// The shared pieces of a mesh, built once per process from the whole
/// config and handed to each of its services.
#[derive(Debug, Clone)]
pub struct Shared {
    /// Cache, bus and blob store.
    pub adapters: Adapters,
    /// Credentials and the token verifier.
    pub auth: MeshAuth,
    /// The job kinds and their retry policies.
    pub jobs: JobKinds,
    /// Where every service is.
    pub peers: Peers,
}

impl Shared {
    /// Connects the adapters and loads the credentials the config names.
    pub async fn connect(config: &Config) -> anyhow::Result<Self> {
        let adapters = Adapters::from_config(config).await?;
        Self::with_adapters(config, adapters)
    }

    /// The shared pieces over adapters already connected.
    pub fn with_adapters(config: &Config, adapters: Adapters) -> anyhow::Result<Self> {
        let auth = MeshAuth::from_config(config, adapters.cache.clone())?;
        Ok(Self {
            auth,
            jobs: JobKinds::from_config(&config.bus),
            peers: Peers::from_config(config),
            adapters,
        })
    }

    /// The context of the service whose section is `S`.
    pub fn context<S: Section>(&self, config: &Config) -> ServiceContext<S> {
        ServiceContext {
            config: Arc::new(S::from_config(config)),
            listen: config.listen(S::SERVICE),
            adapters: self.adapters.clone(),
            auth: self.auth.clone(),
            jobs: self.jobs.clone(),
            peers: self.peers.clone(),
        }
    }
}

/// What a service is handed at start.
#[derive(Debug)]
pub struct ServiceContext<S> {
    /// The service's own section of the config.
    pub config: Arc<S>,
    /// Where it listens, and its drain timeout.
    pub listen: Listen,
    /// The shared adapters.
    pub adapters: Adapters,
    /// Credentials and the token verifier.
    pub auth: MeshAuth,
    /// The job kinds.
    pub jobs: JobKinds,
    /// Where the other services are.
    pub peers: Peers,
}

impl<S> Clone for ServiceContext<S> {
    fn clone(&self) -> Self {
        Self {
            config: self.config.clone(),
            listen: self.listen.clone(),
            adapters: self.adapters.clone(),
            auth: self.auth.clone(),
            jobs: self.jobs.clone(),
            peers: self.peers.clone(),
        }
    }
}

/// Loads the config from `--config FILE` (or `SCOUT_CONFIG`) and the environment.
pub fn load_config(path: Option<PathBuf>) -> anyhow::Result<Config> {
    let path = path.or_else(|| std::env::var_os("SCOUT_CONFIG").map(PathBuf::from));
    Ok(Config::load(path.as_deref())?)
}

/// Runs one service as a process would in a deployment. Returns the exit
/// code: 0 after a clean drain, 1 on a runtime error, 2 on bad config.
pub fn run<S, F, Fut>(config_path: Option<PathBuf>, serve: F) -> ExitCode
where
    S: Section,
    F: FnOnce(ServiceContext<S>, TcpListener, Shutdown) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let config = match load_config(config_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    run_loaded(config, serve)
}

/// [`run`] with the config already loaded.
pub fn run_loaded<S, F, Fut>(config: Config, serve: F) -> ExitCode
where
    S: Section,
    F: FnOnce(ServiceContext<S>, TcpListener, Shutdown) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let service = S::SERVICE;
    crate::telemetry::init_logging(&config.telemetry);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async move {
        let shared = Shared::connect(&config).await?;
        let ctx = shared.context::<S>(&config);
        let listener = crate::server::bind(ctx.listen.addr).await?;
        serve(ctx, listener, Shutdown::on_signals()).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(service = %service, error = %format!("{e:#}"), "service failed");
            eprintln!("error: {service}: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// `--config FILE` from a service binary's arguments.
pub fn config_arg() -> Result<Option<PathBuf>, String> {
    let mut args = std::env::args().skip(1);
    let mut path = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" | "-c" => {
                path = Some(PathBuf::from(args.next().ok_or("--config needs a file")?))
            }
            "--help" | "-h" => {
                return Err(
                    "usage: [--config FILE]   (also SCOUT_CONFIG and SCOUT_* variables)".into(),
                );
            }
            other => {
                return Err(format!(
                    "unexpected argument {other:?}; usage: [--config FILE]"
                ));
            }
        }
    }
    Ok(path)
}

/// The whole `main` of a service binary.
pub fn binary_main<S, F, Fut>(serve: F) -> ExitCode
where
    S: Section,
    F: FnOnce(ServiceContext<S>, TcpListener, Shutdown) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    match config_arg() {
        Ok(path) => run(path, serve),
        Err(msg) => {
            eprintln!("{msg}");
            ExitCode::from(2)
        }
    }
}
