//! Serving: one port per process for gRPC and plain HTTP, the same request
//! layers everywhere, health, reflection, metrics and an ordered drain.
//!
//! Shutdown order (SIGTERM or Ctrl-C): health flips to NOT_SERVING and
//! `/readyz` to 503 so load balancers stop sending new calls; the listener
//! closes; in-flight calls run to completion (HTTP/2 gets a GOAWAY, HTTP/1
//! connections close after their current request) for up to the drain
//! timeout; then the process exits.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::server::NamedService;
use tonic::service::RoutesBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tracing::{Instrument, info, info_span, warn};

use crate::error::{ApiError, ErrorCode};
use crate::telemetry;

/// The request-id header, set by clients or generated at the first hop and
/// forwarded on every outbound call.
pub const REQUEST_ID: &str = "x-request-id";

/// A cloneable shutdown signal.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
}

impl Shutdown {
    /// A signal that fires only when [`Shutdown::trigger`] is called.
    pub fn new() -> Self {
        Self::default()
    }

    /// A signal that also fires on SIGTERM or SIGINT (Ctrl-C).
    pub fn on_signals() -> Self {
        let shutdown = Self::new();
        let trigger = shutdown.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            info!("shutdown signal received, draining");
            trigger.trigger();
        });
        shutdown
    }

    /// Fires the signal.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    /// Resolves once the signal has fired.
    pub async fn wait(&self) {
        self.token.cancelled().await;
    }

    /// True once the signal has fired.
    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// A child signal: fires with this one, or on its own.
    pub fn child(&self) -> Shutdown {
        Shutdown {
            token: self.token.child_token(),
        }
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// A readiness probe: `Ok` when a dependency answers.
pub type ReadinessCheck =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// Readiness of one process: checks of its dependencies, and a flag that
/// drops when the process starts draining.
#[derive(Clone)]
pub struct Readiness {
    draining: Arc<AtomicBool>,
    checks: Arc<Vec<(String, ReadinessCheck)>>,
}

impl Readiness {
    /// Readiness from named checks.
    pub fn new(checks: Vec<(String, ReadinessCheck)>) -> Self {
        Self {
            draining: Arc::new(AtomicBool::new(false)),
            checks: Arc::new(checks),
        }
    }

    /// Marks the process as draining: `/readyz` answers 503 from now on.
    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Runs every check (each bounded to 2 s) and reports per dependency.
    pub async fn report(&self) -> (bool, serde_json::Value) {
        let mut ok = !self.draining.load(Ordering::SeqCst);
        let mut deps = serde_json::Map::new();
        for (name, check) in self.checks.iter() {
            let result = tokio::time::timeout(Duration::from_secs(2), check()).await;
            let value = match result {
                Ok(Ok(())) => serde_json::json!("ok"),
                Ok(Err(e)) => {
                    ok = false;
                    serde_json::json!(e)
                }
                Err(_) => {
                    ok = false;
                    serde_json::json!("timed out")
                }
            };
            deps.insert(name.clone(), value);
        }
        let draining = self.draining.load(Ordering::SeqCst);
        (
            ok,
            serde_json::json!({ "ready": ok, "draining": draining, "dependencies": deps }),
        )
    }
}

/// `/healthz`, `/readyz` and `/metrics`.
pub fn ops_routes(readiness: Readiness) -> Router {
    Router::new()
        .route("/healthz", get(|| async { (StatusCode::OK, "ok") }))
        .route(
            "/readyz",
            get(|State(r): State<Readiness>| async move {
                let (ok, body) = r.report().await;
                let status = if ok {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                (status, axum::Json(body))
            }),
        )
        .route(
            "/metrics",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    telemetry::render_metrics(),
                )
            }),
        )
        .with_state(readiness)
}

/// True for gRPC and grpc-web requests.
pub fn is_grpc(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/grpc"))
}

