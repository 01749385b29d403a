//! The platforms behind one trait: linking an account (OAuth 2.0
//! authorization code, then refresh), uploading a video resumably,
//! following the platform's processing, and reading back the figures.
//!
//! Each adapter speaks its platform's documented API and nothing else; the
//! publisher (`crate::publisher`) owns the schedule, the retries and the
//! rows. What an adapter's failure means for the publication is its kind:
//! [`PlatformError::Rejected`] is final (the platform's reason shown), the
//! others are tried again.

pub mod douyin;
pub mod tiktok;
pub mod youtube;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use scout_common::config::{PlatformApp, PlatformsConfig};
use scout_proto::scout::publish::v1::{Platform, Privacy};
use serde_json::Value;

/// What a token grant gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    /// The access token.
    pub access_token: String,
    /// The refresh token; empty when the platform kept the old one.
    pub refresh_token: String,
    /// How long the access token lives.
    pub expires_in: Duration,
    /// The account's id, where the grant names it (Douyin, TikTok: open_id).
    pub external_id: String,
    /// Scopes granted.
    pub scopes: Vec<String>,
}

/// Who the linked account is.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Its id on the platform.
    pub external_id: String,
    /// Its name there.
    pub display_name: String,
}

/// A usable access token and the account it is for.
#[derive(Debug, Clone)]
pub struct Token {
    /// The access token.
    pub access: String,
    /// The account's id (open_id), which some APIs take as a parameter.
    pub external_id: String,
}

/// The video and what to post with it.
#[derive(Debug, Clone)]
pub struct Video<'a> {
    /// The MP4 on local disk.
    pub path: &'a Path,
    /// Its size in bytes.
    pub size: u64,
    /// Title.
    pub title: &'a str,
    /// Topics, each starting with `#`.
    pub topics: &'a [String],
    /// Description (YouTube).
    pub description: &'a str,
    /// Who may see it.
    pub privacy: Privacy,
    /// Douyin POI id; empty for none.
    pub poi_id: &'a str,
    /// Whether anything in it was machine-made (the platform's AI-generated
    /// or synthetic-content declaration is made when it is).
    pub ai_generated: bool,
    /// 9:16 and under 60 s (YouTube Shorts).
    pub short: bool,
}

impl Video<'_> {
    /// The title followed by the topics: the caption of Douyin and TikTok.
    pub fn caption(&self) -> String {
        let mut s = self.title.to_string();
        for t in self.topics {
            s.push(' ');
            s.push_str(t);
        }
        s
    }
}

/// The upload got through.
#[derive(Debug, Clone, PartialEq)]
pub struct Posted {
    /// The platform's id of the post.
    pub post_id: String,
    /// Its URL once live; empty while processing.
    pub url: String,
    /// The platform still has to process it (`check` until done).
    pub processing: bool,
}

/// Where a processing post stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// Not done yet.
    Processing,
    /// Live.
    Published {
        /// Its URL.
        url: String,
        /// The post's id once live, where it differs from the upload's
        /// (TikTok: the publish id becomes a video id).
        post_id: Option<String>,
    },
    /// The platform refused it; its reason.
    Failed(String),
}

/// A post's figures now (cumulative).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    /// The post.
    pub post_id: String,
    /// Views.
    pub views: i64,
    /// Likes.
    pub likes: i64,
    /// Comments.
    pub comments: i64,
    /// Shares.
    pub shares: i64,
    /// Watch time, where the API gives it.
    pub watch_seconds: f64,
}

/// Why a platform call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlatformError {
    /// The access token was refused: refresh and try again.
    #[error("{0}")]
    Unauthorized(String),
    /// The refresh token (or the code) was refused: the user links again.
    #[error("{0}")]
    InvalidGrant(String),
    /// The platform refused the video or the request: final.
    #[error("{0}")]
    Rejected(String),
    /// Too many requests; wait at least `retry_after` when given.
    #[error("{message}")]
    RateLimited {
        /// The platform's words.
        message: String,
        /// Its Retry-After.
        retry_after: Option<Duration>,
    },
    /// An outage or a dropped connection: try again later.
    #[error("{0}")]
    Transient(String),
}

/// Saves an upload's resumable state as it advances, so a later attempt
/// (after a dropped connection or a killed node) resumes rather than
/// starting over.
#[async_trait::async_trait]
pub trait Checkpoint: Send + Sync {
    /// Stores `session` (the adapter's own JSON).
    async fn save(&self, session: &Value);
}

