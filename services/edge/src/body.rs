//! The request body of a unary or server-streaming call: read whole (it is
//! one message) within the message limit and checked to be exactly one
//! complete frame, so a truncated or oversized request is answered here
//! with a clear error instead of being half-forwarded. Client-streaming
//! calls stream through untouched (the owner limits its messages).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use scout_common::ApiError;
use scout_common::respond::grpc_error_response;

use crate::catalog::PublicMethod;
use crate::error::EdgeError;
use crate::frame;

/// The one uncompressed request message of a unary call, for the layers
/// that need to look inside it (per-phone rate limits).
#[derive(Debug, Clone)]
pub struct UnaryMessage(pub Bytes);

/// Layer: reads and checks the body of calls that send one message.
pub async fn read_unary(State(max): State<usize>, req: Request, next: Next) -> Response {
    let streaming = req
        .extensions()
        .get::<std::sync::Arc<PublicMethod>>()
        .is_none_or(|m| m.client_streaming);
    if streaming {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let bytes = match read(body, max).await {
        Ok(b) => b,
        Err(e) => return grpc_error_response(&ApiError::from(e)),
    };
    if bytes[0] == 0 {
        parts
            .extensions
            .insert(UnaryMessage(bytes.slice(frame::HEADER..)));
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

async fn read(body: Body, max: usize) -> Result<Bytes, EdgeError> {
    let limit = max + frame::HEADER;
    let collected = Limited::new(body, limit + 1).collect().await.map_err(|e| {
        if e.downcast_ref::<http_body_util::LengthLimitError>()
            .is_some()
        {
            EdgeError::TooLarge { limit: max }
        } else {
            EdgeError::Unreadable(e.to_string())
        }
    })?;
    let bytes = collected.to_bytes();
    frame::check_single(&bytes, max)?;
    Ok(bytes)
}
