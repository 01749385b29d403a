//! Which function serves each service: the one thing the registry
//! (`scout_common::registry::ServiceName`) cannot know, since services
//! depend on the plumbing crate and not it on them. Both matches are
//! exhaustive: a new service does not compile until it is served here.

use std::path::PathBuf;
use std::process::ExitCode;

use scout_common::ServiceName;
use scout_common::config::Config;
use scout_common::service::{self, Shared};
use scout_common::shutdown::Shutdown;
use tokio::net::TcpListener;

/// Serves `name` on `listener` until `shutdown`, with its section of
/// `config` and the mesh's shared pieces.
pub async fn serve(
    name: ServiceName,
    config: &Config,
    shared: &Shared,
    listener: TcpListener,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    match name {
        ServiceName::Edge => scout_edge::serve(shared.context(config), listener, shutdown).await,
        ServiceName::Identity => {
            scout_identity::serve(shared.context(config), listener, shutdown).await
        }
        ServiceName::Tasks => scout_tasks::serve(shared.context(config), listener, shutdown).await,
        ServiceName::Vision => {
            scout_vision::serve(shared.context(config), listener, shutdown).await
        }
        ServiceName::Render => {
            scout_render::serve(shared.context(config), listener, shutdown).await
        }
        ServiceName::Publish => {
            scout_publish::serve(shared.context(config), listener, shutdown).await
        }
    }
}

/// `scout serve <name>`: runs one service as its own process would.
pub fn run(name: ServiceName, config_path: Option<PathBuf>) -> ExitCode {
    match name {
        ServiceName::Edge => service::run(config_path, scout_edge::serve),
        ServiceName::Identity => service::run(config_path, scout_identity::serve),
        ServiceName::Tasks => service::run(config_path, scout_tasks::serve),
        ServiceName::Vision => service::run(config_path, scout_vision::serve),
        ServiceName::Render => service::run(config_path, scout_render::serve),
        ServiceName::Publish => service::run(config_path, scout_publish::serve),
    }
}
