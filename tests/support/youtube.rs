//! A local server speaking YouTube's wire format, for the publishing tests
//! and the browser flow: Google's authorization page (it approves at once
//! and redirects back with a code) and token endpoint (code and refresh
//! grants, `invalid_grant`), the resumable upload protocol (`Location`,
//! `Content-Range`, 308 with `Range`, `bytes */N`), `videos.list` (processing
//! status, statistics), `channels.list?mine=true`, and its error bodies
//! (401 authError, 5xx backendError). Knobs on [`Yt`] make it fail.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse as _, Response};
use serde_json::{Value, json};

/// A finished video: its metadata, its bytes, the verdict it reports.
pub type Stored = (Value, Vec<u8>, (&'static str, &'static str));

/// The fake YouTube's state and its knobs.
#[derive(Default)]
pub struct Yt {
    pub base: String,
    /// Access tokens it accepts.
    pub valid: Vec<String>,
    /// Refresh token → whether it still works.
    pub refresh: HashMap<String, bool>,
    pub issued: u32,
    pub refreshes: u32,
    /// The next data PUT keeps only the first half of its bytes, then 503.
    pub drop_next_chunk: bool,
    /// Every upload answered 503 while set.
    pub uploads_down: bool,
    /// Every statistics read answered 503 while set.
    pub stats_down: bool,
    /// uploadStatus the next finished videos report when listed.
    pub verdict: Option<(&'static str, &'static str)>,
    /// Session id → (metadata, bytes so far, total).
    pub sessions: HashMap<u32, (Value, Vec<u8>, u64)>,
    /// Session ids asked "how much arrived" (`bytes */N`).
    pub queries: Vec<u32>,
    /// Video id → (metadata, bytes, verdict).
    pub videos: HashMap<String, Stored>,
    pub views: i64,
    /// A data PUT arriving once a session holds this many bytes hangs (as
    /// a stalled connection does) and then fails.
    pub hang_at: Option<usize>,
    /// Data PUTs that hung.
    pub hung: u32,
}

/// The shared state.
pub type Fake = Arc<Mutex<Yt>>;

/// Its state, even after a panicking handler.
pub fn lock(fake: &Fake) -> std::sync::MutexGuard<'_, Yt> {
    fake.lock().unwrap_or_else(|p| p.into_inner())
}

fn google_error(status: StatusCode, reason: &str, message: &str) -> Response {
    (
        status,
        axum::Json(
            json!({"error": {"code": status.as_u16(), "message": message,
            "errors": [{"reason": reason, "domain": "youtube", "message": message}]}}),
        ),
    )
        .into_response()
}

fn authorized(fake: &Fake, headers: &HeaderMap) -> bool {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    lock(fake).valid.iter().any(|t| t == token)
}

fn unauthorized() -> Response {
    google_error(
        StatusCode::UNAUTHORIZED,
        "authError",
        "Request had invalid authentication credentials.",
    )
}

async fn token(fake: Fake, body: Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    if form.get("client_id").map(String::as_str) != Some("yt-client")
        || form.get("client_secret").map(String::as_str) != Some("yt-secret")
    {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_client", "error_description": "The OAuth client was not found."})),
        )
            .into_response();
    }
    let mut y = lock(&fake);
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") if form.get("code").map(String::as_str) == Some("good-code") => {
            y.issued += 1;
            let access = format!("ya29.ACCESS-{}", y.issued);
            let refresh = format!("1//REFRESH-{}", y.issued);
            y.valid.push(access.clone());
            y.refresh.insert(refresh.clone(), true);
            axum::Json(json!({"access_token": access, "expires_in": 3599, "refresh_token": refresh,
                "scope": "https://www.googleapis.com/auth/youtube.upload https://www.googleapis.com/auth/youtube.readonly",
                "token_type": "Bearer"})).into_response()
        }
        Some("refresh_token")
            if form
                .get("refresh_token")
                .and_then(|r| y.refresh.get(r))
                .copied()
                .unwrap_or(false) =>
        {
            y.issued += 1;
            y.refreshes += 1;
            let access = format!("ya29.ACCESS-{}", y.issued);
            y.valid.push(access.clone());
            axum::Json(json!({"access_token": access, "expires_in": 3599,
                "scope": "https://www.googleapis.com/auth/youtube.upload", "token_type": "Bearer"}))
            .into_response()
        }
        _ => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_grant", "error_description": "Token has been expired or revoked."})),
        )
            .into_response(),
    }
}

