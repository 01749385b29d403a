//! Serving: one port per process for gRPC (and grpc-web where asked) and
//! plain HTTP, the same layers everywhere, health, reflection, readiness,
//! metrics and an ordered drain. Every service, the edge included, is
//! served by one [`GrpcServer`].
//!
//! The stack a request passes, outermost first, and why each sits where it
//! does:
//!
//! 1. request id, then observe ([`observe`]): every later layer and log
//!    line can name the request, and every answer (errors included) is
//!    counted and logged once, within the caller's deadline;
//! 2. the server's outer layers ([`GrpcServer::outer_layer`]; the edge's
//!    CORS and client-IP layers): they see every request;
//! 3. dispatch by content type: gRPC (grpc-web translated first when
//!    [`GrpcServer::grpc_web`] is on) to the gRPC side, the rest to the HTTP
//!    side (ops routes and [`GrpcServer::http_routes`]);
//! 4. on the gRPC side: the service's own layers
//!    ([`GrpcServer::grpc_layer`]; the edge's per-IP rate limit), then the
//!    auth guard ([`crate::auth::guard`]), then the routes: this process's
//!    tonic services, health, reflection, and the fallback (the edge's
//!    proxy stack; elsewhere UNIMPLEMENTED).
//!
//! Shutdown order (SIGTERM or Ctrl-C): every registered service's health
//! flips to NOT_SERVING and `/readyz` to 503 so load balancers stop sending
//! new calls; the listener closes; in-flight calls finish ([`listen`]).

mod blobs;
mod listen;
mod observe;
mod ops;

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::IntoResponse;
use tokio::net::TcpListener;
use tonic::server::NamedService;
use tonic::service::RoutesBuilder;
use tower::{Layer, ServiceExt};
use tracing::info;

pub use blobs::{blob_routes, parse_range};
pub use listen::{bind, serve_router};
pub use observe::{RouteTemplate, standard_layers};
pub use ops::ops_routes;

use crate::auth::{Guard, MeshAuth};
use crate::readiness::{Readiness, ReadinessCheck};
use crate::registry::ServiceName;
use crate::respond::{fallback, is_grpc};
use crate::shutdown::Shutdown;

type RouterLayer = Box<dyn FnOnce(Router) -> Router + Send>;
type HttpRoutes = Box<dyn FnOnce(Router) -> Router + Send>;

/// One service's server: its gRPC services plus health, reflection and the
/// ops routes, behind the standard layers and the auth guard.
pub struct GrpcServer {
    name: ServiceName,
    auth: MeshAuth,
    routes: RoutesBuilder,
    service_names: Vec<String>,
    descriptor_set: Option<Vec<u8>>,
    grpc_fallback: Option<Router>,
    grpc_layers: Vec<RouterLayer>,
    http_routes: Vec<HttpRoutes>,
    http_fallback: Option<Router>,
    outer_layers: Vec<RouterLayer>,
    grpc_web: bool,
    checks: Vec<(String, ReadinessCheck)>,
    deadline_cap: Option<Duration>,
}

impl GrpcServer {
    /// A server for `name`. Every gRPC call passes `auth`'s guard: user RPCs
    /// need an access token; internal ones the service credential, except
    /// at a public server, which serves none (its routing refuses them).
    pub fn new(name: ServiceName, auth: MeshAuth) -> Self {
        Self {
            name,
            auth,
            routes: RoutesBuilder::default(),
            service_names: Vec::new(),
            descriptor_set: None,
            grpc_fallback: None,
            grpc_layers: Vec::new(),
            http_routes: Vec::new(),
            http_fallback: None,
            outer_layers: Vec::new(),
            grpc_web: false,
            checks: Vec::new(),
            deadline_cap: None,
        }
    }

    /// Adds a generated tonic service.
    pub fn add_service<S>(mut self, svc: S) -> Self
    where
        S: tower::Service<http::Request<tonic::body::Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: IntoResponse,
        S::Future: Send + 'static,
    {
        self.service_names.push(S::NAME.to_string());
        self.routes.add_service(svc);
        self
    }

    /// Serves gRPC services that live elsewhere: `fallback` answers every
    /// gRPC path no local service has, `services` are listed in health and
    /// reflection, described by `descriptor_set` (the edge: the public API,
    /// forwarded to its owners).
    pub fn forward(
        mut self,
        services: impl IntoIterator<Item = String>,
        descriptor_set: Vec<u8>,
        fallback: Router,
    ) -> Self {
        self.service_names.extend(services);
        self.descriptor_set = Some(descriptor_set);
        self.grpc_fallback = Some(fallback);
        self
    }

    /// Adds a layer around the gRPC side, outside the auth guard. Layers
    /// run in the order added, the first outermost.
    pub fn grpc_layer(mut self, layer: impl FnOnce(Router) -> Router + Send + 'static) -> Self {
        self.grpc_layers.push(Box::new(layer));
        self
    }

    /// Adds HTTP routes. `routes` is given the finished gRPC side (guard and
    /// gRPC layers included), for bridges that answer over it (REST).
    pub fn http_routes(mut self, routes: impl FnOnce(Router) -> Router + Send + 'static) -> Self {
        self.http_routes.push(Box::new(routes));
        self
    }

    /// Answers HTTP requests no route matched (the edge: the web app's
    /// pages); by default a 404 envelope.
    pub fn http_fallback(mut self, fallback: Router) -> Self {
        self.http_fallback = Some(fallback);
        self
    }

    /// Adds a layer around everything inside the standard layers. Layers
    /// run in the order added, the first outermost.
    pub fn outer_layer(mut self, layer: impl FnOnce(Router) -> Router + Send + 'static) -> Self {
        self.outer_layers.push(Box::new(layer));
        self
    }

