//! How an [`ApiError`] reaches a client: a gRPC status (trailers-only) for
//! gRPC and grpc-web calls, the seed 000 envelope `{code, message,
//! details}` with the error table's HTTP status for everything else. Both
//! carry `Retry-After` when the error says when to come back.

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

use crate::error::{ApiError, ErrorCode};

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
