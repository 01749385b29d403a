//! Douyin open platform (open.douyin.com): OAuth (`/platform/oauth/connect/`,
//! `/oauth/access_token/`, `/oauth/refresh_token/`, `/oauth/userinfo/`), the
//! video uploaded in parts (`/video/part/init/`, `/video/part/upload/`,
//! `/video/part/complete/`), the post created (`/video/create/`: the caption
//! with its `#topics`, the POI), and its review and figures
//! (`/video/data/`).
//!
//! Every answer is `{"data": {..., "error_code", "description"}, "extra":
//! {...}}` with HTTP 200; `error_code` 0 is success. Access-token errors
//! (2190002 invalid, 2190008 expired) ask for a refresh; 2100004 (system
//! busy) and rate limits (2190004 too frequent, HTTP 429) are retried; the
//! rest are final with Douyin's description. Parts are at least 5 MiB
//! (Douyin's floor; the last may be smaller), uploaded in order; the session
//! (`upload_id`, parts done) is saved after each, so a dropped connection
//! resumes at the next part.
//!
//! Douyin's API has no field for an AI-generated declaration: the video
//! itself carries the labels China's rules require (the metadata label and
//! the visible mark, `aigc`), which Douyin reads on upload.

use scout_common::config::PlatformApp;
use scout_proto::scout::publish::v1::Platform;
use serde_json::{Value, json};

use super::{
    Answer, Check, Checkpoint, Figures, Grant, PlatformClient, PlatformError, Posted, Profile,
    Token, Video, authorize, count, interrupted, items, profile_at, read_chunk, send,
};

/// Douyin's smallest part.
pub const MIN_PART: u64 = 5 * 1024 * 1024;

/// The Douyin adapter.
pub struct Douyin {
    http: reqwest::Client,
    app: PlatformApp,
    part: u64,
}

impl Douyin {
    /// Over `app` (client key and secret, open.douyin.com).
    pub fn new(http: reqwest::Client, app: PlatformApp, chunk: u64) -> Self {
        Self {
            http,
            app,
            part: chunk.max(MIN_PART),
        }
    }

    fn api(&self, path: &str) -> String {
        format!("{}{path}", self.app.api_url.trim_end_matches('/'))
    }

    /// Sends and reads `data`, mapping Douyin's error codes.
    async fn call(&self, req: reqwest::RequestBuilder, what: &str) -> Result<Value, PlatformError> {
        let a = send(req, what).await?;
        data(&a, what)
    }

    async fn token(
        &self,
        url: &str,
        form: &[(&str, &str)],
        what: &str,
    ) -> Result<Grant, PlatformError> {
        let a = send(self.http.post(url).form(form), what).await?;
        let d = match data(&a, what) {
            Ok(d) => d,
            // A refused code or refresh token: the user links again.
            Err(PlatformError::Rejected(why) | PlatformError::Unauthorized(why)) => {
                return Err(PlatformError::InvalidGrant(why));
            }
            Err(e) => return Err(e),
        };
        let g = super::oauth_grant(&d, "open_id").ok_or_else(|| {
            PlatformError::Transient(format!("{what}: no access_token in {}", a.snippet()))
        })?;
        Ok(g)
    }

    fn part_url(
        &self,
        path: &str,
        token: &Token,
        extra: &[(&str, &str)],
    ) -> reqwest::RequestBuilder {
        let mut q: Vec<(&str, &str)> = vec![("open_id", token.external_id.as_str())];
        q.extend_from_slice(extra);
        self.http
            .post(self.api(path))
            .query(&q)
            .header("access-token", &token.access)
    }
}

/// `data` of an answer, or the error its code means.
fn data(a: &Answer, what: &str) -> Result<Value, PlatformError> {
    if a.status.as_u16() == 429 {
        return Err(PlatformError::RateLimited {
            message: format!("{what}: Douyin says too many requests"),
            retry_after: a.retry_after(),
        });
    }
    if a.status.is_server_error() {
        return Err(PlatformError::Transient(format!(
            "{what}: HTTP {}",
            a.status
        )));
    }
    let v = a.json();
    let d = v.get("data").cloned().unwrap_or(Value::Null);
    let code = d
        .get("error_code")
        .and_then(Value::as_i64)
        .or_else(|| v.pointer("/extra/error_code").and_then(Value::as_i64))
        .unwrap_or(if a.status.is_success() { 0 } else { -1 });
    if code == 0 && a.status.is_success() {
        return Ok(d);
    }
    let description = d
        .get("description")
        .and_then(Value::as_str)
        .or_else(|| v.pointer("/extra/description").and_then(Value::as_str))
        .map(str::to_string)
        .unwrap_or_else(|| a.snippet());
    let message = format!("{what}: {description} (error_code {code})");
    Err(match code {
        2190002 | 2190008 => PlatformError::Unauthorized(message),
        2190004 | 2100007 => PlatformError::RateLimited {
            message,
            retry_after: a.retry_after(),
        },
        2100004 | -1 => PlatformError::Transient(message),
        _ => PlatformError::Rejected(message),
    })
}

