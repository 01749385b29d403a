//! What an upstream call carries and what it must not: headers that
//! describe one hop are dropped, and so is any service credential a client
//! sent (only the mesh itself may present one); the deadline that is left
//! travels as `grpc-timeout`; the request id and the caller's authorization
//! go on unchanged.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderValue, Uri, Version};
use scout_common::auth::SERVICE_TOKEN_HEADER;
use scout_common::grpc::{format_grpc_timeout, request_deadline};

/// Headers that describe one hop and must not be forwarded.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

/// Layer: rewrites the request into what the owner is sent; `cap` is the
/// longest deadline a call gets (`edge.request_timeout`).
pub async fn scrub_headers(State(cap): State<Duration>, mut req: Request, next: Next) -> Response {
    let deadline = request_deadline(req.headers(), Some(cap)).unwrap_or(cap);
    let headers = req.headers_mut();
    for h in HOP_BY_HOP {
        headers.remove(h);
    }
    headers.remove(SERVICE_TOKEN_HEADER);
    headers.insert("te", HeaderValue::from_static("trailers"));
    // The owner's span is a child of the edge's (not of the client's).
    scout_common::telemetry::inject_headers(headers);
    if let Ok(v) = HeaderValue::from_str(&format_grpc_timeout(deadline)) {
        headers.insert("grpc-timeout", v);
    }
    *req.version_mut() = Version::HTTP_2;
    // grpc-web arrives with an absolute URI over HTTP/1.1: keep the path only.
    if let Ok(path) = Uri::try_from(req.uri().path()) {
        *req.uri_mut() = path;
    }
    next.run(req).await
}
