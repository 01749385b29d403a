//! The operator's routes: `/healthz` (the process is alive), `/readyz`
//! (it should get traffic: dependencies answer, not draining) and
//! `/metrics` (Prometheus text).

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use http::{StatusCode, header};

use crate::readiness::Readiness;
use crate::telemetry;

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
