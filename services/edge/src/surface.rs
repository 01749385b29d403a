//! The public surface: the gRPC paths the edge forwards, exactly the RPCs
//! with a `google.api.http` route ([`Catalog`]). Anything else, a typo or an
//! internal RPC, ends here as UNIMPLEMENTED, before a byte of it is read.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use scout_common::ApiError;
use scout_common::respond::grpc_error_response;

use crate::catalog::Catalog;
use crate::error::EdgeError;

/// Layer: passes public methods on, carrying their [`PublicMethod`]
/// (`crate::catalog`) in the request extensions; refuses the rest.
pub async fn public_surface(
    State(catalog): State<Arc<Catalog>>,
    mut req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path();
    match catalog.methods.get(path) {
        Some(method) => {
            let method = method.clone();
            req.extensions_mut().insert(method);
            next.run(req).await
        }
        None => {
            let service = path
                .trim_start_matches('/')
                .split('/')
                .next()
                .unwrap_or_default();
            let err = if catalog.services.contains(service) {
                EdgeError::UnknownMethod(path.to_string())
            } else {
                EdgeError::NotPublic(path.to_string())
            };
            grpc_error_response(&ApiError::from(err))
        }
    }
}
