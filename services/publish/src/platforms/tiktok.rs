//! TikTok: Login Kit OAuth v2 (`/v2/auth/authorize/`, `/v2/oauth/token/`),
//! the Content Posting API's direct post (`/v2/post/publish/creator_info/query/`,
//! `/v2/post/publish/video/init/` with `FILE_UPLOAD`, the chunks `PUT` to the
//! upload URL with `Content-Range`, `/v2/post/publish/status/fetch/`), and
//! `/v2/video/query/` for the figures.
//!
//! Answers carry `{"data": {...}, "error": {"code": "ok", "message",
//! "log_id"}}`. `access_token_invalid` asks for a refresh, `rate_limit_exceeded`
//! (429) and `internal_error` (5xx) are retried, the rest (`spam_risk_*`,
//! `privacy_level_option_mismatch`, `unaudited_client_can_only_post_to_private_accounts`,
//! …) are final with TikTok's message. The post is declared AI-generated
//! (`post_info.is_aigc`) when anything in it was machine-made. Chunks follow
//! TikTok's rule: 5-64 MB each, the remainder joined to the last; a video
//! under 5 MB goes whole. The session (publish id, upload URL, chunks done)
//! is saved after each chunk, so a dropped connection resumes at the next.

use scout_common::config::PlatformApp;
use scout_proto::scout::publish::v1::{Platform, Privacy};
use serde_json::{Value, json};

use super::{
    Answer, Check, Checkpoint, Figures, Grant, PlatformClient, PlatformError, Posted, Profile,
    Token, Video, authorize, count, id_text, interrupted, items, oauth_grant, profile_at,
    read_chunk, send,
};

/// TikTok's smallest chunk.
pub const MIN_CHUNK: u64 = 5 * 1024 * 1024;
/// Its largest.
pub const MAX_CHUNK: u64 = 64 * 1024 * 1024;

/// The TikTok adapter.
pub struct TikTok {
    http: reqwest::Client,
    app: PlatformApp,
    chunk: u64,
}

/// The chunk size and count TikTok's rule gives for a video of `size`.
pub fn chunking(size: u64, wanted: u64) -> (u64, u64) {
    if size <= MIN_CHUNK {
        return (size.max(1), 1);
    }
    let chunk = wanted.clamp(MIN_CHUNK, MAX_CHUNK).min(size);
    (chunk, (size / chunk).max(1))
}

impl TikTok {
    /// Over `app` (client key and secret, open.tiktokapis.com).
    pub fn new(http: reqwest::Client, app: PlatformApp, chunk: u64) -> Self {
        Self { http, app, chunk }
    }

    fn api(&self, path: &str) -> String {
        format!("{}{path}", self.app.api_url.trim_end_matches('/'))
    }

    async fn call(&self, req: reqwest::RequestBuilder, what: &str) -> Result<Value, PlatformError> {
        let a = send(req, what).await?;
        data(&a, what)
    }

    async fn token(&self, form: &[(&str, &str)], what: &str) -> Result<Grant, PlatformError> {
        let a = send(self.http.post(&self.app.token_url).form(form), what).await?;
        let v = a.json();
        if a.status.is_success() && v.get("access_token").is_some() {
            return oauth_grant(&v, "open_id").ok_or_else(|| {
                PlatformError::Transient(format!("{what}: no access_token in {}", a.snippet()))
            });
        }
        let err = v.get("error").and_then(Value::as_str).unwrap_or_default();
        let words = format!(
            "{err}: {}",
            v.get("error_description")
                .and_then(Value::as_str)
                .unwrap_or_default()
        );
        if a.status.is_server_error() {
            return Err(PlatformError::Transient(format!("{what}: {words}")));
        }
        Err(PlatformError::InvalidGrant(format!("{what}: {words}")))
    }

    async fn open(&self, token: &Token, video: &Video<'_>) -> Result<Value, PlatformError> {
        // TikTok asks to read the creator's options before each post.
        let info = self
            .call(
                self.http
                    .post(self.api("/v2/post/publish/creator_info/query/"))
                    .bearer_auth(&token.access)
                    .json(&json!({})),
                "reading the TikTok creator's options",
            )
            .await?;
        let wanted = match video.privacy {
            Privacy::Private => "SELF_ONLY",
            Privacy::Unlisted => "FOLLOWER_OF_CREATOR",
            Privacy::Public | Privacy::Unspecified => "PUBLIC_TO_EVERYONE",
        };
        let options: Vec<&str> = info
            .get("privacy_level_options")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if !options.is_empty() && !options.contains(&wanted) {
            return Err(PlatformError::Rejected(format!(
                "this TikTok account cannot post as {wanted}; it offers {}",
                options.join(", ")
            )));
        }
        let (chunk, count) = chunking(video.size, self.chunk);
        let title: String = video.caption().chars().take(2200).collect();
        self.call(
            self.http
                .post(self.api("/v2/post/publish/video/init/"))
                .bearer_auth(&token.access)
                .json(&json!({
                    "post_info": {
                        "title": title,
                        "privacy_level": wanted,
                        "disable_comment": false,
                        "disable_duet": false,
                        "disable_stitch": false,
                        "is_aigc": video.ai_generated,
                    },
                    "source_info": {
                        "source": "FILE_UPLOAD",
                        "video_size": video.size,
                        "chunk_size": chunk,
                        "total_chunk_count": count,
                    },
                })),
            "opening the TikTok post",
        )
        .await
    }
}

