//! The Douyin and TikTok adapters end to end, one task posted to both in
//! one request. Each platform is a local server speaking its documented
//! wire format: Douyin's `{"data": {..., "error_code", "description"}}`
//! answers (2190008 expired token, 2100004 system busy), its OAuth
//! (`/oauth/access_token/`, `/oauth/refresh_token/`, `/oauth/userinfo/`),
//! the upload in parts and `/video/create/`, `/video/data/` with the review
//! state and the counts; TikTok's OAuth v2 (`/v2/oauth/token/`), the
//! Content Posting API (`creator_info/query`, `video/init` with
//! `FILE_UPLOAD`, chunks `PUT` with `Content-Range`, `status/fetch`) and
//! `/v2/video/query/`, with its `{"error": {"code"}}` answers.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse as _, Response};
use scout::mesh::Mesh;
use scout_proto::scout::publish::v1::publish_service_client::PublishServiceClient;
use scout_proto::scout::publish::v1::{
    GetPublicationStatsRequest, ListPublicationsRequest, Platform, Privacy, Publication,
    PublicationStatus, PublishRequest, StartAccountLinkRequest,
};
use serde_json::{Value, json};
use support::*;

type Publish = PublishServiceClient<AuthedChannel>;

#[derive(Default)]
struct Platforms {
    base: String,
    // Douyin.
    dy_valid: Vec<String>,
    dy_issued: u32,
    dy_refreshes: u32,
    /// The next part upload with this number fails (system busy).
    dy_fail_part: Option<u32>,
    /// Douyin's review finds the posts not suitable for public view.
    dy_reject: bool,
    /// (upload_id, part_number) of every part received.
    dy_parts: Vec<(String, u32)>,
    dy_uploads: HashMap<String, Vec<(u32, Vec<u8>)>>,
    dy_videos: HashMap<String, Vec<u8>>,
    dy_posts: HashMap<String, (Value, u32)>,
    // TikTok.
    tt_valid: Vec<String>,
    tt_refreshes: u32,
    tt_inits: Vec<Value>,
    /// The chunk PUT after this many accepted ones fails with 503 (once).
    tt_fail_after: Option<usize>,
    tt_uploads: HashMap<String, (Vec<u8>, u64)>,
    tt_ranges: Vec<String>,
    tt_status_reads: HashMap<String, u32>,
}

type Fake = Arc<Mutex<Platforms>>;

fn lock(f: &Fake) -> std::sync::MutexGuard<'_, Platforms> {
    f.lock().unwrap_or_else(|p| p.into_inner())
}

fn form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn dy_ok(data: Value) -> Response {
    let mut d = data;
    d["error_code"] = json!(0);
    d["description"] = json!("");
    axum::Json(
        json!({"data": d, "extra": {"error_code": 0, "description": "", "logid": "202612050000"}}),
    )
    .into_response()
}

fn dy_err(code: i64, description: &str) -> Response {
    axum::Json(
        json!({"data": {"error_code": code, "description": description},
        "extra": {"error_code": code, "description": description, "logid": "202612050001"}}),
    )
    .into_response()
}

fn dy_authorized(f: &Fake, h: &HeaderMap) -> bool {
    let t = h
        .get("access-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    lock(f).dy_valid.iter().any(|v| v == t)
}

async fn dy_token(f: Fake, body: Bytes) -> Response {
    let q = form(&body);
    if q.get("client_key").map(String::as_str) != Some("dy-key") {
        return dy_err(10003, "client_key 错误");
    }
    let mut y = lock(&f);
    let ok = match q.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            q.get("code").map(String::as_str) == Some("dy-code")
                && q.get("client_secret").map(String::as_str) == Some("dy-secret")
        }
        Some("refresh_token") => {
            y.dy_refreshes += 1;
            q.get("refresh_token").map(String::as_str) == Some("rft.dy")
        }
        _ => false,
    };
    if !ok {
        return dy_err(10007, "授权码或刷新令牌已过期");
    }
    y.dy_issued += 1;
    let access = format!("act.DY-{}", y.dy_issued);
    y.dy_valid.push(access.clone());
    dy_ok(
        json!({"access_token": access, "expires_in": 1_296_000, "open_id": "dy-open-1",
        "refresh_expires_in": 2_592_000, "refresh_token": "rft.dy", "scope": "user_info,video.create.bind,video.data.bind"}),
    )
}

