//! The six services, named once.
//!
//! [`ServiceName`] is the only list of Scout's services: `scout up`,
//! `scout serve <name>`, each service binary, the edge's routing catalogue
//! and config validation all read it, and every match on it is exhaustive,
//! so a seventh service cannot be added without deciding each of these.
//! Which function serves a service is the one thing this crate cannot
//! know (services depend on it, not it on them): the `scout` crate's
//! `services` module maps each name to its `serve`, exhaustively too.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

/// One of Scout's services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServiceName {
    /// The one public port: gRPC, grpc-web and REST, the web app.
    Edge,
    /// Users, login, tokens, voice samples.
    Identity,
    /// Tasks, clips, scripts, jobs, outputs.
    Tasks,
    /// Shot analysis and script writing (the analyze worker).
    Vision,
    /// The media node (the compose worker).
    Render,
    /// Publish assists and publishing.
    Publish,
}

impl ServiceName {
    /// Every service, the edge first.
    pub const ALL: [ServiceName; 6] = [
        ServiceName::Edge,
        ServiceName::Identity,
        ServiceName::Tasks,
        ServiceName::Vision,
        ServiceName::Render,
        ServiceName::Publish,
    ];

    /// The services behind the edge, in the order a mesh starts them.
    pub const INTERNAL: [ServiceName; 5] = [
        ServiceName::Identity,
        ServiceName::Tasks,
        ServiceName::Vision,
        ServiceName::Render,
        ServiceName::Publish,
    ];

    /// The name in config sections, CLI arguments, logs and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            ServiceName::Edge => "edge",
            ServiceName::Identity => "identity",
            ServiceName::Tasks => "tasks",
            ServiceName::Vision => "vision",
            ServiceName::Render => "render",
            ServiceName::Publish => "publish",
        }
    }

    /// The port a service listens on by default.
    pub const fn default_port(self) -> u16 {
        match self {
            ServiceName::Edge => 8080,
            ServiceName::Identity => 50051,
            ServiceName::Tasks => 50052,
            ServiceName::Vision => 50053,
            ServiceName::Render => 50054,
            ServiceName::Publish => 50055,
        }
    }

    /// The address a service listens on by default (loopback: a deployment
    /// says where to listen).
    pub fn default_addr(self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.default_port()))
    }

    /// True for the one service clients reach; the others take calls only
    /// from the mesh (and refuse internal RPCs without its credential).
    pub const fn is_public(self) -> bool {
        matches!(self, ServiceName::Edge)
    }

    /// The proto package of the API the service owns (`scout.tasks.v1`);
    /// the edge owns none, it routes the others'.
    pub const fn api_package(self) -> Option<&'static str> {
        match self {
            ServiceName::Edge => None,
            ServiceName::Identity => Some("scout.identity.v1"),
            ServiceName::Tasks => Some("scout.tasks.v1"),
            ServiceName::Vision => Some("scout.vision.v1"),
            ServiceName::Render => Some("scout.render.v1"),
            ServiceName::Publish => Some("scout.publish.v1"),
        }
    }

    /// The service that owns a proto package.
    pub fn for_package(package: &str) -> Option<ServiceName> {
        Self::ALL
            .into_iter()
            .find(|s| s.api_package() == Some(package))
    }

    /// The embedded database a service with tables uses by default
    /// (`{data_dir}` is replaced at load).
    pub const fn default_database(self) -> Option<&'static str> {
        match self {
            ServiceName::Identity => Some("sqlite://{data_dir}/identity.sqlite"),
            ServiceName::Tasks => Some("sqlite://{data_dir}/tasks.sqlite"),
            ServiceName::Publish => Some("sqlite://{data_dir}/publish.sqlite"),
            ServiceName::Edge | ServiceName::Vision | ServiceName::Render => None,
        }
    }

    /// The names, for help texts and errors.
    pub fn names() -> [&'static str; 6] {
        Self::ALL.map(Self::as_str)
    }
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown service name; says which are known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown service {0:?}; one of {names}", names = ServiceName::names().join(", "))]
pub struct UnknownService(pub String);

impl FromStr for ServiceName {
    type Err = UnknownService;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|n| n.as_str() == s)
            .ok_or_else(|| UnknownService(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_ports_differ() {
        let mut ports = std::collections::BTreeSet::new();
        for s in ServiceName::ALL {
            assert_eq!(s.as_str().parse::<ServiceName>(), Ok(s));
            assert!(ports.insert(s.default_port()), "{s} shares a port");
            if let Some(p) = s.api_package() {
                assert_eq!(ServiceName::for_package(p), Some(s));
            }
        }
        let err = "billing".parse::<ServiceName>().expect_err("unknown");
        assert!(err.to_string().contains("edge, identity"), "{err}");
        assert_eq!(
            ServiceName::INTERNAL.len() + 1,
            ServiceName::ALL.len(),
            "only the edge is public"
        );
        assert!(ServiceName::ALL.iter().filter(|s| s.is_public()).count() == 1);
    }
}