/// `data` of an answer, or what its `error.code` means.
fn data(a: &Answer, what: &str) -> Result<Value, PlatformError> {
    let v = a.json();
    let code = v
        .pointer("/error/code")
        .and_then(Value::as_str)
        .unwrap_or(if a.status.is_success() { "ok" } else { "" });
    if code == "ok" && a.status.is_success() {
        return Ok(v.get("data").cloned().unwrap_or(Value::Null));
    }
    let message = v
        .pointer("/error/message")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| a.snippet());
    let words = format!("{what}: {message} ({code})");
    Err(match code {
        "access_token_invalid" => PlatformError::Unauthorized(words),
        "rate_limit_exceeded" => PlatformError::RateLimited {
            message: words,
            retry_after: a.retry_after(),
        },
        "internal_error" | "" if a.status.is_server_error() || a.status.as_u16() == 429 => {
            if a.status.as_u16() == 429 {
                PlatformError::RateLimited {
                    message: words,
                    retry_after: a.retry_after(),
                }
            } else {
                PlatformError::Transient(words)
            }
        }
        "internal_error" => PlatformError::Transient(words),
        _ if a.status.is_server_error() => PlatformError::Transient(words),
        _ => PlatformError::Rejected(words),
    })
}

#[async_trait::async_trait]
impl PlatformClient for TikTok {
    fn platform(&self) -> Platform {
        Platform::Tiktok
    }

    fn authorize_url(&self, state: &str, redirect: &str) -> String {
        let scope = self.app.scopes.join(",");
        authorize(
            &self.app,
            &[
                ("client_key", self.app.client_id.as_str()),
                ("scope", scope.as_str()),
                ("response_type", "code"),
                ("redirect_uri", redirect),
                ("state", state),
            ],
        )
    }

    async fn exchange(&self, code: &str, redirect: &str) -> Result<Grant, PlatformError> {
        self.token(
            &[
                ("client_key", self.app.client_id.as_str()),
                ("client_secret", self.app.client_secret.as_str()),
                ("code", code),
                ("grant_type", "authorization_code"),
                ("redirect_uri", redirect),
            ],
            "TikTok's token endpoint (authorization code)",
        )
        .await
    }