async fn dy_userinfo(f: Fake, body: Bytes) -> Response {
    let q = form(&body);
    let t = q.get("access_token").cloned().unwrap_or_default();
    if !lock(&f).dy_valid.contains(&t) {
        return dy_err(2190008, "access_token过期,请刷新或重新授权");
    }
    dy_ok(json!({"open_id": q.get("open_id"), "nickname": "探店阿花"}))
}

async fn dy_init(f: Fake, h: HeaderMap, q: Query<HashMap<String, String>>) -> Response {
    if !dy_authorized(&f, &h) {
        return dy_err(2190008, "access_token过期,请刷新或重新授权");
    }
    assert_eq!(q.get("open_id").map(String::as_str), Some("dy-open-1"));
    let mut y = lock(&f);
    let id = format!("up{}", y.dy_uploads.len() + 1);
    y.dy_uploads.insert(id.clone(), Vec::new());
    dy_ok(json!({"upload_id": id}))
}

/// The bytes of the one file in a multipart body.
fn file_of(h: &HeaderMap, body: &[u8]) -> Vec<u8> {
    let ct = h
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let boundary = ct.split("boundary=").nth(1).expect("multipart boundary");
    let start = body
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("part headers")
        + 4;
    let end_marker = format!("\r\n--{boundary}--");
    let end = body
        .windows(end_marker.len())
        .rposition(|w| w == end_marker.as_bytes())
        .expect("closing boundary");
    assert!(String::from_utf8_lossy(&body[..start]).contains("name=\"video\""));
    body[start..end].to_vec()
}

async fn dy_part(
    f: Fake,
    h: HeaderMap,
    q: Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    if !dy_authorized(&f, &h) {
        return dy_err(2190008, "access_token过期,请刷新或重新授权");
    }
    let id = q.get("upload_id").cloned().unwrap_or_default();
    let n: u32 = q
        .get("part_number")
        .and_then(|n| n.parse().ok())
        .expect("part_number");
    let mut y = lock(&f);
    if y.dy_fail_part == Some(n) {
        y.dy_fail_part = None;
        return dy_err(2100004, "系统繁忙,请稍后再试");
    }
    y.dy_parts.push((id.clone(), n));
    let bytes = file_of(&h, &body);
    y.dy_uploads.entry(id).or_default().push((n, bytes));
    dy_ok(json!({}))
}

async fn dy_complete(f: Fake, h: HeaderMap, q: Query<HashMap<String, String>>) -> Response {
    if !dy_authorized(&f, &h) {
        return dy_err(2190008, "access_token过期,请刷新或重新授权");
    }
    let id = q.get("upload_id").cloned().unwrap_or_default();
    let mut y = lock(&f);
    let mut parts = y.dy_uploads.get(&id).cloned().unwrap_or_default();
    parts.sort_by_key(|(n, _)| *n);
    let bytes: Vec<u8> = parts.into_iter().flat_map(|(_, b)| b).collect();
    let vid = format!("v0200f{}", y.dy_videos.len() + 1);
    y.dy_videos.insert(vid.clone(), bytes);
    dy_ok(json!({"video": {"video_id": vid, "width": 1080, "height": 1920}}))
}

async fn dy_create(f: Fake, h: HeaderMap, body: Bytes) -> Response {
    if !dy_authorized(&f, &h) {
        return dy_err(2190008, "access_token过期,请刷新或重新授权");
    }
    let v: Value = serde_json::from_slice(&body).expect("JSON");
    let mut y = lock(&f);
    if !y
        .dy_videos
        .contains_key(v["video_id"].as_str().unwrap_or_default())
    {
        return dy_err(2100005, "参数不合法");
    }
    let item = format!("@9VwKzuuES{}", y.dy_posts.len() + 1);
    y.dy_posts.insert(item.clone(), (v, 0));
    dy_ok(json!({"item_id": item}))
}

async fn dy_data(f: Fake, h: HeaderMap, body: Bytes) -> Response {
    if !dy_authorized(&f, &h) {
        return dy_err(2190008, "access_token过期,请刷新或重新授权");
    }
    let v: Value = serde_json::from_slice(&body).expect("JSON");
    let mut y = lock(&f);
    let reject = y.dy_reject;
    let mut list = Vec::new();
    for id in v["item_ids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if let Some((_, reads)) = y.dy_posts.get_mut(id) {
            *reads += 1;
            // In review at first, then published.
            let status = if *reads < 2 {
                4
            } else if reject {
                2
            } else {
                1
            };
            list.push(json!({"item_id": id, "video_status": status, "is_reviewed": status == 1,
                "share_url": format!("https://www.iesdouyin.com/share/video/{}/", id.trim_start_matches('@')),
                "statistics": {"play_count": 300 * *reads, "digg_count": 20, "comment_count": 4,
                    "share_count": 3, "forward_count": 1, "download_count": 0}}));
        }
    }
    dy_ok(json!({"list": list}))
}

