//! YouTube Data API v3: Google OAuth 2.0 (offline access, refresh tokens),
//! the resumable upload protocol, `videos.list` for processing status and
//! statistics, `channels.list` for the account's name.
//!
//! The upload is resumable as Google documents it: `POST
//! /upload/youtube/v3/videos?uploadType=resumable&part=snippet,status` with
//! the metadata opens a session (its URL in `Location`); chunks are `PUT` to
//! it with `Content-Range: bytes a-b/total`, answered 308 with `Range` until
//! the last one, answered 200/201 with the video. After a dropped
//! connection, `PUT` with `Content-Range: bytes */total` asks how much
//! arrived and the upload goes on from there. The session URL is saved
//! after every chunk, so the next attempt resumes too.
//!
//! The post declares synthetic content (`status.containsSyntheticMedia`)
//! when anything in the video was machine-made; a 9:16 video under 60 s is
//! a Short (YouTube decides by shape and length; `#Shorts` is added to the
//! description).

use scout_common::config::PlatformApp;
use scout_proto::scout::publish::v1::{Platform, Privacy};
use serde_json::{Value, json};

use super::{
    Answer, Check, Checkpoint, Figures, Grant, PlatformClient, PlatformError, Posted, Profile,
    Token, Video, authorize, by_status, count, interrupted, items, oauth_grant, read_chunk, send,
};

/// People & Blogs.
const CATEGORY: &str = "22";
/// Longest title YouTube takes, in characters.
const TITLE_CHARS: usize = 100;

/// The YouTube adapter.
pub struct YouTube {
    http: reqwest::Client,
    app: PlatformApp,
    chunk: u64,
}

impl YouTube {
    /// Over `app` (client id and secret, Google's OAuth and API URLs).
    pub fn new(http: reqwest::Client, app: PlatformApp, chunk: u64) -> Self {
        Self { http, app, chunk }
    }

    fn api(&self, path: &str) -> String {
        format!("{}{path}", self.app.api_url.trim_end_matches('/'))
    }

    async fn token(&self, form: &[(&str, &str)], what: &str) -> Result<Grant, PlatformError> {
        let a = send(self.http.post(&self.app.token_url).form(form), what).await?;
        let v = a.json();
        if a.status.is_success() {
            return oauth_grant(&v, "").ok_or_else(|| {
                PlatformError::Transient(format!("{what}: no access_token in {}", a.snippet()))
            });
        }
        let err = v.get("error").and_then(Value::as_str).unwrap_or_default();
        let words = match v.get("error_description").and_then(Value::as_str) {
            Some(d) => format!("{err}: {d}"),
            None => a.snippet(),
        };
        if err == "invalid_grant" {
            return Err(PlatformError::InvalidGrant(format!("{what}: {words}")));
        }
        Err(by_status(&a, what, words))
    }

    /// Opens an upload session: its URL.
    async fn open(&self, token: &Token, video: &Video<'_>) -> Result<String, PlatformError> {
        let title: String = video.title.chars().take(TITLE_CHARS).collect();
        let mut description = video.description.to_string();
        let tags: Vec<String> = video
            .topics
            .iter()
            .map(|t| t.trim_start_matches('#').to_string())
            .collect();
        for t in video.topics {
            if !description.contains(t.as_str()) {
                description.push_str(if description.is_empty() { "" } else { " " });
                description.push_str(t);
            }
        }
        if video.short && !description.contains("#Shorts") {
            description.push_str(if description.is_empty() {
                "#Shorts"
            } else {
                " #Shorts"
            });
        }
        let privacy = match video.privacy {
            Privacy::Unlisted => "unlisted",
            Privacy::Private => "private",
            Privacy::Public | Privacy::Unspecified => "public",
        };
        let body = json!({
            "snippet": {
                "title": title,
                "description": description,
                "tags": tags,
                "categoryId": CATEGORY,
            },
            "status": {
                "privacyStatus": privacy,
                "selfDeclaredMadeForKids": false,
                "containsSyntheticMedia": video.ai_generated,
            },
        });
        let req = self
            .http
            .post(self.api("/upload/youtube/v3/videos"))
            .query(&[("uploadType", "resumable"), ("part", "snippet,status")])
            .bearer_auth(&token.access)
            .header("X-Upload-Content-Length", video.size.to_string())
            .header("X-Upload-Content-Type", "video/mp4")
            .json(&body);
        let a = send(req, "opening the YouTube upload").await?;
        if !a.status.is_success() {
            return Err(api_error(&a, "opening the YouTube upload"));
        }
        a.headers
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| {
                PlatformError::Transient("YouTube opened no upload session (no Location)".into())
            })
    }

    /// How many bytes the session has: `Some(n)`, or the finished video.
    async fn received(
        &self,
        token: &Token,
        session: &str,
        size: u64,
    ) -> Result<Result<u64, Value>, PlatformError> {
        let req = self
            .http
            .put(session)
            .bearer_auth(&token.access)
            .header(reqwest::header::CONTENT_LENGTH, "0")
            .header(reqwest::header::CONTENT_RANGE, format!("bytes */{size}"));
        let a = send(req, "asking YouTube how much of the upload arrived").await?;
        match a.status.as_u16() {
            308 => Ok(Ok(next_offset(&a))),
            200 | 201 => Ok(Err(a.json())),
            404 | 410 => Err(PlatformError::Transient(
                "the YouTube upload session expired; starting again".into(),
            )),
            _ => Err(api_error(
                &a,
                "asking YouTube how much of the upload arrived",
            )),
        }
    }
}

