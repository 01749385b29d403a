//! The web app, served at `/` on the edge's port: the files built into the
//! binary (`build.rs`), hashed assets cached for a year, `index.html` never
//! cached, every other page path answered with `index.html` (history-mode
//! routes), and a content security policy that allows only what the app
//! uses: its own scripts and styles, this origin's API, and the blob store
//! it uploads to and plays from.

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, Method, StatusCode, header};
use scout_common::respond;
use tower_http::compression::CompressionLayer;

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

/// What the HTML pages are sent with.
#[derive(Clone)]
struct Pages {
    csp: HeaderValue,
}

/// The CSP for the app, allowing `blob_origins` (where presigned upload
/// and download URLs point; empty when that is this origin).
pub fn content_security_policy(blob_origins: &[String]) -> String {
    let extra = blob_origins.join(" ");
    let with = |base: &str| {
        if extra.is_empty() {
            base.to_string()
        } else {
            format!("{base} {extra}")
        }
    };
    [
        "default-src 'self'".to_string(),
        "script-src 'self'".to_string(),
        "style-src 'self'".to_string(),
        with("img-src 'self' data: blob:"),
        with("media-src 'self' blob:"),
        with("connect-src 'self'"),
        "font-src 'self'".to_string(),
        "object-src 'none'".to_string(),
        "base-uri 'self'".to_string(),
        "form-action 'self'".to_string(),
        "frame-ancestors 'none'".to_string(),
    ]
    .join("; ")
}

fn asset(path: &str) -> Option<&'static [u8]> {
    ASSETS.iter().find(|(p, _)| *p == path).map(|(_, b)| *b)
}

/// True when the app was built into this binary.
pub fn built() -> bool {
    asset("/index.html").is_some()
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "ico" => "image/x-icon",
        "json" | "map" => "application/json",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Paths that are never pages: the API, blobs, the ops routes. An unknown
/// one of these is the API's 404, not the app.
fn is_api(path: &str) -> bool {
    ["/api/", "/blobs/", "/healthz", "/readyz", "/metrics"]
        .iter()
        .any(|p| path.starts_with(p))
}

/// A path that names a file (`/favicon.ico`, `/robots.txt`): when it is
/// not one of the app's files it is a 404, not the app, as a browser or a
/// crawler expects.
fn is_file(path: &str) -> bool {
    path.rsplit('/')
        .next()
        .is_some_and(|last| last.contains('.'))
}

/// The app's routes, and the fallback that answers page paths with the
/// app (everything else as the server would: 404 envelope).
pub fn routes(csp: String) -> (Router, Router) {
    let pages = Pages {
        csp: HeaderValue::from_str(&csp)
            .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'")),
    };
    let files = Router::new()
        .route("/assets/{*file}", get(file))
        .route("/favicon.svg", get(file))
        .layer(CompressionLayer::new());
    let fallback = Router::new()
        .fallback(page)
        .with_state(pages)
        .layer(CompressionLayer::new());
    (files, fallback)
}

async fn file(req: Request) -> Response {
    let path = req.uri().path();
    let Some(bytes) = asset(path) else {
        return respond::fallback(req).await;
    };
    // Vite names every file under /assets by its content hash.
    let cache = if path.starts_with("/assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    (
        [
            (header::CONTENT_TYPE, content_type(path)),
            (header::CACHE_CONTROL, cache),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        bytes,
    )
        .into_response()
}

async fn page(State(pages): State<Pages>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let is_page =
        matches!(*req.method(), Method::GET | Method::HEAD) && !is_api(&path) && !is_file(&path);
    if !is_page {
        return respond::fallback(req).await;
    }
    let body = match asset("/index.html") {
        Some(html) => Body::from(html),
        None => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "The web app is not built into this binary: run scripts/build-web.sh, then build scout again. The API is served at /api/v1 and over gRPC.\n",
            )
                .into_response();
        }
    };
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::CONTENT_SECURITY_POLICY, pages.csp.clone());
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_the_blob_store_and_nothing_else() {
        let local = content_security_policy(&[]);
        assert!(local.contains("connect-src 'self';"), "{local}");
        assert!(!local.contains("unsafe"), "{local}");
        let s3 = content_security_policy(&["https://oss.example.com".into()]);
        assert!(
            s3.contains("connect-src 'self' https://oss.example.com"),
            "{s3}"
        );
        assert!(
            s3.contains("media-src 'self' blob: https://oss.example.com"),
            "{s3}"
        );
    }

    #[test]
    fn api_paths_are_not_pages() {
        assert!(is_api("/api/v1/tasks"));
        assert!(is_api("/blobs/videos/1/2/a.mp4"));
        assert!(!is_api("/tasks/12"));
        assert!(!is_api("/"));
        assert!(is_file("/favicon.ico") && is_file("/a/robots.txt"));
        assert!(!is_file("/tasks/12") && !is_file("/"));
    }
}
