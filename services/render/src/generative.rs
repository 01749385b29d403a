//! Generative video (seed 004): a scene's still made into a moving clip by
//! a hosted model, behind [`VideoGenerator`]. The adapter here speaks
//! Replicate's prediction API (`POST /v1/predictions` with the model's
//! version, or `POST /v1/models/{owner}/{name}/predictions`; then `GET` the
//! prediction until it has succeeded, failed or been canceled; its output
//! is the clip's URL), and lip-syncs a clip to a sound the same way (Sync
//! Labs' model on Replicate, seed 004). Off by default
//! (`generative.provider = "none"`).
//!
//! Every call is bounded: a timeout per request and per prediction, 429s
//! retried after their `Retry-After` (Replicate's "Request was throttled"),
//! 5xx and transport errors retried with backoff; a 4xx other than 429
//! (a bad token, an input the model refuses) and a failed or canceled
//! prediction are final and say why.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use scout_common::config::{GenerativeConfig, GenerativeProvider};
use serde_json::{Value, json};

/// Why a clip could not be made.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GenError {
    /// Throttled, down or slow past every retry: worth trying later.
    #[error("{0}")]
    Transient(String),
    /// Refused or failed for good: the same call cannot help.
    #[error("{0}")]
    Final(String),
}

impl GenError {
    /// Whether a later attempt may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, GenError::Transient(_))
    }
}

/// Makes moving clips from stills.
#[async_trait]
pub trait VideoGenerator: Send + Sync {
    /// The provider and model, for logs and notes.
    fn name(&self) -> String;

    /// A clip of about `seconds` animating the picture at `image_url`
    /// (reachable by the provider) as `prompt` says: the clip's bytes.
    async fn animate(
        &self,
        image_url: &str,
        prompt: &str,
        seconds: f64,
    ) -> Result<Vec<u8>, GenError>;

    /// The clip at `video_url` with its subject's mouth moving to the
    /// sound at `audio_url` (as long as the sound): the clip's bytes.
    async fn lipsync(&self, video_url: &str, audio_url: &str) -> Result<Vec<u8>, GenError>;
}

/// The configured generator, if any.
pub fn from_config(c: &GenerativeConfig) -> anyhow::Result<Option<Box<dyn VideoGenerator>>> {
    match c.provider {
        GenerativeProvider::None => Ok(None),
        GenerativeProvider::Replicate => Ok(Some(Box::new(Replicate::new(c)?))),
    }
}

/// Replicate's prediction API.
pub struct Replicate {
    http: reqwest::Client,
    base: String,
    token: String,
    model: String,
    lipsync_model: String,
    poll_every: Duration,
    timeout: Duration,
    max_retries: u32,
}

/// A prediction as Replicate answers it.
#[derive(Debug, Clone)]
struct Prediction {
    id: String,
    status: String,
    output: Option<String>,
    error: String,
    get_url: String,
}

fn prediction(v: &Value) -> Result<Prediction, String> {
    let id = v["id"]
        .as_str()
        .ok_or("the prediction has no id")?
        .to_string();
    let output = match &v["output"] {
        Value::String(s) => Some(s.clone()),
        Value::Array(a) => a.iter().rev().find_map(Value::as_str).map(str::to_string),
        _ => None,
    };
    Ok(Prediction {
        status: v["status"].as_str().unwrap_or_default().to_string(),
        output,
        error: match &v["error"] {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        },
        get_url: v
            .pointer("/urls/get")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        id,
    })
}

fn snippet(s: &str) -> String {
    s.chars().take(200).collect::<String>().replace('\n', " ")
}