/// A gRPC error as an HTTP response (trailers-only form).
pub fn grpc_error_response(err: &ApiError) -> Response {
    let mut resp = err.to_status().into_http::<axum::body::Body>();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    // Also as a header, for grpc-web clients that do not parse RetryInfo.
    if let Some(after) = err.retry_after
        && let Ok(v) =
            HeaderValue::from_str(&(after.as_secs_f64().ceil() as u64).max(1).to_string())
    {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

/// Parses a `grpc-timeout` header value (`<digits><unit>`).
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Formats a duration as a `grpc-timeout` value.
pub fn format_grpc_timeout(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 100_000_000 {
        format!("{}m", ms.max(1))
    } else {
        format!("{}S", d.as_secs().min(99_999_999))
    }
}

/// The request's deadline: the client's `grpc-timeout`, capped by `cap`.
pub fn request_deadline(headers: &http::HeaderMap, cap: Option<Duration>) -> Option<Duration> {
    let client = headers
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_grpc_timeout);
    match (client, cap) {
        (Some(c), Some(cap)) => Some(c.min(cap)),
        (c, cap) => c.or(cap),
    }
}

#[derive(Clone)]
struct ObserveState {
    service: &'static str,
    deadline_cap: Option<Duration>,
}

/// Tags the request with a span (service, method, request id), enforces the
/// gRPC deadline, and records `scout_requests_total` and
/// `scout_request_duration_seconds`. It sits inside the request-id layer (so
/// the id exists) and outside everything else (so every answer, including
/// errors from later layers, is counted and logged once).
async fn observe(State(state): State<ObserveState>, req: Request, next: Next) -> Response {
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string();
    let path = req.uri().path().to_string();
    let grpc = is_grpc(req.headers());
    let deadline = if grpc {
        request_deadline(req.headers(), state.deadline_cap)
    } else {
        None
    };
    let span =
        info_span!("request", service = state.service, method = %path, request_id = %request_id);
    let start = Instant::now();
    let fut = next.run(req).instrument(span.clone());
    let resp = match deadline {
        Some(d) => match tokio::time::timeout(d, fut).await {
            Ok(resp) => resp,
            Err(_) => grpc_error_response(&ApiError::new(
                ErrorCode::DeadlineExceeded,
                format!("{path} did not answer within {} ms", d.as_millis()),
            )),
        },
        None => fut.await,
    };
    let elapsed = start.elapsed();
    let status = if grpc {
        resp.headers()
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .map(|s| s.to_string())
            .unwrap_or_else(|| "0".into())
    } else {
        resp.status().as_u16().to_string()
    };
    let route = if grpc || path.starts_with("/api/") {
        path.clone()
    } else {
        "other".into()
    };
    metrics::counter!("scout_requests_total", "service" => state.service, "method" => route.clone(), "status" => status.clone())
        .increment(1);
    metrics::histogram!("scout_request_duration_seconds", "service" => state.service, "method" => route)
        .record(elapsed.as_secs_f64());
    span.in_scope(|| {
        info!(status = %status, elapsed_ms = elapsed.as_millis() as u64, grpc, "request finished");
    });
    resp
}

/// Wraps a router with the standard layers, outermost first:
/// request id (set, then echoed on the response) → observe (span, deadline,
/// metrics, one log line). Auth and rate limits sit inside, where each
/// service wires them.
pub fn standard_layers(
    router: Router,
    service: &'static str,
    deadline_cap: Option<Duration>,
) -> Router {
    // The recorder must exist before the first request records anything.
    let _ = telemetry::metrics_handle();
    router
        .layer(middleware::from_fn_with_state(
            ObserveState {
                service,
                deadline_cap,
            },
            observe,
        ))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// Answers requests no route matched: gRPC gets UNIMPLEMENTED, HTTP gets a
/// 404 envelope.
pub async fn fallback(req: Request) -> Response {
    let path = req.uri().path().to_string();
    if is_grpc(req.headers()) {
        return grpc_error_response(&ApiError::new(
            ErrorCode::UnknownRoute,
            format!("unknown method {path}"),
        ));
    }
    envelope_error(&ApiError::new(
        ErrorCode::UnknownRoute,
        format!("no route for {} {path}", req.method()),
    ))
}

/// The seed 000 error envelope `{code, message, details}` with the HTTP
/// status of the error table.
pub fn envelope_error(err: &ApiError) -> Response {
    let status = StatusCode::from_u16(err.spec().http).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut details = serde_json::Map::new();
    details.insert(
        "reason".into(),
        serde_json::json!(crate::error::reason(err.code)),
    );
    for (k, v) in &err.metadata {
        details.insert(k.clone(), serde_json::json!(v));
    }
    let body = serde_json::json!({
        "code": err.code as i32,
        "message": err.message,
        "details": details,
    });
    let mut resp = (status, axum::Json(body)).into_response();
    if let Some(after) = err.retry_after {
        let secs = after.as_secs_f64().ceil() as u64;
        if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    resp
}

/// Serves `router` on `listener` (HTTP/1.1 and HTTP/2 prior-knowledge on one
/// port) until `shutdown` fires, then drains for at most `drain_timeout`.
/// Each request carries `ConnectInfo<SocketAddr>` of its peer.
pub async fn serve_router(
    listener: TcpListener,
    router: Router,
    shutdown: Shutdown,
    drain_timeout: Duration,
    on_draining: impl FnOnce(),
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        tokio::select! {
            biased;
            _ = shutdown.wait() => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // Out of file descriptors and the like: back off briefly.
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let svc = tower::ServiceExt::map_request(router.clone(), move |mut req: http::Request<Incoming>| {
                    req.extensions_mut().insert(ConnectInfo(peer));
                    req
                });
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(svc));
                let conn = graceful.watch(conn.into_owned());
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(%peer, error = %e, "connection closed with error");
                    }
                });
            }
        }
    }
    on_draining();
    drop(listener);
    let in_flight = graceful.count();
    info!(
        connections = in_flight,
        "listener closed, draining in-flight calls"
    );
    tokio::select! {
        _ = graceful.shutdown() => info!("drained"),
        _ = tokio::time::sleep(drain_timeout) => {
            warn!(timeout_ms = drain_timeout.as_millis() as u64, "drain timeout, closing remaining connections");
        }
    }
    Ok(())
}