/// One platform.
#[async_trait::async_trait]
pub trait PlatformClient: Send + Sync {
    /// Which.
    fn platform(&self) -> Platform;
    /// The authorization page for `state`, coming back to `redirect`.
    fn authorize_url(&self, state: &str, redirect: &str) -> String;
    /// Trades an authorization code for tokens.
    async fn exchange(&self, code: &str, redirect: &str) -> Result<Grant, PlatformError>;
    /// A new access token from the refresh token.
    async fn refresh(&self, refresh_token: &str) -> Result<Grant, PlatformError>;
    /// Who the token's account is.
    async fn profile(&self, token: &Token) -> Result<Profile, PlatformError>;
    /// Uploads and posts the video, resuming from `session` (the last saved
    /// state, `Value::Null` at first).
    async fn upload(
        &self,
        token: &Token,
        video: &Video<'_>,
        session: Value,
        checkpoint: &dyn Checkpoint,
    ) -> Result<Posted, PlatformError>;
    /// Where a post the platform is processing stands (`short`: it was
    /// posted as a Short, for its URL).
    async fn check(
        &self,
        token: &Token,
        post_id: &str,
        short: bool,
    ) -> Result<Check, PlatformError>;
    /// The posts' figures now.
    async fn figures(
        &self,
        token: &Token,
        post_ids: &[String],
    ) -> Result<Vec<Figures>, PlatformError>;
}

/// Builds a platform's client over the shared HTTP client, its app and
/// the chunk size.
type Maker = fn(reqwest::Client, PlatformApp, u64) -> Arc<dyn PlatformClient>;

/// The configured platforms (those with a client id).
#[derive(Clone, Default)]
pub struct Platforms {
    clients: BTreeMap<i32, Arc<dyn PlatformClient>>,
}

impl Platforms {
    /// Every platform whose app is configured.
    pub fn from_config(config: &PlatformsConfig) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(300))
            .build()?;
        let chunk = config.chunk_bytes;
        let apps: [(Platform, &PlatformApp, Maker); 3] = [
            (Platform::Youtube, &config.youtube, |h, a, c| {
                Arc::new(youtube::YouTube::new(h, a, c))
            }),
            (Platform::Douyin, &config.douyin, |h, a, c| {
                Arc::new(douyin::Douyin::new(h, a, c))
            }),
            (Platform::Tiktok, &config.tiktok, |h, a, c| {
                Arc::new(tiktok::TikTok::new(h, a, c))
            }),
        ];
        let clients = apps
            .into_iter()
            .filter(|(_, app, _)| app.configured())
            .map(|(p, app, make)| (p as i32, make(http.clone(), app.clone(), chunk)))
            .collect();
        Ok(Self { clients })
    }

    /// The platforms a user can post to here: those configured, then
    /// Xiaohongshu (by hand).
    pub fn available(&self) -> Vec<i32> {
        let mut out: Vec<i32> = self.clients.keys().copied().collect();
        out.push(Platform::Xiaohongshu as i32);
        out
    }

    /// The client of `platform`, if configured.
    pub fn get(&self, platform: Platform) -> Option<Arc<dyn PlatformClient>> {
        self.clients.get(&(platform as i32)).cloned()
    }
}

/// The config key of a platform's app, for messages.
pub fn config_key(platform: Platform) -> &'static str {
    match platform {
        Platform::Douyin => "platforms.douyin.client_id",
        Platform::Youtube => "platforms.youtube.client_id",
        Platform::Tiktok => "platforms.tiktok.client_id",
        Platform::Xiaohongshu | Platform::Unspecified => "platforms",
    }
}

/// The platform's lowercase name, as stored.
pub fn name(platform: Platform) -> &'static str {
    match platform {
        Platform::Douyin => "douyin",
        Platform::Xiaohongshu => "xiaohongshu",
        Platform::Youtube => "youtube",
        Platform::Tiktok => "tiktok",
        Platform::Unspecified => "unspecified",
    }
}

/// The platform of a stored name.
pub fn parse(name: &str) -> Platform {
    match name {
        "douyin" => Platform::Douyin,
        "xiaohongshu" => Platform::Xiaohongshu,
        "youtube" => Platform::Youtube,
        "tiktok" => Platform::Tiktok,
        _ => Platform::Unspecified,
    }
}