impl Replicate {
    /// An adapter for `c`; a missing endpoint, token or model names its key.
    pub fn new(c: &GenerativeConfig) -> anyhow::Result<Self> {
        for (value, key) in [
            (&c.endpoint, "generative.endpoint"),
            (&c.api_token, "generative.api_token"),
            (&c.animate_model, "generative.animate_model"),
        ] {
            if value.trim().is_empty() {
                anyhow::bail!("generative.provider = \"replicate\" needs `{key}`");
            }
        }
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(c.request_timeout)
                .connect_timeout(Duration::from_secs(5))
                .build()?,
            base: c.endpoint.trim_end_matches('/').to_string(),
            token: c.api_token.clone(),
            model: c.animate_model.trim().to_string(),
            lipsync_model: c.lipsync_model.trim().to_string(),
            poll_every: c.poll_interval,
            timeout: c.timeout,
            max_retries: c.max_retries,
        })
    }

    /// One request, retried on 429 (after its Retry-After), 5xx and
    /// transport errors: the answer's JSON.
    async fn send(&self, req: impl Fn() -> reqwest::RequestBuilder) -> Result<Value, GenError> {
        let attempts = self.max_retries + 1;
        let mut last = String::new();
        for attempt in 1..=attempts {
            let wait = match req().bearer_auth(&self.token).send().await {
                Err(e) => {
                    last = format!("unreachable: {e}");
                    None
                }
                Ok(resp) => {
                    let status = resp.status();
                    let retry_after = resp
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(|s| Duration::from_secs(s.min(30)));
                    let text = resp.text().await.unwrap_or_default();
                    if status.is_success() {
                        return serde_json::from_str(&text).map_err(|e| {
                            GenError::Transient(format!(
                                "the answer is not JSON ({e}): {}",
                                snippet(&text)
                            ))
                        });
                    }
                    let detail = serde_json::from_str::<Value>(&text)
                        .ok()
                        .and_then(|v| v["detail"].as_str().map(str::to_string))
                        .unwrap_or_else(|| snippet(&text));
                    last = format!("HTTP {status}: {detail}");
                    if status.as_u16() == 429 {
                        retry_after
                    } else if status.is_server_error() {
                        None
                    } else {
                        return Err(GenError::Final(format!(
                            "{} refused the request: {last}",
                            self.name()
                        )));
                    }
                }
            };
            if attempt < attempts {
                let backoff = Duration::from_millis((500u64 << (attempt - 1).min(4)).min(8000));
                tokio::time::sleep(wait.unwrap_or(backoff)).await;
            }
        }
        Err(GenError::Transient(format!(
            "{} unavailable after {attempts} attempts: {last}",
            self.name()
        )))
    }

    /// Starts a prediction of `model` with `input` and follows it to its
    /// end: the output's URL.
    async fn run(&self, model: &str, input: Value) -> Result<String, GenError> {
        // "owner/name" runs the model's latest version; anything else is
        // a version id.
        let (url, body) = match model.split_once('/') {
            Some((owner, name)) if !name.contains(':') => (
                format!("{}/v1/models/{owner}/{name}/predictions", self.base),
                json!({ "input": input }),
            ),
            _ => (
                format!("{}/v1/predictions", self.base),
                json!({
                    "version": model.rsplit(':').next().unwrap_or(model),
                    "input": input
                }),
            ),
        };
        let started = Instant::now();
        let created = self.send(|| self.http.post(&url).json(&body)).await?;
        let mut p = prediction(&created)
            .map_err(|e| GenError::Transient(format!("{}: {e}", self.name())))?;
        tracing::info!(provider = %self.name(), prediction = %p.id, "prediction started");
        loop {
            match p.status.as_str() {
                "succeeded" => {
                    return p.output.ok_or_else(|| {
                        GenError::Final(format!(
                            "{}: prediction {} succeeded without an output",
                            self.name(),
                            p.id
                        ))
                    });
                }
                "failed" | "canceled" => {
                    return Err(GenError::Final(format!(
                        "{}: prediction {} {}: {}",
                        self.name(),
                        p.id,
                        p.status,
                        if p.error.is_empty() {
                            "no reason given"
                        } else {
                            &p.error
                        }
                    )));
                }
                _ => {}
            }
            if started.elapsed() > self.timeout {
                // Not left running (and billed) for nothing.
                let cancel = format!("{}/v1/predictions/{}/cancel", self.base, p.id);
                let _ = self
                    .http
                    .post(&cancel)
                    .bearer_auth(&self.token)
                    .send()
                    .await;
                return Err(GenError::Transient(format!(
                    "{}: prediction {} not done after {} s (canceled)",
                    self.name(),
                    p.id,
                    self.timeout.as_secs()
                )));
            }
            tokio::time::sleep(self.poll_every).await;
            let get = if p.get_url.is_empty() {
                format!("{}/v1/predictions/{}", self.base, p.id)
            } else {
                p.get_url.clone()
            };
            let now = self.send(|| self.http.get(&get)).await?;
            p = prediction(&now)
                .map_err(|e| GenError::Transient(format!("{}: {e}", self.name())))?;
        }
    }

    /// Downloads an output file.
    async fn fetch(&self, url: &str) -> Result<Vec<u8>, GenError> {
        let resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| GenError::Transient(format!("{}: the output: {e}", self.name())))?;
        if !resp.status().is_success() {
            return Err(GenError::Transient(format!(
                "{}: the output: HTTP {}",
                self.name(),
                resp.status()
            )));
        }
        Ok(resp
            .bytes()
            .await
            .map_err(|e| GenError::Transient(format!("{}: the output: {e}", self.name())))?
            .to_vec())
    }
}

#[async_trait]
impl VideoGenerator for Replicate {
    fn name(&self) -> String {
        format!("replicate:{}", self.model)
    }

    async fn animate(
        &self,
        image_url: &str,
        prompt: &str,
        seconds: f64,
    ) -> Result<Vec<u8>, GenError> {
        let output = self
            .run(
                &self.model,
                json!({
                    "image": image_url,
                    "prompt": prompt,
                    "duration": seconds.round().clamp(1.0, 10.0),
                    "aspect_ratio": "9:16",
                }),
            )
            .await?;
        self.fetch(&output).await
    }

    async fn lipsync(&self, video_url: &str, audio_url: &str) -> Result<Vec<u8>, GenError> {
        if self.lipsync_model.is_empty() {
            return Err(GenError::Final(
                "no lipsync model is configured (generative.lipsync_model)".into(),
            ));
        }
        let output = self
            .run(
                &self.lipsync_model,
                json!({ "video": video_url, "audio": audio_url, "sync_mode": "cut_off" }),
            )
            .await?;
        self.fetch(&output).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prediction_is_read_as_replicate_answers_it() {
        let p = prediction(&json!({
            "id": "gm3qorzdhgbfurvjtvhg6dckhu",
            "status": "succeeded",
            "output": ["https://replicate.delivery/a.png", "https://replicate.delivery/b.mp4"],
            "error": null,
            "urls": {"get": "https://api.replicate.com/v1/predictions/gm3q", "cancel": "x"}
        }))
        .expect("prediction");
        assert_eq!(
            p.output.as_deref(),
            Some("https://replicate.delivery/b.mp4")
        );
        assert_eq!(p.get_url, "https://api.replicate.com/v1/predictions/gm3q");
        let failed = prediction(&json!({"id": "x", "status": "failed", "error": "NSFW content"}))
            .expect("prediction");
        assert_eq!(
            (failed.status.as_str(), failed.error.as_str()),
            ("failed", "NSFW content")
        );
        assert!(prediction(&json!({"status": "starting"})).is_err());
    }
}