/// A multipart/form-data body with one file field `video`.
fn multipart(bytes: Vec<u8>) -> (String, Vec<u8>) {
    let boundary = format!("scout{}", uuid::Uuid::new_v4().simple());
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"video\"; filename=\"video.mp4\"\r\nContent-Type: video/mp4\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// An item's review state (`video_status`: 1 published, 2 not suitable
/// for public view, 4 in review).
fn judge(item: &Value) -> Check {
    let url = item
        .get("share_url")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    match item.get("video_status").and_then(Value::as_i64) {
        Some(1) => Check::Published { url, post_id: None },
        Some(2) => Check::Failed(
            "Douyin's review found the video not suitable for public view (不适宜公开)".into(),
        ),
        Some(4) | None => Check::Processing,
        Some(other) => Check::Failed(format!("Douyin reports the post in state {other}")),
    }
}

#[async_trait::async_trait]
impl PlatformClient for Douyin {
    fn platform(&self) -> Platform {
        Platform::Douyin
    }

    fn authorize_url(&self, state: &str, redirect: &str) -> String {
        let scope = self.app.scopes.join(",");
        authorize(
            &self.app,
            &[
                ("client_key", self.app.client_id.as_str()),
                ("response_type", "code"),
                ("scope", scope.as_str()),
                ("redirect_uri", redirect),
                ("state", state),
            ],
        )
    }

    async fn exchange(&self, code: &str, _redirect: &str) -> Result<Grant, PlatformError> {
        self.token(
            &self.app.token_url,
            &[
                ("client_key", self.app.client_id.as_str()),
                ("client_secret", self.app.client_secret.as_str()),
                ("code", code),
                ("grant_type", "authorization_code"),
            ],
            "Douyin's token endpoint (authorization code)",
        )
        .await
    }

    async fn refresh(&self, refresh_token: &str) -> Result<Grant, PlatformError> {
        self.token(
            &self.api("/oauth/refresh_token/"),
            &[
                ("client_key", self.app.client_id.as_str()),
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
            "Douyin's token endpoint (refresh)",
        )
        .await
    }

    async fn profile(&self, token: &Token) -> Result<Profile, PlatformError> {
        let d = self
            .call(
                self.http.post(self.api("/oauth/userinfo/")).form(&[
                    ("access_token", token.access.as_str()),
                    ("open_id", token.external_id.as_str()),
                ]),
                "reading the Douyin account",
            )
            .await?;
        Ok(profile_at(&d, "/open_id", "/nickname", token))
    }

    async fn upload(
        &self,
        token: &Token,
        video: &Video<'_>,
        session: Value,
        checkpoint: &dyn Checkpoint,
    ) -> Result<Posted, PlatformError> {
        let parts = video.size.div_ceil(self.part).max(1);
        let mut upload_id = session
            .get("upload_id")
            .and_then(Value::as_str)
            .map(str::to_string);
        let mut done = session
            .get("parts_done")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let mut video_id = session
            .get("video_id")
            .and_then(Value::as_str)
            .map(str::to_string);
        if upload_id.is_none() && video_id.is_none() {
            let d = self
                .call(
                    self.part_url("/video/part/init/", token, &[]),
                    "opening the Douyin upload",
                )
                .await?;
            let id = d.get("upload_id").and_then(Value::as_str).ok_or_else(|| {
                PlatformError::Transient("Douyin opened no upload (no upload_id)".into())
            })?;
            upload_id = Some(id.to_string());
            done = 0;
            checkpoint
                .save(&json!({"upload_id": id, "parts_done": 0}))
                .await;
        }
        if video_id.is_none() {
            let uid = upload_id.clone().unwrap_or_default();
            while done < parts {
                let offset = done * self.part;
                let len = self.part.min(video.size - offset);
                let bytes = read_chunk(video.path, offset, len).await?;
                let (content_type, body) = multipart(bytes);
                let number = (done + 1).to_string();
                let req = self
                    .part_url(
                        "/video/part/upload/",
                        token,
                        &[
                            ("upload_id", uid.as_str()),
                            ("part_number", number.as_str()),
                        ],
                    )
                    .header(reqwest::header::CONTENT_TYPE, content_type)
                    .body(body);
                match self.call(req, "uploading a part to Douyin").await {
                    Ok(_) => {}
                    Err(PlatformError::Transient(why)) => {
                        return Err(interrupted(&why, done, parts, "parts"));
                    }
                    Err(e) => return Err(e),
                }
                done += 1;
                checkpoint
                    .save(&json!({"upload_id": uid, "parts_done": done}))
                    .await;
            }
            let d = self
                .call(
                    self.part_url(
                        "/video/part/complete/",
                        token,
                        &[("upload_id", uid.as_str())],
                    ),
                    "finishing the Douyin upload",
                )
                .await?;
            let id = d
                .pointer("/video/video_id")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    PlatformError::Transient("Douyin's answer has no video_id".into())
                })?;
            video_id = Some(id.to_string());
            checkpoint
                .save(&json!({"upload_id": uid, "parts_done": done, "video_id": id}))
                .await;
        }
        let mut body = json!({
            "video_id": video_id.unwrap_or_default(),
            "text": video.caption(),
        });
        if !video.poi_id.is_empty() {
            body["poi_id"] = json!(video.poi_id);
        }
        let d = self
            .call(
                self.part_url("/video/create/", token, &[]).json(&body),
                "creating the Douyin post",
            )
            .await?;
        let item = d
            .get("item_id")
            .and_then(Value::as_str)
            .ok_or_else(|| PlatformError::Transient("Douyin's answer has no item_id".into()))?;
        Ok(Posted {
            post_id: item.into(),
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
                self.part_url("/video/data/", token, &[])
                    .json(&json!({"item_ids": [post_id]})),
                "reading the post's review on Douyin",
            )
            .await?;
        match d.pointer("/list/0") {
            Some(item) => Ok(judge(item)),
            None => Ok(Check::Failed("the post is gone from Douyin".into())),
        }
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
                    self.part_url("/video/data/", token, &[])
                        .json(&json!({"item_ids": ids})),
                    "reading the posts' figures on Douyin",
                )
                .await?;
            for item in items(&d, "/list") {
                let Some(id) = item.get("item_id").and_then(Value::as_str) else {
                    continue;
                };
                let s = item.get("statistics").cloned().unwrap_or(Value::Null);
                out.push(Figures {
                    post_id: id.into(),
                    views: count(&s, "play_count"),
                    likes: count(&s, "digg_count"),
                    comments: count(&s, "comment_count"),
                    shares: count(&s, "share_count") + count(&s, "forward_count"),
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

    fn answer(status: u16, body: Value) -> Answer {
        Answer {
            status: reqwest::StatusCode::from_u16(status).expect("status"),
            headers: reqwest::header::HeaderMap::new(),
            body: bytes::Bytes::from(body.to_string()),
        }
    }

    #[test]
    fn douyins_error_codes_mean_what_they_say() {
        let ok = answer(
            200,
            json!({"data": {"error_code": 0, "upload_id": "u1"}, "extra": {"error_code": 0}}),
        );
        assert_eq!(data(&ok, "x").expect("ok")["upload_id"], "u1");
        for (code, want) in [
            (2190008, "unauthorized"),
            (2190002, "unauthorized"),
            (2100004, "transient"),
            (2190004, "rate"),
            (2100005, "rejected"),
        ] {
            let a = answer(
                200,
                json!({"data": {"error_code": code, "description": "说明"}}),
            );
            let got = match data(&a, "x") {
                Err(PlatformError::Unauthorized(m)) => ("unauthorized", m),
                Err(PlatformError::Transient(m)) => ("transient", m),
                Err(PlatformError::RateLimited { message, .. }) => ("rate", message),
                Err(PlatformError::Rejected(m)) => ("rejected", m),
                other => panic!("{code}: {other:?}"),
            };
            assert_eq!(got.0, want, "{code}");
            assert!(
                got.1.contains("说明") && got.1.contains(&code.to_string()),
                "{}",
                got.1
            );
        }
        assert!(matches!(
            data(&answer(502, json!({})), "x"),
            Err(PlatformError::Transient(_))
        ));
    }

    #[test]
    fn reviews_are_read() {
        assert_eq!(judge(&json!({"video_status": 4})), Check::Processing);
        assert_eq!(
            judge(
                &json!({"video_status": 1, "share_url": "https://www.iesdouyin.com/share/video/1/"})
            ),
            Check::Published {
                url: "https://www.iesdouyin.com/share/video/1/".into(),
                post_id: None
            }
        );
        assert!(matches!(
            judge(&json!({"video_status": 2})),
            Check::Failed(_)
        ));
    }
}
