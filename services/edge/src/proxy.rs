//! Forwards public gRPC calls (native or grpc-web, already translated) to
//! the owning service.
//!
//! Unary and server-streaming requests are read whole first (they carry
//! one message), so a truncated or oversized frame is answered here with a
//! clear error instead of being half-forwarded. The call carries the
//! deadline that is left (`grpc-timeout`), the request id and the caller's
//! authorization. A service that is down answers UNAVAILABLE at once; one
//! that hangs answers DEADLINE_EXCEEDED when the deadline runs out.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use http::{HeaderValue, Uri, Version};
use http_body_util::{BodyExt, Limited};
use scout_common::auth::{Access, MeshAuth, SERVICE_TOKEN_HEADER, access};
use scout_common::server::{format_grpc_timeout, grpc_error_response, request_deadline};
use scout_common::{ApiError, ErrorCode};
use tonic::transport::Channel;
use tower::ServiceExt;

use crate::catalog::{Catalog, Owner};
use crate::frame;
use crate::limits::{ClientIp, Limiter};

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

/// What the proxy needs.
pub struct Proxy {
    /// The public surface.
    pub catalog: Arc<Catalog>,
    /// One lazily connecting channel per owning service.
    pub upstreams: HashMap<Owner, (String, Channel)>,
    /// Largest request message.
    pub max_message_bytes: usize,
    /// Deadline cap.
    pub request_timeout: Duration,
    /// Verifies access tokens.
    pub auth: MeshAuth,
    /// Rate limits.
    pub limiter: Arc<Limiter>,
}

/// The fallback of the edge's gRPC router: every path that is not health
/// or reflection.
pub async fn forward(State(proxy): State<Arc<Proxy>>, req: Request) -> Response {
    match forward_inner(&proxy, req).await {
        Ok(resp) => resp,
        Err(e) => grpc_error_response(&e),
    }
}

async fn forward_inner(proxy: &Proxy, req: Request) -> Result<Response, ApiError> {
    let path = req.uri().path().to_string();
    let ip = req
        .extensions()
        .get::<ClientIp>()
        .map(|c| c.0)
        .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
    proxy.limiter.check_ip(ip).await?;
    let method = proxy.catalog.methods.get(&path).ok_or_else(|| {
        let service = path
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or_default();
        let what = if proxy.catalog.services.contains(service) {
            "unknown method"
        } else {
            "unknown or non-public service"
        };
        ApiError::new(ErrorCode::UnknownRoute, format!("{what}: {path}"))
    })?;
    let (service_name, channel) = proxy.upstreams.get(&method.owner).ok_or_else(|| {
        ApiError::new(
            ErrorCode::ServiceUnavailable,
            format!("no route to the {} service", method.owner.name()),
        )
    })?;
    let deadline = request_deadline(req.headers(), Some(proxy.request_timeout))
        .unwrap_or(proxy.request_timeout);
    // Refused here already, so a bad token costs the services nothing; they
    // verify again themselves.
    let user = match access(&path) {
        Access::User => Some(proxy.auth.verifier().verify_headers(req.headers()).await?),
        Access::Open | Access::Internal => None,
    };

    let (mut parts, body) = req.into_parts();
    let user_id = user.map(|u| u.user_id);
    let body = if method.client_streaming {
        proxy
            .limiter
            .check_method(&path, user_id, &method.input, None)
            .await?;
        tonic::body::Body::new(body)
    } else {
        let limit = proxy.max_message_bytes + 5;
        let collected = Limited::new(body, limit + 1).collect().await.map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    format!(
                        "request exceeds the {}-byte message limit",
                        proxy.max_message_bytes
                    ),
                )
            } else {
                ApiError::new(
                    ErrorCode::MalformedRequest,
                    format!("request body could not be read: {e}"),
                )
            }
        })?;
        let bytes = collected.to_bytes();
        frame::check_single(&bytes, proxy.max_message_bytes)?;
        let message = (bytes[0] == 0).then(|| &bytes[5..]);
        proxy
            .limiter
            .check_method(&path, user_id, &method.input, message)
            .await?;
        tonic::body::Body::new(http_body_util::Full::new(bytes))
    };

    for h in HOP_BY_HOP {
        parts.headers.remove(h);
    }
    // Only the mesh itself may present the service credential.
    parts.headers.remove(SERVICE_TOKEN_HEADER);
    parts
        .headers
        .insert("te", HeaderValue::from_static("trailers"));
    if let Ok(v) = HeaderValue::from_str(&format_grpc_timeout(deadline)) {
        parts.headers.insert("grpc-timeout", v);
    }
    parts.version = Version::HTTP_2;
    parts.uri = Uri::try_from(path.as_str())
        .map_err(|e| ApiError::new(ErrorCode::MalformedRequest, format!("bad path: {e}")))?;
    let upstream_req = http::Request::from_parts(parts, body);

    let call = channel.clone().oneshot(upstream_req);
    match tokio::time::timeout(deadline, call).await {
        Ok(Ok(resp)) => Ok(resp.map(Body::new)),
        // The channel enforces the forwarded grpc-timeout itself and may
        // give up a moment before our own timer: that is a deadline, not an outage.
        Ok(Err(e)) if is_timeout(&e) => Err(ApiError::new(
            ErrorCode::DeadlineExceeded,
            format!(
                "the {service_name} service did not answer within {} ms",
                deadline.as_millis()
            ),
        )),
        Ok(Err(e)) => {
            tracing::warn!(service = %service_name, error = %e, "upstream unavailable");
            Err(ApiError::new(
                ErrorCode::ServiceUnavailable,
                format!(
                    "the {service_name} service is unavailable: {}",
                    describe(&e)
                ),
            ))
        }
        Err(_) => Err(ApiError::new(
            ErrorCode::DeadlineExceeded,
            format!(
                "the {service_name} service did not answer within {} ms",
                deadline.as_millis()
            ),
        )),
    }
}

/// True when a transport error is tonic's own deadline enforcement.
fn is_timeout(e: &tonic::transport::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<tonic::TimeoutExpired>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// The innermost cause of a transport error, which names what failed
/// (e.g. "Connection refused").
fn describe(e: &tonic::transport::Error) -> String {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg = s.to_string();
        source = s.source();
    }
    msg
}