/// A count in a platform's JSON, a number or a decimal string (YouTube's).
pub(crate) fn count(v: &Value, key: &str) -> i64 {
    match v.get(key) {
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}

/// The elements of the array at `at` (none when it is missing).
pub(crate) fn items<'a>(v: &'a Value, at: &str) -> impl Iterator<Item = &'a Value> {
    v.pointer(at)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// An id given as a string or a number (TikTok's 64-bit ids come as both).
pub(crate) fn id_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The account a profile answer names: the id at `id_at` (the token's
/// when absent) and the name at `name_at`.
pub(crate) fn profile_at(v: &Value, id_at: &str, name_at: &str, token: &Token) -> Profile {
    let text = |at: &str| v.pointer(at).and_then(Value::as_str).map(str::to_string);
    Profile {
        external_id: text(id_at).unwrap_or_else(|| token.external_id.clone()),
        display_name: text(name_at).unwrap_or_default(),
    }
}

/// A transient failure mid-upload, saying how far the platform's copy got
/// (the next attempt resumes from there).
pub(crate) fn interrupted(why: &str, done: u64, total: u64, unit: &str) -> PlatformError {
    PlatformError::Transient(format!(
        "{why}; {done} of {total} {unit} confirmed, the upload resumes from there"
    ))
}

/// An answer from a platform: status, headers and body.
pub(crate) struct Answer {
    pub status: reqwest::StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: bytes::Bytes,
}

impl Answer {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The start of the body, for messages.
    pub fn snippet(&self) -> String {
        String::from_utf8_lossy(&self.body)
            .chars()
            .take(300)
            .collect()
    }

    /// Its Retry-After, in seconds.
    pub fn retry_after(&self) -> Option<Duration> {
        self.headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs)
    }
}

/// Sends a request; a connection failure or timeout is transient, naming
/// `what`.
pub(crate) async fn send(
    req: reqwest::RequestBuilder,
    what: &str,
) -> Result<Answer, PlatformError> {
    let resp = req
        .send()
        .await
        .map_err(|e| PlatformError::Transient(format!("{what}: {}", without_url(&e))))?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp
        .bytes()
        .await
        .map_err(|e| PlatformError::Transient(format!("{what}: {}", without_url(&e))))?;
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// A reqwest error without its URL (which may carry a token).
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_request() {
        "the connection dropped"
    } else {
        "the request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind} ({detail})")
    }
}

/// What an HTTP status says about a call that did not succeed, with the
/// platform's own words.
pub(crate) fn by_status(a: &Answer, what: &str, words: String) -> PlatformError {
    let message = format!("{what}: {words}");
    match a.status.as_u16() {
        401 => PlatformError::Unauthorized(message),
        429 => PlatformError::RateLimited {
            message,
            retry_after: a.retry_after(),
        },
        408 | 500..=599 => PlatformError::Transient(format!("{message} (HTTP {})", a.status)),
        _ => PlatformError::Rejected(message),
    }
}

/// `grant` from the standard OAuth 2.0 token answer (RFC 6749 §5.1).
pub(crate) fn oauth_grant(v: &Value, external_id_key: &str) -> Option<Grant> {
    let access_token = v.get("access_token")?.as_str()?.to_string();
    Some(Grant {
        access_token,
        refresh_token: v
            .get("refresh_token")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        expires_in: Duration::from_secs(
            v.get("expires_in").and_then(Value::as_u64).unwrap_or(3600),
        ),
        external_id: v
            .get(external_id_key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        scopes: v
            .get("scope")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .split([' ', ','])
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

/// The authorization page URL with its query.
pub(crate) fn authorize(app: &PlatformApp, pairs: &[(&str, &str)]) -> String {
    match url::Url::parse_with_params(&app.authorize_url, pairs) {
        Ok(u) => u.to_string(),
        Err(_) => app.authorize_url.clone(),
    }
}

/// Reads `len` bytes at `offset` of the file.
pub(crate) async fn read_chunk(
    path: &Path,
    offset: u64,
    len: u64,
) -> Result<Vec<u8>, PlatformError> {
    use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};
    let fail = |e: std::io::Error| PlatformError::Transient(format!("reading the video: {e}"));
    let mut f = tokio::fs::File::open(path).await.map_err(fail)?;
    f.seek(std::io::SeekFrom::Start(offset))
        .await
        .map_err(fail)?;
    let mut buf = Vec::with_capacity(len as usize);
    f.take(len).read_to_end(&mut buf).await.map_err(fail)?;
    Ok(buf)
}
