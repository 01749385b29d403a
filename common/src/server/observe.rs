//! The layers every server has, outermost first: request id (set when the
//! client sent none, echoed on the response) → observe (one span, the
//! gRPC deadline, metrics and one log line per request, errors included).

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tracing::{Instrument, info, info_span};

use crate::error::{ApiError, ErrorCode};
use crate::grpc::{REQUEST_ID, request_deadline};
use crate::respond::{grpc_error_response, is_grpc};
use crate::telemetry;

/// The route a response answered (e.g. `/api/v1/tasks/{task_id}`), set by
/// a router that knows it, so request metrics are labelled by template
/// rather than by raw path.
#[derive(Debug, Clone)]
pub struct RouteTemplate(pub String);

/// The bounded `path` label of a request: the route template where the
/// router set one; the gRPC method (or `unmatched` for an unknown one); the
/// ops routes by name; anything else the web app serves as `web`.
fn path_label(path: &str, grpc: bool, grpc_status: &str, resp: &Response) -> String {
    if let Some(RouteTemplate(t)) = resp.extensions().get::<RouteTemplate>() {
        return t.clone();
    }
    if grpc {
        return if grpc_status == "12" {
            "unmatched".into()
        } else {
            path.to_string()
        };
    }
    match path {
        "/healthz" | "/readyz" | "/metrics" => path.to_string(),
        p if p.starts_with("/api/") => "unmatched".into(),
        p if p.starts_with("/blobs/") => "/blobs".into(),
        _ => "web".into(),
    }
}

#[derive(Clone)]
struct ObserveState {
    service: &'static str,
    deadline_cap: Option<Duration>,
}

/// Tags the request with a span (service, method, request id), enforces the
/// gRPC deadline, and records seed 000 §10.2's `http_request_total{method,
/// path, status}` and `http_request_duration_seconds{method, path}` (plus
/// `service`; `path` bounded by [`path_label`]; `status` the HTTP status, or
/// the gRPC status code for gRPC). It sits inside the request-id layer (so
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
    let verb = req.method().as_str().to_string();
    let grpc = is_grpc(req.headers());
    let deadline = if grpc {
        request_deadline(req.headers(), state.deadline_cap)
    } else {
        None
    };
    let span = info_span!(
        "request",
        service = state.service,
        method = %path,
        request_id = %request_id,
        user_id = tracing::field::Empty,
    );
    // A caller's W3C `traceparent` (a client, the edge, another service)
    // makes this request part of its trace.
    telemetry::continue_from_headers(&span, req.headers());
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
    let route = path_label(&path, grpc, &status, &resp);
    metrics::counter!("http_request_total", "service" => state.service, "method" => verb.clone(), "path" => route.clone(), "status" => status.clone())
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "service" => state.service, "method" => verb, "path" => route)
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

#[cfg(test)]
mod metrics_tests {
    use super::*;
    use axum::routing::get;
    use http::StatusCode;
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
        // No route told its template: an /api path is "unmatched", never raw.
        assert!(text.contains("http_request_total{service=\"svc-under-test\",method=\"GET\",path=\"unmatched\",status=\"200\"} 1"), "{text}");
        assert!(
            text.contains("http_request_duration_seconds_bucket{service=\"svc-under-test\",method=\"GET\",path=\"unmatched\""),
            "{text}"
        );
    }
}
