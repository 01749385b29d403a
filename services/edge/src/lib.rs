//! Edge: the one public port. Native gRPC (h2c), grpc-web (binary and text,
//! HTTP/1.1 and h2, CORS) and the REST bridge `/api/v1/...` share it, with
//! gRPC reflection (v1 and v1alpha) listing exactly the public services,
//! `/healthz`, `/readyz` and `/metrics`. Public RPCs are forwarded to the
//! owning service; the edge keeps no state of its own.
//!
//! Layers, outermost first, and why they sit there:
//! request id (every later layer and log line can use it) → observe (one
//! span, deadline, metrics and log line per request, errors included) →
//! CORS (answers browser preflights before any routing) → dispatch by
//! content type: gRPC and grpc-web go to the gRPC router (grpc-web
//! translated first), everything else to the HTTP router.

mod catalog;
mod frame;
pub mod limits;
mod proxy;
mod rest;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::routing::any;
use http::{HeaderName, HeaderValue, Method};
use scout_common::adapters::blob;
use scout_common::server::{self, Readiness, ReadinessCheck, Shutdown, is_grpc};
use scout_common::service::ServiceContext;
use tokio::net::TcpListener;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tower::{Layer, ServiceExt};
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use catalog::{Catalog, Owner};

/// Serves the edge until `shutdown`, then drains.
pub async fn serve(
    ctx: ServiceContext,
    listener: TcpListener,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let config = &ctx.config;
    let catalog = Arc::new(Catalog::build()?);
    let mut upstreams = HashMap::new();
    for owner in Owner::ALL {
        let svc = match owner {
            Owner::Identity => &config.identity,
            Owner::Tasks => &config.tasks,
            Owner::Vision => &config.vision,
            Owner::Render => &config.render,
            Owner::Publish => &config.publish,
        };
        let url = svc.endpoint_url();
        upstreams.insert(
            owner,
            (owner.name().to_string(), scout_common::grpc::channel(&url)?),
        );
    }

    // Health and reflection of the edge itself.
    let (health, health_svc) = tonic_health::server::health_reporter();
    health
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    for name in &catalog.services {
        health
            .set_service_status(name, tonic_health::ServingStatus::Serving)
            .await;
    }
    let reflection = || {
        let mut b = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(&catalog.reflection_descriptors)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
        for name in catalog.services.iter().map(String::as_str).chain([
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
        ]) {
            b = b.with_service_name(name);
        }
        b
    };
    let (refl_v1, refl_v1alpha) = (reflection(), reflection());

    let proxy = Arc::new(proxy::Proxy {
        catalog: catalog.clone(),
        upstreams: upstreams.clone(),
        max_message_bytes: config.edge.max_message_bytes,
        request_timeout: config.edge.request_timeout,
        auth: ctx.auth.clone(),
        limiter: Arc::new(limits::Limiter::new(
            ctx.adapters.cache.clone(),
            config.edge.rate_limits.clone(),
        )),
    });
    let grpc = Router::new()
        .route_service(
            "/grpc.health.v1.Health/{*rest}",
            health_svc.map_request(|r: Request| r.map(tonic::body::Body::new)),
        )
        .route_service(
            "/grpc.reflection.v1.ServerReflection/{*rest}",
            refl_v1
                .build_v1()?
                .map_request(|r: Request| r.map(tonic::body::Body::new)),
        )
        .route_service(
            "/grpc.reflection.v1alpha.ServerReflection/{*rest}",
            refl_v1alpha
                .build_v1alpha()?
                .map_request(|r: Request| r.map(tonic::body::Body::new)),
        )
        .fallback(proxy::forward)
        .with_state(proxy);

    let rest = Arc::new(rest::Rest::new(
        &catalog,
        grpc.clone(),
        config.edge.max_message_bytes,
        config.edge.request_timeout,
    ));
    let readiness = Readiness::new(upstream_checks(&upstreams));
    let mut http = Router::new()
        .route("/api/v1/{*path}", any(rest::handle))
        .with_state(rest)
        .merge(server::ops_routes(readiness.clone()));
    if let Some(local) = &ctx.adapters.local_blobs {
        http = http.merge(blob::local_routes(local.clone()));
    }
    let http = http.fallback(server::fallback);

    let grpc_web = tonic_web::GrpcWebLayer::new().layer(grpc);
    let dispatch = Router::new().fallback_service(tower::service_fn(move |req: Request| {
        let grpc_web = grpc_web.clone();
        let http = http.clone();
        async move {
            if is_grpc(req.headers()) {
                grpc_web.oneshot(req).await.map(|r| r.map(Body::new))
            } else {
                http.oneshot(req).await
            }
        }
    }));
    let client_ips =
        Arc::new(limits::ClientIps::new(&config.edge.trusted_proxies).map_err(anyhow::Error::msg)?);
    let app = server::standard_layers(
        dispatch
            .layer(cors(&config.edge.cors_allowed_origins))
            .layer(axum::middleware::from_fn_with_state(
                client_ips,
                limits::client_ip,
            )),
        "edge",
        Some(config.edge.request_timeout),
    );

    let addr = listener.local_addr()?;
    tracing::info!(%addr, services = catalog.services.len(), methods = catalog.methods.len(), "edge serving");
    let drain_health = health.clone();
    server::serve_router(
        listener,
        app,
        shutdown,
        config.edge.drain_timeout,
        move || {
            readiness.set_draining();
            tokio::spawn(async move {
                drain_health
                    .set_service_status("", tonic_health::ServingStatus::NotServing)
                    .await
            });
        },
    )
    .await?;
    tracing::info!("edge stopped");
    Ok(())
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

/// Readiness: every owning service answers its gRPC health check.
fn upstream_checks(
    upstreams: &HashMap<Owner, (String, tonic::transport::Channel)>,
) -> Vec<(String, ReadinessCheck)> {
    let mut checks: Vec<(String, ReadinessCheck)> = upstreams
        .values()
        .map(|(name, channel)| {
            let channel = channel.clone();
            let check: ReadinessCheck = Arc::new(move || {
                let mut client = HealthClient::new(channel.clone());
                Box::pin(async move {
                    let mut req = tonic::Request::new(HealthCheckRequest {
                        service: String::new(),
                    });
                    req.set_timeout(Duration::from_secs(1));
                    match client.check(req).await {
                        Ok(r)
                            if r.get_ref().status
                                == tonic_health::pb::health_check_response::ServingStatus::Serving
                                    as i32 =>
                        {
                            Ok(())
                        }
                        Ok(r) => Err(format!("status {}", r.get_ref().status)),
                        Err(e) => Err(e.message().to_string()),
                    }
                })
            });
            (name.clone(), check)
        })
        .collect();
    checks.sort_by(|a, b| a.0.cmp(&b.0));
    checks
}
