//! The routes that answer locally signed blob URLs: `PUT` and `GET
//! /blobs/{key}`. They are HTTP, so they live with the server; what a
//! signature means, where an object lives and how it is written all-or-
//! nothing belong to the store ([`LocalBlobStore`]), which they call.
//! Mounted by the edge when the blob backend is `local`.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::StreamExt;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use tokio::io::AsyncSeekExt;

use crate::adapters::blob::{LocalBlobStore, SignedQuery, guess_content_type};
use crate::error::{ApiError, ErrorCode};
use crate::respond::envelope_error;

/// `GET` and `PUT /blobs/{key}` over `store`.
pub fn blob_routes(store: Arc<LocalBlobStore>) -> Router {
    Router::new()
        .route("/blobs/{*key}", get(download).put(upload))
        .with_state(store)
}

fn signed(query: Result<Query<SignedQuery>, QueryRejection>) -> Result<SignedQuery, ApiError> {
    query
        .map(|Query(q)| q)
        .map_err(|_| ApiError::new(ErrorCode::PermissionDenied, "missing signature"))
}

async fn upload(
    State(store): State<Arc<LocalBlobStore>>,
    Path(key): Path<String>,
    query: Result<Query<SignedQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match upload_inner(&store, &key, query, &headers, body).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => envelope_error(&e),
    }
}

async fn upload_inner(
    store: &LocalBlobStore,
    key: &str,
    query: Result<Query<SignedQuery>, QueryRejection>,
    headers: &HeaderMap,
    body: Body,
) -> Result<(), ApiError> {
    let q = signed(query)?;
    store.authorize("PUT", key, &q)?;
    let limit = store.max_upload_bytes();
    // A declared length over the limit is refused before a byte is read.
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > limit
    {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("upload of {len} bytes exceeds the {limit}-byte limit"),
        ));
    }
    let stream = body
        .into_data_stream()
        .map(|r| r.map_err(|e| e.to_string()));
    store.write(key, stream, limit).await.map(|_| ())
}

async fn download(
    State(store): State<Arc<LocalBlobStore>>,
    Path(key): Path<String>,
    query: Result<Query<SignedQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let opened = async {
        let q = signed(query)?;
        store.authorize("GET", &key, &q)?;
        let (mut file, size) = store.open(&key).await?;
        // Single byte ranges, so video players can seek.
        let range = headers
            .get(header::RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|r| parse_range(r, size));
        let (start, len) = match range {
            Some((first, last)) => (first, last - first + 1),
            None => (0, size),
        };
        if start > 0 {
            file.seek(std::io::SeekFrom::Start(start))
                .await
                .map_err(|e| ApiError::new(ErrorCode::StorageUnavailable, format!("seek: {e}")))?;
        }
        Ok::<_, ApiError>((file, size, start, len, range.is_some()))
    };
    let (file, size, start, len, partial) = match opened.await {
        Ok(o) => o,
        Err(e) => return envelope_error(&e),
    };
    let stream = tokio_util::io::ReaderStream::new(tokio::io::AsyncReadExt::take(file, len));
    let mut resp = Response::new(Body::from_stream(stream));
    if partial {
        *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(guess_content_type(&key)),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&len.to_string()) {
        h.insert(header::CONTENT_LENGTH, v);
    }
    if partial
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{size}", start + len - 1))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    resp
}

/// Parses `bytes=a-b`, `bytes=a-` and `bytes=-n` against a size:
/// `(first, last)`, inclusive; `None` for what is not one satisfiable range.
pub fn parse_range(value: &str, size: u64) -> Option<(u64, u64)> {
    let spec = value.strip_prefix("bytes=")?;
    if spec.contains(',') || size == 0 {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            (size.saturating_sub(n), size - 1)
        }
        (s, "") => (s.parse().ok()?, size - 1),
        (s, e) => (s.parse().ok()?, e.parse::<u64>().ok()?.min(size - 1)),
    };
    (start <= end && start < size).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=50-500", 100), Some((50, 99)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("bytes=0-1,3-4", 100), None);
    }
}