fn tt_err(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(json!({"data": {}, "error": {"code": code, "message": message, "log_id": "20261205TT"}}))).into_response()
}

fn tt_ok(data: Value) -> Response {
    axum::Json(
        json!({"data": data, "error": {"code": "ok", "message": "", "log_id": "20261205TT"}}),
    )
    .into_response()
}

fn tt_authorized(f: &Fake, h: &HeaderMap) -> bool {
    let t = h
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    lock(f).tt_valid.iter().any(|v| v == t)
}

fn tt_unauthorized() -> Response {
    tt_err(
        StatusCode::UNAUTHORIZED,
        "access_token_invalid",
        "The access token is invalid or not found in the request.",
    )
}

async fn tt_token(f: Fake, body: Bytes) -> Response {
    let q = form(&body);
    let mut y = lock(&f);
    let ok = q.get("client_key").map(String::as_str) == Some("tt-key")
        && q.get("client_secret").map(String::as_str) == Some("tt-secret")
        && match q.get("grant_type").map(String::as_str) {
            Some("authorization_code") => q.get("code").map(String::as_str) == Some("tt-code"),
            Some("refresh_token") => {
                y.tt_refreshes += 1;
                q.get("refresh_token").map(String::as_str) == Some("rft.tt")
            }
            _ => false,
        };
    if !ok {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_grant",
            "error_description": "Authorization code is expired.", "log_id": "20261205TT"})),
        )
            .into_response();
    }
    let access = format!("act.TT-{}", y.tt_valid.len() + y.tt_refreshes as usize + 1);
    y.tt_valid.push(access.clone());
    axum::Json(
        json!({"access_token": access, "expires_in": 86400, "open_id": "tt-open-1",
        "refresh_expires_in": 31_536_000, "refresh_token": "rft.tt",
        "scope": "user.info.basic,video.publish,video.list", "token_type": "Bearer"}),
    )
    .into_response()
}

async fn tt_user(f: Fake, h: HeaderMap) -> Response {
    if !tt_authorized(&f, &h) {
        return tt_unauthorized();
    }
    tt_ok(json!({"user": {"open_id": "tt-open-1", "display_name": "shop.scout"}}))
}