/// The byte after the last one the session has (`Range: bytes=0-N`).
fn next_offset(a: &Answer) -> u64 {
    a.headers
        .get(reqwest::header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.rsplit('-').next())
        .and_then(|n| n.trim().parse::<u64>().ok())
        .map_or(0, |last| last + 1)
}

/// A YouTube error answer (`{"error": {"code", "message", "errors":
/// [{"reason"}]}}`) as our kind, in the API's own words.
fn api_error(a: &Answer, what: &str) -> PlatformError {
    let v = a.json();
    let message = v
        .pointer("/error/message")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| a.snippet());
    let reason = v
        .pointer("/error/errors/0/reason")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let words = if reason.is_empty() {
        message
    } else {
        format!("{message} ({reason})")
    };
    match reason {
        "quotaExceeded" | "rateLimitExceeded" | "userRateLimitExceeded" => {
            PlatformError::RateLimited {
                message: format!("{what}: {words}"),
                retry_after: a.retry_after(),
            }
        }
        _ => by_status(a, what, words),
    }
}

fn watch_url(id: &str, short: bool) -> String {
    if short {
        format!("https://www.youtube.com/shorts/{id}")
    } else {
        format!("https://www.youtube.com/watch?v={id}")
    }
}

/// What a finished upload's video resource says.
fn posted(v: &Value, short: bool) -> Result<Posted, PlatformError> {
    let id = v
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| PlatformError::Transient("YouTube's answer has no video id".into()))?;
    match judge(v, short) {
        Check::Failed(why) => Err(PlatformError::Rejected(why)),
        Check::Published { url, .. } => Ok(Posted {
            post_id: id.into(),
            url,
            processing: false,
        }),
        Check::Processing => Ok(Posted {
            post_id: id.into(),
            url: String::new(),
            processing: true,
        }),
    }
}

/// A video resource's upload status.
fn judge(v: &Value, short: bool) -> Check {
    let id = v.get("id").and_then(Value::as_str).unwrap_or_default();
    let status = v.pointer("/status/uploadStatus").and_then(Value::as_str);
    match status {
        Some("processed") => Check::Published {
            url: watch_url(id, short),
            post_id: None,
        },
        Some("rejected") => Check::Failed(format!(
            "YouTube rejected the video: {}",
            v.pointer("/status/rejectionReason")
                .and_then(Value::as_str)
                .unwrap_or("no reason given")
        )),
        Some("failed") => Check::Failed(format!(
            "YouTube could not process the video: {}",
            v.pointer("/status/failureReason")
                .and_then(Value::as_str)
                .unwrap_or("no reason given")
        )),
        Some("deleted") => Check::Failed("the video was deleted on YouTube".into()),
        _ => Check::Processing,
    }
}

#[async_trait::async_trait]
impl PlatformClient for YouTube {
    fn platform(&self) -> Platform {
        Platform::Youtube
    }

    fn authorize_url(&self, state: &str, redirect: &str) -> String {
        let scope = self.app.scopes.join(" ");
        authorize(
            &self.app,
            &[
                ("client_id", self.app.client_id.as_str()),
                ("redirect_uri", redirect),
                ("response_type", "code"),
                ("scope", scope.as_str()),
                ("access_type", "offline"),
                ("prompt", "consent"),
                ("include_granted_scopes", "true"),
                ("state", state),
            ],
        )
    }

    async fn exchange(&self, code: &str, redirect: &str) -> Result<Grant, PlatformError> {
        self.token(
            &[
                ("code", code),
                ("client_id", self.app.client_id.as_str()),
                ("client_secret", self.app.client_secret.as_str()),
                ("redirect_uri", redirect),
                ("grant_type", "authorization_code"),
            ],
            "Google's token endpoint (authorization code)",
        )
        .await
    }

    async fn refresh(&self, refresh_token: &str) -> Result<Grant, PlatformError> {
        self.token(
            &[
                ("client_id", self.app.client_id.as_str()),
                ("client_secret", self.app.client_secret.as_str()),
                ("refresh_token", refresh_token),
                ("grant_type", "refresh_token"),
            ],
            "Google's token endpoint (refresh)",
        )
        .await
    }

    async fn profile(&self, token: &Token) -> Result<Profile, PlatformError> {
        let req = self
            .http
            .get(self.api("/youtube/v3/channels"))
            .query(&[("part", "snippet"), ("mine", "true")])
            .bearer_auth(&token.access);
        let a = send(req, "reading the YouTube channel").await?;
        if !a.status.is_success() {
            return Err(api_error(&a, "reading the YouTube channel"));
        }
        let v = a.json();
        let channel = v.pointer("/items/0").ok_or_else(|| {
            PlatformError::Rejected("this Google account has no YouTube channel to post to".into())
        })?;
        Ok(Profile {
            external_id: channel
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .into(),
            display_name: channel
                .pointer("/snippet/title")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .into(),
        })
    }

