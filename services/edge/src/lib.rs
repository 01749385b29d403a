//! Edge: the one public port. Native gRPC (h2c), grpc-web (binary and text,
//! HTTP/1.1 and h2, CORS) and the REST bridge `/api/v1/...` share it, with
//! gRPC reflection (v1 and v1alpha) listing exactly the public services,
//! `/healthz`, `/readyz` and `/metrics`. Public RPCs are forwarded to the
//! owning service; the edge keeps no state of its own.
//!
//! Served by the same `GrpcServer` as every service. The layers it adds, in
//! the order a request meets them (after request id and observe):
//! client IP (every later layer may need it) → CORS (answers browser
//! preflights before any routing) → dispatch by content type (grpc-web
//! translated first) → on the gRPC side the per-IP rate limit (a flood
//! costs one counter increment) → the auth guard (user RPCs need a valid
//! access token) → health, reflection, or the proxy stack (`api`).

mod api;
mod body;
mod catalog;
mod deprecation;
mod error;
mod frame;
pub mod limits;
mod openapi;
mod proxy;
mod rest;
mod scrub;
mod surface;
mod web;

use std::sync::Arc;
use std::time::Duration;

use axum::middleware::from_fn_with_state;
use http::{HeaderName, HeaderValue, Method};
use scout_common::ServiceName;
use scout_common::config::{Config, EdgeConfig};
use scout_common::server::{GrpcServer, blob_routes};
use scout_common::service::{Section, ServiceContext};
use scout_common::shutdown::Shutdown;
use tokio::net::TcpListener;
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use catalog::Catalog;

/// The REST API's OpenAPI 3.1 document, as `GET /api/v1/openapi.json` serves it.
pub fn openapi_document() -> anyhow::Result<String> {
    Ok(openapi::render(&Catalog::build()?))
}
pub use error::EdgeError;

/// The parts of the config the edge reads: its own section (where the
/// owners are comes with the context), and where presigned blob URLs point
/// (the web app's content security policy allows them).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address, limits, CORS, proxies, rate limits.
    pub edge: EdgeConfig,
    /// Origins of the blob store's presigned URLs (none for the local store).
    pub blob_origins: Vec<String>,
}

impl Section for Settings {
    const SERVICE: ServiceName = ServiceName::Edge;

    fn from_config(config: &Config) -> Self {
        Self {
            edge: config.edge.clone(),
            blob_origins: config.blobs.public_origins(),
        }
    }
}

/// Serves the edge until `shutdown`, then drains.
pub async fn serve(
    ctx: ServiceContext<Settings>,
    listener: TcpListener,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let config = &ctx.config.edge;
    let catalog = Arc::new(Catalog::build()?);
    let upstreams = proxy::Upstreams::new(&ctx.peers, config.request_timeout)?;
    let limiter = Arc::new(limits::Limiter::new(
        ctx.adapters.cache.clone(),
        config.rate_limits.clone(),
    ));
    let client_ips =
        Arc::new(limits::ClientIps::new(&config.trusted_proxies).map_err(anyhow::Error::msg)?);
    let (max, timeout) = (config.max_message_bytes, config.request_timeout);
    let notices = deprecation::Notices::new(&config.deprecations)?;

    tracing::info!(
        services = catalog.services.len(),
        methods = catalog.methods.len(),
        "edge routes built"
    );
    let mut server = GrpcServer::new(ServiceName::Edge, ctx.auth.clone())
        .forward(
            catalog.services.iter().cloned(),
            catalog.reflection_descriptors.clone(),
            api::proxy_stack(
                catalog.clone(),
                upstreams.clone(),
                limiter.clone(),
                max,
                timeout,
            ),
        )
        .grpc_web()
        .grpc_layer(move |r| r.layer(from_fn_with_state(limiter, limits::per_ip)))
        .http_routes({
            let catalog = catalog.clone();
            move |grpc| api::rest_routes(&catalog, grpc, max, timeout, notices)
        })
        .outer_layer(move |r| r.layer(from_fn_with_state(client_ips, limits::client_ip)))
        .outer_layer({
            let cors = cors(&config.cors_allowed_origins);
            move |r| r.layer(cors)
        })
        .readiness_checks(upstreams.readiness_checks())
        .deadline_cap(timeout);
    if let Some(local) = &ctx.adapters.local_blobs {
        let local = local.clone();
        server = server.http_routes(move |_| blob_routes(local));
    }
    // The web app: its files, and its pages for every other GET.
    let (files, pages) = web::routes(web::content_security_policy(&ctx.config.blob_origins));
    server = server.http_routes(move |_| files).http_fallback(pages);
    if !web::built() {
        tracing::info!(
            "the web app is not built into this binary (scripts/build-web.sh); serving the API only"
        );
    }
    server
        .serve(listener, shutdown, ctx.listen.drain_timeout)
        .await
}

/// CORS for browsers (grpc-web and REST): only the configured origins, with
/// the gRPC headers a grpc-web client reads exposed.
fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    let h = |s: &'static str| HeaderName::from_static(s);
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
            Method::OPTIONS,
        ])
        .allow_headers([
            h("content-type"),
            h("authorization"),
            h("x-grpc-web"),
            h("x-user-agent"),
            h("grpc-timeout"),
            h("x-request-id"),
            h("connect-protocol-version"),
            h("connect-timeout-ms"),
        ])
        .expose_headers([
            h("grpc-status"),
            h("grpc-message"),
            h("grpc-status-details-bin"),
            h("x-request-id"),
            h("retry-after"),
        ])
        .max_age(Duration::from_secs(3600))
}