async fn tt_creator(f: Fake, h: HeaderMap) -> Response {
    if !tt_authorized(&f, &h) {
        return tt_unauthorized();
    }
    tt_ok(
        json!({"creator_nickname": "shop.scout", "creator_username": "shopscout",
        "privacy_level_options": ["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "FOLLOWER_OF_CREATOR"],
        "comment_disabled": false, "duet_disabled": false, "stitch_disabled": false, "max_video_post_duration_sec": 600}),
    )
}

async fn tt_init(f: Fake, h: HeaderMap, body: Bytes) -> Response {
    if !tt_authorized(&f, &h) {
        return tt_unauthorized();
    }
    let v: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(v["source_info"]["source"], "FILE_UPLOAD");
    let mut y = lock(&f);
    y.tt_inits.push(v.clone());
    let id = format!("v_pub_file~v2-1.{}", y.tt_inits.len());
    let size = v["source_info"]["video_size"].as_u64().unwrap_or(0);
    y.tt_uploads.insert(id.clone(), (Vec::new(), size));
    let url = format!("{}/upload/tt/{}", y.base, y.tt_inits.len());
    tt_ok(json!({"publish_id": id, "upload_url": url}))
}

async fn tt_chunk(
    f: Fake,
    axum::extract::Path(n): axum::extract::Path<usize>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    let range = h
        .get("content-range")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let mut y = lock(&f);
    if y.tt_fail_after == Some(y.tt_ranges.len()) {
        y.tt_fail_after = None;
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    y.tt_ranges.push(range.clone());
    let id = format!("v_pub_file~v2-1.{n}");
    let Some((have, size)) = y.tt_uploads.get_mut(&id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let first: usize = range
        .strip_prefix("bytes ")
        .and_then(|r| r.split('-').next())
        .and_then(|s| s.parse().ok())
        .expect("Content-Range");
    assert_eq!(first, have.len(), "chunks arrive in order, once each");
    have.extend_from_slice(&body);
    if have.len() as u64 == *size {
        StatusCode::CREATED
    } else {
        StatusCode::PARTIAL_CONTENT
    }
    .into_response()
}

async fn tt_status(f: Fake, h: HeaderMap, body: Bytes) -> Response {
    if !tt_authorized(&f, &h) {
        return tt_unauthorized();
    }
    let v: Value = serde_json::from_slice(&body).expect("JSON");
    let id = v["publish_id"].as_str().unwrap_or_default().to_string();
    let mut y = lock(&f);
    let reads = {
        let r = y.tt_status_reads.entry(id.clone()).or_default();
        *r += 1;
        *r
    };
    if reads < 2 {
        return tt_ok(json!({"status": "PROCESSING_UPLOAD", "uploaded_bytes": 0}));
    }
    tt_ok(
        json!({"status": "PUBLISH_COMPLETE", "publicaly_available_post_id": [7_450_000_000_000_000_001_i64]}),
    )
}

async fn tt_query(f: Fake, h: HeaderMap, body: Bytes) -> Response {
    if !tt_authorized(&f, &h) {
        return tt_unauthorized();
    }
    let v: Value = serde_json::from_slice(&body).expect("JSON");
    let videos: Vec<Value> = v["filters"]["video_ids"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|id| json!({"id": id, "view_count": 900, "like_count": 50, "comment_count": 6, "share_count": 9}))
        .collect();
    tt_ok(json!({"videos": videos, "cursor": 0, "has_more": false}))
}

async fn platforms() -> (Fake, String) {
    let fake: Fake = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    lock(&fake).base = base.clone();
    let f = || fake.clone();
    let (a, b, c, d, e, g, i) = (f(), f(), f(), f(), f(), f(), f());
    let (j, k, l, m, n, o, p, r) = (f(), f(), f(), f(), f(), f(), f(), f());
    use axum::routing::{get, post, put};
    let app = axum::Router::new()
        .route(
            "/oauth/access_token/",
            post(move |body| dy_token(a.clone(), body)),
        )
        .route(
            "/oauth/refresh_token/",
            post(move |body| dy_token(b.clone(), body)),
        )
        .route(
            "/oauth/userinfo/",
            post(move |body| dy_userinfo(c.clone(), body)),
        )
        .route(
            "/video/part/init/",
            post(move |h, q| dy_init(d.clone(), h, q)),
        )
        .route(
            "/video/part/upload/",
            post(move |h, q, body| dy_part(e.clone(), h, q, body)),
        )
        .route(
            "/video/part/complete/",
            post(move |h, q| dy_complete(g.clone(), h, q)),
        )
        .route(
            "/video/create/",
            post(move |h, body| dy_create(i.clone(), h, body)),
        )
        .route(
            "/video/data/",
            post(move |h, body| dy_data(j.clone(), h, body)),
        )
        .route(
            "/v2/oauth/token/",
            post(move |body| tt_token(k.clone(), body)),
        )
        .route("/v2/user/info/", get(move |h| tt_user(l.clone(), h)))
        .route(
            "/v2/post/publish/creator_info/query/",
            post(move |h| tt_creator(m.clone(), h)),
        )
        .route(
            "/v2/post/publish/video/init/",
            post(move |h, body| tt_init(n.clone(), h, body)),
        )
        .route(
            "/upload/tt/{n}",
            put(move |path, h, body| tt_chunk(o.clone(), path, h, body)),
        )
        .route(
            "/v2/post/publish/status/fetch/",
            post(move |h, body| tt_status(p.clone(), h, body)),
        )
        .route(
            "/v2/video/query/",
            post(move |h, body| tt_query(r.clone(), h, body)),
        )
        .layer(axum::extract::DefaultBodyLimit::max(128 * 1024 * 1024));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (fake, base)
}

async fn wait_both(
    publish: &mut Publish,
    task_id: i64,
    want: PublicationStatus,
) -> Vec<Publication> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let items = publish
            .list_publications(ListPublicationsRequest { task_id })
            .await
            .expect("list")
            .into_inner()
            .items;
        if items.iter().all(|p| p.status == want as i32) {
            return items;
        }
        assert!(Instant::now() < deadline, "not all {want:?}: {items:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn a_task_is_posted_to_douyin_and_tiktok_in_one_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("files");
    let (fake, base) = platforms().await;
    let mut config = embedded_config(dir.path());
    let c = &mut config.platforms;
    c.douyin.client_id = "dy-key".into();
    c.douyin.client_secret = "dy-secret".into();
    c.douyin.authorize_url = format!("{base}/platform/oauth/connect/");
    c.douyin.token_url = format!("{base}/oauth/access_token/");
    c.douyin.api_url = base.clone();
    c.tiktok.client_id = "tt-key".into();
    c.tiktok.client_secret = "tt-secret".into();
    c.tiktok.authorize_url = format!("{base}/v2/auth/authorize/");
    c.tiktok.token_url = format!("{base}/v2/oauth/token/");
    c.tiktok.api_url = base.clone();
    c.poll_interval = Duration::from_millis(200);
    c.retry_delays = vec![Duration::from_millis(300), Duration::from_millis(300)];
    c.stats_interval = Duration::from_secs(1);
    config.edge.rate_limits.default.limit = 100_000;
    let mesh = Mesh::start(config).await.expect("mesh");
    let edge = mesh.edge_url();
    let me = login(&edge, dir.path()).await;
    let mut tasks: UserTasks =
        scout_proto::scout::tasks::v1::tasks_service_client::TasksServiceClient::new(
            authed_channel(&edge, &me.access),
        );
    let mut publish: Publish = PublishServiceClient::new(authed_channel(&edge, &me.access));

    // Each platform's authorization page with our client key.
    let page = publish
        .start_account_link(StartAccountLinkRequest {
            platform: Platform::Douyin as i32,
        })
        .await
        .expect("start")
        .into_inner()
        .authorize_url;
    assert!(
        page.starts_with(&format!("{base}/platform/oauth/connect/?client_key=dy-key")),
        "{page}"
    );
    assert!(
        page.contains("scope=user_info%2Cvideo.create.bind"),
        "{page}"
    );
    let dy = link_account(&mut publish, Platform::Douyin, "dy-code").await;
    assert_eq!(
        (dy.external_id.as_str(), dy.display_name.as_str()),
        ("dy-open-1", "探店阿花")
    );
    let tt = link_account(&mut publish, Platform::Tiktok, "tt-code").await;
    assert_eq!(
        (tt.external_id.as_str(), tt.display_name.as_str()),
        ("tt-open-1", "shop.scout")
    );

    let task = completed_task(&mut tasks, files.path(), "老北京涮肉(簋街店)").await;
    let video = final_video(&mut tasks, task).await;

    // TikTok refuses a privacy the account does not offer, in its words.
    let mut private = PublishRequest {
        task_id: task,
        title: "簋街涮肉，铜锅炭火真香".into(),
        topics: vec!["#涮肉".into(), "#北京美食".into()],
        platforms: vec![Platform::Tiktok as i32],
        privacy: Privacy::Private as i32,
        ..Default::default()
    };
    let p = publish
        .publish(private.clone())
        .await
        .expect("publish")
        .into_inner()
        .publications;
    let refused = wait_both(&mut publish, task, PublicationStatus::Failed).await;
    assert_eq!(refused[0].id, p[0].id);
    assert!(
        refused[0]
            .error_message
            .contains("cannot post as SELF_ONLY"),
        "{:?}",
        refused[0]
    );

    // Douyin's review refuses a post: the publication says so, in Douyin's
    // words, after the upload and the create went through.
    lock(&fake).dy_reject = true;
    private.platforms = vec![Platform::Douyin as i32];
    private.privacy = Privacy::Public as i32;
    let p = publish
        .publish(private.clone())
        .await
        .expect("publish")
        .into_inner()
        .publications;
    let refused = wait_publication(&mut publish, task, p[0].id, PublicationStatus::Failed).await;
    assert!(refused.error_message.contains("不适宜公开"), "{refused:?}");
    let uploads_before = {
        let mut y = lock(&fake);
        y.dy_reject = false;
        y.dy_uploads.len()
    };

    // Both tokens have expired; Douyin is busy on the second part; TikTok
    // drops the second chunk. Each resumes where it was.
    {
        let mut y = lock(&fake);
        y.dy_valid.clear();
        y.tt_valid.clear();
        y.dy_fail_part = Some(2);
        y.tt_fail_after = Some(0);
    }
    private.privacy = Privacy::Public as i32;
    private.platforms = vec![Platform::Douyin as i32, Platform::Tiktok as i32];
    private.poi_id = "6601136811005708292".into();
    let made = publish
        .publish(private)
        .await
        .expect("publish")
        .into_inner()
        .publications;
    assert_eq!(made.len(), 2);
    let deadline = Instant::now() + Duration::from_secs(90);
    let (dy_post, tt_post) = loop {
        let items = publish
            .list_publications(ListPublicationsRequest { task_id: task })
            .await
            .expect("list")
            .into_inner()
            .items;
        let find = |id: i64| items.iter().find(|p| p.id == id).cloned().expect("listed");
        let (d, t) = (find(made[0].id), find(made[1].id));
        if d.status == PublicationStatus::Published as i32
            && t.status == PublicationStatus::Published as i32
        {
            break (d, t);
        }
        assert!(
            d.status != PublicationStatus::Failed as i32
                && t.status != PublicationStatus::Failed as i32,
            "{d:?} {t:?}"
        );
        assert!(Instant::now() < deadline, "not published: {d:?} {t:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    {
        let y = lock(&fake);
        assert!(
            y.dy_refreshes >= 1 && y.tt_refreshes >= 1,
            "both tokens refreshed"
        );
        // Douyin: one upload, part 1 sent once, the failed part 2 sent again.
        assert_eq!(
            y.dy_uploads.len(),
            uploads_before + 1,
            "the retry resumed the same upload"
        );
        let last = format!("up{}", uploads_before + 1);
        let ones = y
            .dy_parts
            .iter()
            .filter(|(id, n)| *id == last && *n == 1)
            .count();
        assert_eq!(ones, 1, "part 1 was not sent again: {:?}", y.dy_parts);
        assert!(
            y.dy_videos.values().any(|b| b == &video),
            "Douyin has the task's video, byte for byte"
        );
        let (post, _) = &y.dy_posts[&dy_post.post_id];
        assert_eq!(
            post["text"], "簋街涮肉，铜锅炭火真香 #涮肉 #北京美食",
            "{post}"
        );
        assert_eq!(post["poi_id"], "6601136811005708292", "{post}");
        // TikTok: declared AI-generated, public, the chunks in order.
        let init = y.tt_inits.last().expect("init");
        assert_eq!(init["post_info"]["is_aigc"], true, "{init}");
        assert_eq!(
            init["post_info"]["privacy_level"], "PUBLIC_TO_EVERYONE",
            "{init}"
        );
        assert_eq!(
            init["source_info"]["video_size"],
            video.len() as u64,
            "{init}"
        );
        let (bytes, _) = y
            .tt_uploads
            .values()
            .find(|(b, s)| b.len() as u64 == *s && *s > 0)
            .expect("a finished upload");
        assert!(
            bytes == &video,
            "TikTok has the task's video, byte for byte"
        );
    }
    assert!(
        dy_post.attempts >= 2 && tt_post.attempts >= 2,
        "{dy_post:?} {tt_post:?}"
    );
    assert_eq!(
        lock(&fake).tt_inits.len(),
        1,
        "TikTok's upload was resumed, not opened again (the refused post never opened one)"
    );
    assert!(
        dy_post
            .external_url
            .starts_with("https://www.iesdouyin.com/share/video/"),
        "{dy_post:?}"
    );
    assert_eq!(tt_post.post_id, "7450000000000000001", "{tt_post:?}");
    assert_eq!(
        tt_post.external_url,
        "https://www.tiktok.com/video/7450000000000000001"
    );

    // The figures of both, fetched by the platforms' ids.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = publish
            .get_publication_stats(GetPublicationStatsRequest {
                task_id: task,
                ..Default::default()
            })
            .await
            .expect("stats")
            .into_inner();
        if s.items.len() == 2 {
            let t = s.totals.expect("totals");
            let by = |p: Platform| {
                s.items
                    .iter()
                    .find(|i| i.platform == p as i32)
                    .and_then(|i| i.latest)
                    .expect("latest")
            };
            let (d, k) = (by(Platform::Douyin), by(Platform::Tiktok));
            assert_eq!((k.views, k.likes, k.comments, k.shares), (900, 50, 6, 9));
            assert_eq!(
                (d.likes, d.comments, d.shares),
                (20, 4, 4),
                "Douyin's shares count forwards"
            );
            assert_eq!(t.views, d.views + k.views);
            break;
        }
        assert!(Instant::now() < deadline, "no figures: {s:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    mesh.shutdown().await.expect("shutdown");
}