async fn channels(fake: Fake, headers: HeaderMap, q: Query<HashMap<String, String>>) -> Response {
    if !authorized(&fake, &headers) {
        return unauthorized();
    }
    assert_eq!(q.get("mine").map(String::as_str), Some("true"));
    axum::Json(json!({"kind": "youtube#channelListResponse",
        "items": [{"kind": "youtube#channel", "id": "UCshopscout", "snippet": {"title": "探店小王"}}]}))
    .into_response()
}

async fn open(
    fake: Fake,
    headers: HeaderMap,
    q: Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    if !authorized(&fake, &headers) {
        return unauthorized();
    }
    if lock(&fake).uploads_down {
        return google_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "backendError",
            "Backend Error",
        );
    }
    assert_eq!(q.get("uploadType").map(String::as_str), Some("resumable"));
    assert_eq!(q.get("part").map(String::as_str), Some("snippet,status"));
    let total: u64 = headers
        .get("x-upload-content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("X-Upload-Content-Length");
    let meta: Value = serde_json::from_slice(&body).expect("metadata JSON");
    let mut y = lock(&fake);
    let id = y.sessions.len() as u32 + 1;
    y.sessions.insert(id, (meta, Vec::new(), total));
    let location = format!("{}/upload/session/{id}", y.base);
    (StatusCode::OK, [("location", location)]).into_response()
}

fn video_resource(id: &str, meta: &Value) -> Value {
    json!({"kind": "youtube#video", "id": id, "snippet": meta["snippet"],
        "status": {"uploadStatus": "uploaded", "privacyStatus": meta["status"]["privacyStatus"]}})
}

async fn chunk(fake: Fake, UrlPath(id): UrlPath<u32>, headers: HeaderMap, body: Bytes) -> Response {
    if !authorized(&fake, &headers) {
        return unauthorized();
    }
    let range = headers
        .get("content-range")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let hang = {
        let mut y = lock(&fake);
        let have = y.sessions.get(&id).map_or(0, |(_, b, _)| b.len());
        let hang = !range.starts_with("bytes */") && y.hang_at.is_some_and(|n| have >= n);
        if hang {
            y.hung += 1;
        }
        hang
    };
    if hang {
        tokio::time::sleep(std::time::Duration::from_secs(120)).await;
        return StatusCode::GATEWAY_TIMEOUT.into_response();
    }
    let mut y = lock(&fake);
    if y.uploads_down {
        return google_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "backendError",
            "Backend Error",
        );
    }
    let drop_now = std::mem::take(&mut y.drop_next_chunk);
    let verdict = y.verdict.unwrap_or(("processed", ""));
    let Some((meta, have, total)) = y.sessions.get_mut(&id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let total = *total;
    let received = |have: &Vec<u8>| {
        if have.is_empty() {
            (StatusCode::PERMANENT_REDIRECT, ()).into_response()
        } else {
            (
                StatusCode::PERMANENT_REDIRECT,
                [("range", format!("bytes=0-{}", have.len() - 1))],
            )
                .into_response()
        }
    };
    if range == format!("bytes */{total}") {
        let have_len = have.len() as u64;
        let meta = meta.clone();
        y.queries.push(id);
        if have_len == total {
            return axum::Json(video_resource(&format!("vid{id}"), &meta)).into_response();
        }
        let (_, have, _) = &y.sessions[&id];
        return received(have);
    }
    let start: u64 = range
        .strip_prefix("bytes ")
        .and_then(|r| r.split('-').next())
        .and_then(|s| s.parse().ok())
        .expect("Content-Range bytes a-b/N");
    assert_eq!(
        start,
        have.len() as u64,
        "a chunk must start where the session ends"
    );
    if drop_now {
        have.extend_from_slice(&body[..body.len() / 2]);
        return google_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "backendError",
            "Backend Error",
        );
    }
    have.extend_from_slice(&body);
    if have.len() as u64 == total {
        let (meta, bytes) = (meta.clone(), have.clone());
        let vid = format!("vid{id}");
        y.videos.insert(vid.clone(), (meta.clone(), bytes, verdict));
        return (StatusCode::CREATED, axum::Json(video_resource(&vid, &meta))).into_response();
    }
    received(have)
}

