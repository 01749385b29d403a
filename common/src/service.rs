//! What every service's `main` does: read config, start telemetry, connect
//! the adapters, bind, serve until SIGTERM, drain, exit.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::adapters::Adapters;
use crate::auth::MeshAuth;
use crate::config::Config;
use crate::server::Shutdown;

/// What a service is handed at start.
#[derive(Clone, Debug)]
pub struct ServiceContext {
    /// The whole mesh's configuration.
    pub config: Arc<Config>,
    /// The shared adapters.
    pub adapters: Adapters,
    /// Credentials and the token verifier.
    pub auth: MeshAuth,
}

impl ServiceContext {
    /// A context over a config and its connected adapters.
    pub fn new(config: Config, adapters: Adapters) -> anyhow::Result<Self> {
        let auth = MeshAuth::from_config(&config, adapters.cache.clone())?;
        Ok(Self {
            config: Arc::new(config),
            adapters,
            auth,
        })
    }
}

/// The six services.
pub const SERVICES: [&str; 6] = ["edge", "identity", "tasks", "vision", "render", "publish"];

/// The listen address of a service by name.
pub fn listen_addr(config: &Config, service: &str) -> anyhow::Result<SocketAddr> {
    Ok(match service {
        "edge" => config.edge.addr,
        "identity" => config.identity.addr,
        "tasks" => config.tasks.addr,
        "vision" => config.vision.addr,
        "render" => config.render.addr,
        "publish" => config.publish.addr,
        other => anyhow::bail!("unknown service {other:?}; one of {}", SERVICES.join(", ")),
    })
}

/// Loads the config from `--config FILE` (or `SCOUT_CONFIG`) and the environment.
pub fn load_config(path: Option<PathBuf>) -> anyhow::Result<Config> {
    let path = path.or_else(|| std::env::var_os("SCOUT_CONFIG").map(PathBuf::from));
    Ok(Config::load(path.as_deref())?)
}

/// Runs one service as a process would in a deployment. Returns the exit
/// code: 0 after a clean drain, 1 on a runtime error, 2 on bad config.
pub fn run<F, Fut>(service: &'static str, config_path: Option<PathBuf>, serve: F) -> ExitCode
where
    F: FnOnce(ServiceContext, TcpListener, Shutdown) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let config = match load_config(config_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
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
        let addr = listen_addr(&config, service)?;
        let adapters = Adapters::from_config(&config).await?;
        let listener = crate::server::bind(addr).await?;
        let ctx = ServiceContext::new(config, adapters)?;
        serve(ctx, listener, Shutdown::on_signals()).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(service, error = %format!("{e:#}"), "service failed");
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
pub fn binary_main<F, Fut>(service: &'static str, serve: F) -> ExitCode
where
    F: FnOnce(ServiceContext, TcpListener, Shutdown) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    match config_arg() {
        Ok(path) => run(service, path, serve),
        Err(msg) => {
            eprintln!("{msg}");
            ExitCode::from(2)
        }
    }
}