    async fn upload(
        &self,
        token: &Token,
        video: &Video<'_>,
        session: Value,
        checkpoint: &dyn Checkpoint,
    ) -> Result<Posted, PlatformError> {
        let size = video.size;
        let saved = session
            .get("upload_url")
            .and_then(Value::as_str)
            .map(str::to_string);
        let (url, mut offset) = match saved {
            Some(url) => match self.received(token, &url, size).await {
                Ok(Ok(n)) => (url, n),
                Ok(Err(done)) => return posted(&done, video.short),
                Err(PlatformError::Transient(why)) if why.contains("expired") => {
                    checkpoint.save(&Value::Null).await;
                    let url = self.open(token, video).await?;
                    (url, 0)
                }
                Err(e) => return Err(e),
            },
            None => (self.open(token, video).await?, 0),
        };
        checkpoint
            .save(&json!({ "upload_url": url, "offset": offset }))
            .await;
        loop {
            let len = self.chunk.min(size.saturating_sub(offset));
            let bytes = read_chunk(video.path, offset, len).await?;
            let last = offset + len;
            let range = if size == 0 {
                "bytes */0".to_string()
            } else {
                format!("bytes {offset}-{}/{size}", last.saturating_sub(1))
            };
            let req = self
                .http
                .put(&url)
                .bearer_auth(&token.access)
                .header(reqwest::header::CONTENT_TYPE, "video/mp4")
                .header(reqwest::header::CONTENT_RANGE, range)
                .body(bytes);
            let a = match send(req, "uploading to YouTube").await {
                Ok(a) => a,
                Err(PlatformError::Transient(why)) => {
                    return Err(interrupted(&why, offset, size, "bytes"));
                }
                Err(e) => return Err(e),
            };
            match a.status.as_u16() {
                200 | 201 => return posted(&a.json(), video.short),
                308 => {
                    offset = next_offset(&a);
                    checkpoint
                        .save(&json!({ "upload_url": url, "offset": offset }))
                        .await;
                }
                _ => {
                    let e = api_error(&a, "uploading to YouTube");
                    return Err(match e {
                        PlatformError::Transient(why) => interrupted(&why, offset, size, "bytes"),
                        other => other,
                    });
                }
            }
        }
    }

    async fn check(
        &self,
        token: &Token,
        post_id: &str,
        short: bool,
    ) -> Result<Check, PlatformError> {
        let req = self
            .http
            .get(self.api("/youtube/v3/videos"))
            .query(&[("part", "status,contentDetails"), ("id", post_id)])
            .bearer_auth(&token.access);
        let a = send(req, "reading the video's status on YouTube").await?;
        if !a.status.is_success() {
            return Err(api_error(&a, "reading the video's status on YouTube"));
        }
        let v = a.json();
        match v.pointer("/items/0") {
            Some(item) => Ok(judge(item, short)),
            None => Ok(Check::Failed("the video is gone from YouTube".into())),
        }
    }

    async fn figures(
        &self,
        token: &Token,
        post_ids: &[String],
    ) -> Result<Vec<Figures>, PlatformError> {
        let mut out = Vec::with_capacity(post_ids.len());
        // videos.list takes at most 50 ids.
        for ids in post_ids.chunks(50) {
            let req = self
                .http
                .get(self.api("/youtube/v3/videos"))
                .query(&[("part", "statistics"), ("id", &ids.join(","))])
                .bearer_auth(&token.access);
            let a = send(req, "reading the videos' statistics on YouTube").await?;
            if !a.status.is_success() {
                return Err(api_error(&a, "reading the videos' statistics on YouTube"));
            }
            let v = a.json();
            for item in items(&v, "/items") {
                let Some(id) = item.get("id").and_then(Value::as_str) else {
                    continue;
                };
                let s = item.get("statistics").cloned().unwrap_or(Value::Null);
                out.push(Figures {
                    post_id: id.into(),
                    views: count(&s, "viewCount"),
                    likes: count(&s, "likeCount"),
                    comments: count(&s, "commentCount"),
                    // The Data API counts no shares and no watch time (those
                    // are in the Analytics API, a separate grant).
                    shares: 0,
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
    fn an_upload_status_is_read_in_youtubes_words() {
        let v = json!({"id": "abc", "status": {"uploadStatus": "rejected", "rejectionReason": "duplicate"}});
        assert_eq!(
            judge(&v, true),
            Check::Failed("YouTube rejected the video: duplicate".into())
        );
        let v = json!({"id": "abc", "status": {"uploadStatus": "processed"}});
        assert_eq!(
            judge(&v, true),
            Check::Published {
                url: "https://www.youtube.com/shorts/abc".into(),
                post_id: None,
            }
        );
        assert_eq!(
            judge(
                &json!({"id": "abc", "status": {"uploadStatus": "uploaded"}}),
                false
            ),
            Check::Processing
        );
    }
}