/// One internal service's server: its gRPC services plus health, reflection
/// and the ops routes, behind the standard layers.
pub struct GrpcServer {
    name: &'static str,
    auth: crate::auth::MeshAuth,
    routes: RoutesBuilder,
    service_names: Vec<&'static str>,
    checks: Vec<(String, ReadinessCheck)>,
    deadline_cap: Option<Duration>,
}

impl GrpcServer {
    /// A server for the service called `name` (e.g. `tasks`). Every call
    /// passes `auth`'s guard: user RPCs need an access token, internal ones
    /// the service credential.
    pub fn new(name: &'static str, auth: crate::auth::MeshAuth) -> Self {
        Self {
            name,
            auth,
            routes: RoutesBuilder::default(),
            service_names: Vec::new(),
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
        self.service_names.push(S::NAME);
        self.routes.add_service(svc);
        self
    }

    /// Adds a readiness check (database, cache, bus, store).
    pub fn readiness_check(mut self, name: impl Into<String>, check: ReadinessCheck) -> Self {
        self.checks.push((name.into(), check));
        self
    }

    /// Adds readiness checks for the shared adapters (cache, bus, blobs).
    pub fn adapter_checks(mut self, adapters: &crate::adapters::Adapters) -> Self {
        self.checks.extend(adapters.readiness_checks());
        self
    }

    /// Caps every call's deadline (the client's `grpc-timeout` still applies when shorter).
    pub fn deadline_cap(mut self, cap: Duration) -> Self {
        self.deadline_cap = Some(cap);
        self
    }

    /// Serves until `shutdown`, then drains.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: Shutdown,
        drain_timeout: Duration,
    ) -> anyhow::Result<()> {
        let (health, health_svc) = tonic_health::server::health_reporter();
        for name in &self.service_names {
            health
                .set_service_status(*name, tonic_health::ServingStatus::Serving)
                .await;
        }
        health
            .set_service_status("", tonic_health::ServingStatus::Serving)
            .await;

        let mut reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(scout_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
        let mut reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(scout_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
        for name in self.service_names.iter().copied().chain([
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
        ]) {
            reflection_v1 = reflection_v1.with_service_name(name);
            reflection_v1alpha = reflection_v1alpha.with_service_name(name);
        }

        let mut routes = self.routes;
        routes.add_service(health_svc);
        routes.add_service(reflection_v1.build_v1()?);
        routes.add_service(reflection_v1alpha.build_v1alpha()?);

        let readiness = Readiness::new(self.checks);
        let router = routes
            .routes()
            .prepare()
            .into_axum_router()
            .merge(ops_routes(readiness.clone()))
            .fallback(fallback)
            .layer(axum::middleware::from_fn_with_state(
                self.auth.clone(),
                crate::auth::guard,
            ));
        let router = standard_layers(router, self.name, self.deadline_cap);

        let addr = listener.local_addr()?;
        info!(service = self.name, %addr, "serving");
        let health_on_drain = health.clone();
        let names = self.service_names.clone();
        serve_router(listener, router, shutdown, drain_timeout, move || {
            readiness.set_draining();
            tokio::spawn(async move {
                for name in names {
                    health_on_drain
                        .set_service_status(name, tonic_health::ServingStatus::NotServing)
                        .await;
                }
                health_on_drain
                    .set_service_status("", tonic_health::ServingStatus::NotServing)
                    .await;
            });
        })
        .await?;
        info!(service = self.name, "stopped");
        Ok(())
    }
}

/// Binds a listener, naming the address on failure.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_round_trip() {
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("3S"), Some(Duration::from_secs(3)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("12x"), None);
        assert_eq!(parse_grpc_timeout("m"), None);
        assert_eq!(parse_grpc_timeout("1234567890S"), None);
        let d = Duration::from_millis(1500);
        assert_eq!(parse_grpc_timeout(&format_grpc_timeout(d)), Some(d));
    }