    /// Accepts grpc-web (binary and text, HTTP/1.1 and h2) besides gRPC.
    pub fn grpc_web(mut self) -> Self {
        self.grpc_web = true;
        self
    }

    /// Adds a readiness check (database, cache, bus, store, upstreams).
    pub fn readiness_check(mut self, name: impl Into<String>, check: ReadinessCheck) -> Self {
        self.checks.push((name.into(), check));
        self
    }

    /// Adds readiness checks for the shared adapters (cache, bus, blobs).
    pub fn adapter_checks(mut self, adapters: &crate::adapters::Adapters) -> Self {
        self.checks.extend(adapters.readiness_checks());
        self
    }

    /// Adds named readiness checks.
    pub fn readiness_checks(mut self, checks: Vec<(String, ReadinessCheck)>) -> Self {
        self.checks.extend(checks);
        self
    }

    /// Caps every call's deadline (the client's `grpc-timeout` still applies when shorter).
    pub fn deadline_cap(mut self, cap: Duration) -> Self {
        self.deadline_cap = Some(cap);
        self
    }

    /// Serves until `shutdown`, then drains for at most `drain_timeout`.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: Shutdown,
        drain_timeout: Duration,
    ) -> anyhow::Result<()> {
        let (health, health_svc) = tonic_health::server::health_reporter();
        let mut names: Vec<String> = self.service_names.clone();
        names.push(String::new());
        for name in &names {
            health
                .set_service_status(name, tonic_health::ServingStatus::Serving)
                .await;
        }

        let descriptors = self
            .descriptor_set
            .unwrap_or_else(|| scout_proto::FILE_DESCRIPTOR_SET.to_vec());
        let reflection = || {
            let mut b = tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(&descriptors)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
            for name in self.service_names.iter().map(String::as_str).chain([
                "grpc.health.v1.Health",
                "grpc.reflection.v1.ServerReflection",
                "grpc.reflection.v1alpha.ServerReflection",
            ]) {
                b = b.with_service_name(name);
            }
            b
        };
        let mut routes = self.routes;
        routes.add_service(health_svc);
        routes.add_service(reflection().build_v1()?);
        routes.add_service(reflection().build_v1alpha()?);

        let mut grpc = routes.routes().prepare().into_axum_router();
        grpc = match self.grpc_fallback {
            Some(fallback) => grpc.fallback_service(fallback),
            None => grpc.fallback(fallback),
        };
        grpc = grpc.layer(axum::middleware::from_fn_with_state(
            Guard::new(self.auth.clone(), self.name.is_public()),
            crate::auth::guard,
        ));
        // The first added is outermost: apply them innermost first.
        for layer in self.grpc_layers.into_iter().rev() {
            grpc = layer(grpc);
        }

        let readiness = Readiness::new(self.checks);
        let mut http = ops_routes(readiness.clone());
        for routes in self.http_routes {
            http = http.merge(routes(grpc.clone()));
        }
        let http = match self.http_fallback {
            Some(f) => http.fallback_service(f),
            None => http.fallback(fallback),
        };

        // grpc-web calls are translated to gRPC before they reach the gRPC side.
        let grpc_web = self
            .grpc_web
            .then(|| tonic_web::GrpcWebLayer::new().layer(grpc.clone()));
        let mut app = Router::new().fallback_service(tower::service_fn(move |req: Request| {
            let (grpc, grpc_web, http) = (grpc.clone(), grpc_web.clone(), http.clone());
            async move {
                if !is_grpc(req.headers()) {
                    return http.oneshot(req).await;
                }
                match grpc_web {
                    Some(web) => web.oneshot(req).await.map(|r| r.map(Body::new)),
                    None => grpc.oneshot(req).await,
                }
            }
        }));
        for layer in self.outer_layers.into_iter().rev() {
            app = layer(app);
        }
        let app = standard_layers(app, self.name.as_str(), self.deadline_cap);

        let addr = listener.local_addr()?;
        info!(service = %self.name, %addr, "serving");
        serve_router(listener, app, shutdown, drain_timeout, move || {
            readiness.set_draining();
            tokio::spawn(async move {
                for name in names {
                    health
                        .set_service_status(name, tonic_health::ServingStatus::NotServing)
                        .await;
                }
            });
        })
        .await?;
        info!(service = %self.name, "stopped");
        Ok(())
    }
}

#[cfg(test)]
mod drain_tests {
    use super::*;
    use std::time::Instant;

    /// An idle HTTP/2 client must not hold the drain open until its timeout.
    #[tokio::test]
    async fn drain_ends_when_no_call_is_in_flight_even_with_idle_clients() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let shutdown = Shutdown::new();
        let dir = tempfile::tempdir().expect("tempdir");
        let config = crate::config::Config {
            data_dir: dir.path().to_path_buf(),
            ..Default::default()
        };
        let auth = crate::auth::MeshAuth::from_config(
            &config,
            std::sync::Arc::new(crate::adapters::cache::MemoryCache::new()),
        )
        .expect("auth");
        let server = tokio::spawn(GrpcServer::new(ServiceName::Render, auth).serve(
            listener,
            shutdown.clone(),
            Duration::from_secs(20),
        ));
        crate::grpc::wait_serving(&url, Duration::from_secs(10))
            .await
            .expect("serving");
        // A client that stays connected (and idle) through the shutdown.
        let channel = crate::grpc::channel(&url).expect("channel");
        let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
        health
            .check(tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            })
            .await
            .expect("check");
        let started = Instant::now();
        shutdown.trigger();
        tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("drain hung on an idle client")
            .expect("join")
            .expect("serve");
        assert!(started.elapsed() < Duration::from_secs(10));
        drop(channel);
    }
}