    async fn refresh(&self, refresh_token: &str) -> Result<Grant, PlatformError> {
        self.token(
            &[
                ("client_key", self.app.client_id.as_str()),
                ("client_secret", self.app.client_secret.as_str()),
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
            "TikTok's token endpoint (refresh)",
        )
        .await
    }

    async fn profile(&self, token: &Token) -> Result<Profile, PlatformError> {
        let d = self
            .call(
                self.http
                    .get(self.api("/v2/user/info/"))
                    .query(&[("fields", "open_id,display_name")])
                    .bearer_auth(&token.access),
                "reading the TikTok account",
            )
            .await?;
        Ok(profile_at(&d, "/user/open_id", "/user/display_name", token))
    }

    async fn upload(
        &self,
        token: &Token,
        video: &Video<'_>,
        session: Value,
        checkpoint: &dyn Checkpoint,
    ) -> Result<Posted, PlatformError> {
        let (chunk, chunks) = chunking(video.size, self.chunk);
        let saved = (
            session.get("publish_id").and_then(Value::as_str),
            session.get("upload_url").and_then(Value::as_str),
        );
        let (publish_id, upload_url, mut done) = match saved {
            (Some(p), Some(u)) => (
                p.to_string(),
                u.to_string(),
                session
                    .get("chunks_done")
                    .and_then(Value::as_u64)
                    .unwrap_or(0),
            ),
            _ => {
                let d = self.open(token, video).await?;
                let p = d
                    .get("publish_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let u = d
                    .get("upload_url")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if p.is_empty() || u.is_empty() {
                    return Err(PlatformError::Transient(
                        "TikTok opened no upload (no publish_id or upload_url)".into(),
                    ));
                }
                checkpoint
                    .save(&json!({"publish_id": p, "upload_url": u, "chunks_done": 0}))
                    .await;
                (p.to_string(), u.to_string(), 0)
            }
        };
        while done < chunks {
            let first = done * chunk;
            // The last chunk takes the remainder.
            let last = if done + 1 == chunks {
                video.size
            } else {
                first + chunk
            };
            let bytes = read_chunk(video.path, first, last - first).await?;
            let req = self
                .http
                .put(&upload_url)
                .header(reqwest::header::CONTENT_TYPE, "video/mp4")
                .header(
                    reqwest::header::CONTENT_RANGE,
                    format!("bytes {first}-{}/{}", last.saturating_sub(1), video.size),
                )
                .body(bytes);
            let a = match send(req, "uploading to TikTok").await {
                Ok(a) => a,
                Err(PlatformError::Transient(why)) => {
                    return Err(interrupted(&why, done, chunks, "chunks"));
                }
                Err(e) => return Err(e),
            };
            match a.status.as_u16() {
                200 | 201 | 206 => {}
                // The upload URL lives an hour: start again.
                403 | 404 | 410 => {
                    checkpoint.save(&Value::Null).await;
                    return Err(PlatformError::Transient(format!(
                        "TikTok's upload URL expired (HTTP {}); starting the upload again",
                        a.status
                    )));
                }
                s if s >= 500 || s == 408 => {
                    return Err(interrupted(
                        &format!("uploading to TikTok: HTTP {}", a.status),
                        done,
                        chunks,
                        "chunks",
                    ));
                }
                _ => {
                    return Err(data(&a, "uploading to TikTok").err().unwrap_or_else(|| {
                        PlatformError::Rejected(format!("uploading to TikTok: HTTP {}", a.status))
                    }));
                }
            }
            done += 1;
            checkpoint
                .save(&json!({"publish_id": publish_id, "upload_url": upload_url, "chunks_done": done}))
                .await;
        }
        Ok(Posted {
            post_id: publish_id,
            url: String::new(),
            processing: true,
        })
    }

    async fn check(
        &self,
        token: &Token,
        post_id: &str,
        _short: bool,
    ) -> Result<Check, PlatformError> {
        let d = self
            .call(
                self.http
                    .post(self.api("/v2/post/publish/status/fetch/"))
                    .bearer_auth(&token.access)
                    .json(&json!({"publish_id": post_id})),
                "reading the post's status on TikTok",
            )
            .await?;
        Ok(match d.get("status").and_then(Value::as_str) {
            Some("PUBLISH_COMPLETE") => {
                let id = d
                    .pointer("/publicaly_available_post_id/0")
                    .map(id_text)
                    .unwrap_or_default();
                Check::Published {
                    url: if id.is_empty() {
                        String::new()
                    } else {
                        format!("https://www.tiktok.com/video/{id}")
                    },
                    post_id: (!id.is_empty()).then_some(id),
                }
            }
            Some("FAILED") => Check::Failed(format!(
                "TikTok could not post the video: {}",
                d.get("fail_reason")
                    .and_then(Value::as_str)
                    .unwrap_or("no reason given")
            )),
            _ => Check::Processing,
        })
    }

    async fn figures(
        &self,
        token: &Token,
        post_ids: &[String],
    ) -> Result<Vec<Figures>, PlatformError> {
        let mut out = Vec::with_capacity(post_ids.len());
        for ids in post_ids.chunks(20) {
            let d = self
                .call(
                    self.http
                        .post(self.api("/v2/video/query/"))
                        .query(&[(
                            "fields",
                            "id,view_count,like_count,comment_count,share_count",
                        )])
                        .bearer_auth(&token.access)
                        .json(&json!({"filters": {"video_ids": ids}})),
                    "reading the videos' figures on TikTok",
                )
                .await?;
            for v in items(&d, "/videos") {
                let Some(id) = v.get("id").map(id_text) else {
                    continue;
                };
                out.push(Figures {
                    post_id: id,
                    views: count(v, "view_count"),
                    likes: count(v, "like_count"),
                    comments: count(v, "comment_count"),
                    shares: count(v, "share_count"),
                    watch_seconds: 0.0,
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_follow_tiktoks_rule() {
        assert_eq!(chunking(1_000, 8 << 20), (1_000, 1));
        assert_eq!(chunking(5 << 20, 8 << 20), (5 << 20, 1));
        // 20 MB in 8 MB chunks: two, the last taking the remaining 4 MB.
        assert_eq!(chunking(20 << 20, 8 << 20), (8 << 20, 2));
        // Too small a wish is raised to 5 MB.
        assert_eq!(chunking(12 << 20, 256 << 10), (5 << 20, 2));
    }
}