    #[test]
    fn deadline_is_the_shorter_of_client_and_cap() {
        let mut h = http::HeaderMap::new();
        assert_eq!(
            request_deadline(&h, Some(Duration::from_secs(5))),
            Some(Duration::from_secs(5))
        );
        h.insert("grpc-timeout", HeaderValue::from_static("100m"));
        assert_eq!(
            request_deadline(&h, Some(Duration::from_secs(5))),
            Some(Duration::from_millis(100))
        );
        assert_eq!(request_deadline(&h, None), Some(Duration::from_millis(100)));
    }
}

#[cfg(test)]
mod metrics_tests {
    use super::*;
    use tower::ServiceExt;

    #[tokio::test]
    async fn requests_are_counted() {
        let app = standard_layers(
            Router::new().route("/api/x", get(|| async { "ok" })),
            "svc-under-test",
            None,
        );
        let resp = app
            .oneshot(
                http::Request::get("/api/x")
                    .body(axum::body::Body::empty())
                    .expect("req"),
            )
            .await
            .expect("resp");
        assert_eq!(resp.status(), StatusCode::OK);
        let text = telemetry::render_metrics();
        assert!(text.contains("scout_requests_total{service=\"svc-under-test\",method=\"/api/x\",status=\"200\"} 1"), "{text}");
        assert!(
            text.contains("scout_request_duration_seconds_bucket{service=\"svc-under-test\""),
            "{text}"
        );
    }
}

#[cfg(test)]
mod drain_tests {
    use super::*;

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
        let server = tokio::spawn(GrpcServer::new("drain-test", auth).serve(
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