async fn videos(fake: Fake, headers: HeaderMap, q: Query<HashMap<String, String>>) -> Response {
    if !authorized(&fake, &headers) {
        return unauthorized();
    }
    let mut y = lock(&fake);
    let ids: Vec<String> = q
        .get("id")
        .map(|s| s.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    let part = q.get("part").cloned().unwrap_or_default();
    if part == "statistics" {
        if y.stats_down {
            return google_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "backendError",
                "Backend Error",
            );
        }
        y.views += 100;
        let views = y.views;
        let items: Vec<Value> = ids
            .iter()
            .filter(|id| y.videos.contains_key(*id))
            .map(|id| {
                json!({"id": id, "statistics": {"viewCount": views.to_string(), "likeCount": "7",
                "favoriteCount": "0", "commentCount": "2"}})
            })
            .collect();
        return axum::Json(json!({"items": items})).into_response();
    }
    let items: Vec<Value> = ids
        .iter()
        .filter_map(|id| y.videos.get(id).map(|v| (id, v)))
        .map(|(id, (_, _, (status, reason)))| {
            let mut s = json!({"uploadStatus": status});
            if *status == "rejected" {
                s["rejectionReason"] = json!(reason);
            }
            json!({"id": id, "status": s})
        })
        .collect();
    axum::Json(json!({"items": items})).into_response()
}

/// Serves it on loopback: its state and base URL.
pub async fn youtube() -> (Fake, String) {
    let fake: Fake = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    lock(&fake).base = base.clone();
    let (f1, f2, f3, f4, f5) = (
        fake.clone(),
        fake.clone(),
        fake.clone(),
        fake.clone(),
        fake.clone(),
    );
    let app = axum::Router::new()
        .route("/o/oauth2/v2/auth", axum::routing::get(authorize))
        .route("/token", axum::routing::post(move |b| token(f1.clone(), b)))
        .route(
            "/youtube/v3/channels",
            axum::routing::get(move |h, q| channels(f2.clone(), h, q)),
        )
        .route(
            "/upload/youtube/v3/videos",
            axum::routing::post(move |h, q, b| open(f3.clone(), h, q, b)),
        )
        .route(
            "/upload/session/{id}",
            axum::routing::put(move |p, h, b| chunk(f4.clone(), p, h, b)),
        )
        .route(
            "/youtube/v3/videos",
            axum::routing::get(move |h, q| videos(f5.clone(), h, q)),
        )
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (fake, base)
}

/// Google's consent page, approved at once: back to `redirect_uri` with a
/// code and the state.
async fn authorize(q: Query<HashMap<String, String>>) -> Response {
    let back = q.get("redirect_uri").cloned().unwrap_or_default();
    let state = q.get("state").cloned().unwrap_or_default();
    let mut url = match url::Url::parse(&back) {
        Ok(u) => u,
        Err(_) => return (StatusCode::BAD_REQUEST, "redirect_uri").into_response(),
    };
    url.query_pairs_mut()
        .append_pair("code", "good-code")
        .append_pair("state", &state);
    (StatusCode::FOUND, [("location", url.to_string())]).into_response()
}

/// `config` posting to the fake at `base` (client `yt-client`), with the
/// publisher's and the figures' clocks short enough for a test.
pub fn configure(config: &mut scout_common::config::Config, base: &str) {
    let yt = &mut config.platforms.youtube;
    yt.client_id = "yt-client".into();
    yt.client_secret = "yt-secret".into();
    yt.authorize_url = format!("{base}/o/oauth2/v2/auth");
    yt.token_url = format!("{base}/token");
    yt.api_url = base.into();
    config.platforms.poll_interval = std::time::Duration::from_millis(200);
    config.platforms.retry_delays = vec![
        std::time::Duration::from_millis(300),
        std::time::Duration::from_millis(300),
    ];
    config.platforms.stats_interval = std::time::Duration::from_secs(1);
    // Several chunks per video.
    config.platforms.chunk_bytes = 256 * 1024;
}
