//! What the edge answers: the public gRPC API, forwarded to its owners
//! through one stack of named layers, and the REST bridge over it.
//!
//! The proxy stack, outermost first (the server puts the per-IP limit and
//! the auth guard in front of it; see `lib.rs`):
//!
//! 1. [`surface::public_surface`]: only RPCs with an HTTP route are public;
//!    the rest are UNIMPLEMENTED before their body is read;
//! 2. [`body::read_unary`]: one message per unary call, within the limit,
//!    framed correctly;
//! 3. [`limits::per_method`]: seed 000's per-phone, per-user and per-task
//!    limits (it needs the verified user and the message);
//! 4. [`scrub::scrub_headers`]: hop headers and any client-sent service
//!    credential out, the remaining deadline in;
//! 5. [`proxy::forward`]: the call goes to its owner.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::{any, get};
use tower::ServiceBuilder;

use crate::catalog::Catalog;
use crate::deprecation::{self, Notices};
use crate::limits::Limiter;
use crate::proxy::Upstreams;
use crate::rest::Rest;
use crate::{body, limits, openapi, proxy, rest, scrub, surface};

/// The router that answers every public gRPC path no local service has.
pub fn proxy_stack(
    catalog: Arc<Catalog>,
    upstreams: Upstreams,
    limiter: Arc<Limiter>,
    max_message_bytes: usize,
    request_timeout: Duration,
) -> Router {
    Router::new()
        .fallback(proxy::forward)
        .with_state(upstreams)
        .layer(
            ServiceBuilder::new()
                .layer(from_fn_with_state(catalog, surface::public_surface))
                .layer(from_fn_with_state(max_message_bytes, body::read_unary))
                .layer(from_fn_with_state(limiter, limits::per_method))
                .layer(from_fn_with_state(request_timeout, scrub::scrub_headers)),
        )
}

/// `/api/v1/...`: REST calls transcoded onto `grpc`, the edge's finished
/// gRPC side (so every layer above applies to them too), and the OpenAPI
/// document that describes them; answers under a retiring version carry
/// its deprecation notices.
pub fn rest_routes(
    catalog: &Catalog,
    grpc: Router,
    max_message_bytes: usize,
    request_timeout: Duration,
    notices: Notices,
) -> Router {
    let rest = Arc::new(Rest::new(catalog, grpc, max_message_bytes, request_timeout));
    let document = openapi::render(catalog);
    Router::new()
        .route("/api/v1/{*path}", any(rest::handle))
        .with_state(rest)
        .route(
            "/api/v1/openapi.json",
            get(move || async move {
                ([(http::header::CONTENT_TYPE, "application/json")], document)
            }),
        )
        .layer(from_fn_with_state(notices, deprecation::notices))
}
