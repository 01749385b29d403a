//! A client for OpenAI-compatible chat completions (`POST
//! {endpoint}/chat/completions`): Qwen-VL on DashScope's compatible mode,
//! Doubao on Volcengine Ark, or any other server speaking that wire format.
//!
//! Every call is bounded: a timeout per request, a process-wide limit on
//! calls in flight, retries with exponential backoff on 429 (honouring
//! `Retry-After`), 5xx, timeouts and transport errors. Answers are asked for
//! as JSON, pulled out of any Markdown fence the model wraps them in, and
//! checked by the caller's validator; an answer that fails gets exactly one
//! repair turn that quotes the problem back to the model.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::config::{AiConfig, ChatModelConfig};

/// What model calls cost, counted for the piece of work that made them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ModelUsage {
    /// Requests that got an answer (billed).
    pub calls: u32,
    /// Images sent in those requests.
    pub images: u32,
    /// Tokens billed, where the provider reports `usage.total_tokens`.
    pub tokens: u64,
}

tokio::task_local! {
    static METER: std::sync::Mutex<ModelUsage>;
}

/// Runs `work`, counting every answered model call it makes (in its own
/// task, including futures it joins); returns the result and the count.
pub async fn metered<F: std::future::Future>(work: F) -> (F::Output, ModelUsage) {
    let meter = std::sync::Mutex::new(ModelUsage::default());
    METER
        .scope(meter, async {
            let out = work.await;
            let usage = METER
                .try_with(|m| m.lock().map(|u| *u).unwrap_or_default())
                .unwrap_or_default();
            (out, usage)
        })
        .await
}

fn count_call(body: &Value, answer: &Value) {
    let images = body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["content"].as_array())
        .flatten()
        .filter(|part| part["type"] == "image_url")
        .count() as u32;
    let tokens = answer
        .pointer("/usage/total_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let _ = METER.try_with(|m| {
        if let Ok(mut u) = m.lock() {
            u.calls += 1;
            u.images += images;
            u.tokens += tokens;
        }
    });
}

/// Counts one answered images call (a call, billed per picture).
fn count_image_call() {
    let _ = METER.try_with(|m| {
        if let Ok(mut u) = m.lock() {
            u.calls += 1;
        }
    });
}

/// Why a model call gave no usable answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ChatError {
    /// 429 on every attempt.
    #[error("{model} is rate limiting us: HTTP 429 on all {attempts} attempts ({detail})")]
    RateLimited {
        /// Model id.
        model: String,
        /// Attempts made.
        attempts: u32,
        /// The last answer, shortened.
        detail: String,
    },
    /// 5xx, timeouts or transport errors on every attempt.
    #[error("{model} unavailable after {attempts} attempts: {detail}")]
    Unavailable {
        /// Model id.
        model: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        detail: String,
    },
    /// A 4xx other than 429 (bad key, unknown model, bad request): retrying
    /// the same call cannot help.
    #[error("{model} refused the request: {detail}")]
    Refused {
        /// Model id.
        model: String,
        /// Status and answer, shortened.
        detail: String,
    },
    /// The answer was not the JSON asked for, even after one repair turn.
    #[error("{model} did not answer the JSON asked for, even after one repair: {detail}")]
    Invalid {
        /// Model id.
        model: String,
        /// What was wrong with the last answer.
        detail: String,
    },
    /// Not configured (no endpoint or key).
    #[error("{0}")]
    NotConfigured(String),
}

impl ChatError {
    /// A few words for a provider note, e.g. "HTTP 429".
    pub fn short(&self) -> &'static str {
        match self {
            Self::RateLimited { .. } => "HTTP 429",
            Self::Unavailable { .. } => "unavailable",
            Self::Refused { .. } => "refused",
            Self::Invalid { .. } => "invalid JSON",
            Self::NotConfigured(_) => "not configured",
        }
    }

    /// Whether the same call may succeed later (rate limits and outages).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::RateLimited { .. } | Self::Unavailable { .. })
    }
}

/// One chat model behind an OpenAI-compatible endpoint.
#[derive(Clone)]
pub struct ChatClient {
    http: reqwest::Client,
    /// The API base; `/chat/completions` or `/images/generations` is appended.
    base: String,
    api_key: String,
    model: String,
    max_retries: u32,
    timeout: Duration,
    in_flight: Arc<Semaphore>,
    /// The provider role in metrics (`vision_model`, `text_model`).
    service: String,
}

impl std::fmt::Debug for ChatClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatClient")
            .field("base", &self.base)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

impl ChatClient {
    /// A client for `model`, sharing `in_flight` with the process's other
    /// model clients. Fails when the endpoint, model or key is missing.
    pub fn new(
        model: &ChatModelConfig,
        ai: &AiConfig,
        key_name: &str,
        in_flight: Arc<Semaphore>,
    ) -> Result<Self, ChatError> {
        for (value, what) in [
            (&model.endpoint, "endpoint"),
            (&model.model, "model"),
            (&model.api_key, "api_key"),
        ] {
            if value.trim().is_empty() {
                return Err(ChatError::NotConfigured(format!(
                    "the remote provider needs `{key_name}.{what}`"
                )));
            }
        }
        let http = reqwest::Client::builder()
            .timeout(ai.timeout)
            .connect_timeout(Duration::from_secs(5).min(ai.timeout))
            .build()
            .map_err(|e| ChatError::NotConfigured(format!("HTTP client: {e}")))?;
        Ok(Self {
            http,
            base: model.endpoint.trim_end_matches('/').to_string(),
            api_key: model.api_key.clone(),
            model: model.model.clone(),
            max_retries: ai.max_retries,
            timeout: ai.timeout,
            in_flight,
            service: key_name.trim_start_matches("ai.").to_string(),
        })
    }

    /// The model id, for provider notes.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// One completion's text, with retries on transient failures.
    pub async fn complete(&self, messages: &[Value]) -> Result<String, ChatError> {
        let body = json!({
            "model": self.model,
            "messages": messages,
            "response_format": {"type": "json_object"},
            "temperature": 0.7,
        });
        self.call("chat/completions", &body, |parsed| {
            count_call(&body, parsed);
            parsed
                .pointer("/choices/0/message/content")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| "the chat completion has no choices[0].message.content".to_string())
        })
        .await
    }

    /// One picture for `prompt` from an OpenAI-compatible images API (`POST
    /// {endpoint}/images/generations`), `size` as `WxH`: the image file's
    /// bytes (from `b64_json`, or fetched from `url`). A refusal (a 400 for
    /// the content policy, say) is [`ChatError::Refused`]; rate limits and
    /// outages are retried like chat calls.
    pub async fn generate_image(&self, prompt: &str, size: &str) -> Result<Vec<u8>, ChatError> {
        let body = json!({
            "model": self.model,
            "prompt": prompt,
            "n": 1,
            "size": size,
            "quality": "hd",
            "response_format": "b64_json",
        });
        enum Picture {
            Bytes(Vec<u8>),
            Url(String),
        }
        let picture = self
            .call("images/generations", &body, |parsed| {
                let first = parsed
                    .pointer("/data/0")
                    .ok_or("the answer has no data[0]")?;
                if let Some(b64) = first.get("b64_json").and_then(Value::as_str) {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(b64.trim())
                        .map_err(|e| format!("data[0].b64_json is not base64: {e}"))?;
                    count_image_call();
                    return Ok(Picture::Bytes(bytes));
                }
                if let Some(url) = first.get("url").and_then(Value::as_str) {
                    count_image_call();
                    return Ok(Picture::Url(url.to_string()));
                }
                Err("data[0] has neither b64_json nor url".to_string())
            })
            .await?;
        match picture {
            Picture::Bytes(b) => Ok(b),
            Picture::Url(url) => {
                let unavailable = |detail: String| ChatError::Unavailable {
                    model: self.model.clone(),
                    attempts: 1,
                    detail,
                };
                let resp = self
                    .http
                    .get(&url)
                    .send()
                    .await
                    .map_err(|e| unavailable(format!("the picture at its url: {e}")))?;
                if !resp.status().is_success() {
                    return Err(unavailable(format!(
                        "the picture at its url: HTTP {}",
                        resp.status()
                    )));
                }
                Ok(resp
                    .bytes()
                    .await
                    .map_err(|e| unavailable(format!("the picture at its url: {e}")))?
                    .to_vec())
            }
        }
    }

    /// `POST {endpoint}/{path}` with `body`, retried on transient failures;
    /// `extract` takes what is wanted from the JSON answer (an answer it
    /// cannot use counts as a transient failure).
    async fn call<T>(
        &self,
        path: &str,
        body: &Value,
        extract: impl Fn(&Value) -> Result<T, String>,
    ) -> Result<T, ChatError> {
        let url = format!("{}/{path}", self.base);
        let attempts = self.max_retries + 1;
        let mut last = String::new();
        let mut rate_limited = false;
        for attempt in 1..=attempts {
            let outcome = {
                let _permit = self.in_flight.acquire().await.map_err(|_| {
                    ChatError::NotConfigured("the model client is shutting down".into())
                })?;
                let started = std::time::Instant::now();
                let outcome = self.once(&url, body).await.and_then(|parsed| {
                    extract(&parsed).map_err(|e| {
                        Attempt::Transient(format!("{e}: {}", snippet(&parsed.to_string())))
                    })
                });
                let status = match &outcome {
                    Ok(_) => "ok",
                    Err(Attempt::RateLimited { .. }) => "rate_limited",
                    Err(_) => "error",
                };
                crate::telemetry::record_ai_call(&self.service, status, started.elapsed());
                outcome
            };
            let wait = match outcome {
                Ok(t) => return Ok(t),
                Err(Attempt::Fatal(e)) => return Err(e),
                Err(Attempt::RateLimited {
                    detail,
                    retry_after,
                }) => {
                    rate_limited = true;
                    last = detail;
                    retry_after.unwrap_or_else(|| backoff(attempt))
                }
                Err(Attempt::Transient(detail)) => {
                    rate_limited = false;
                    last = detail;
                    backoff(attempt)
                }
            };
            if attempt < attempts {
                tracing::warn!(model = %self.model, attempt, error = %last, wait_ms = wait.as_millis() as u64, "model call failed, retrying");
                tokio::time::sleep(wait).await;
            }
        }
        Err(if rate_limited {
            ChatError::RateLimited {
                model: self.model.clone(),
                attempts,
                detail: last,
            }
        } else {
            ChatError::Unavailable {
                model: self.model.clone(),
                attempts,
                detail: last,
            }
        })
    }

    async fn once(&self, url: &str, body: &Value) -> Result<Value, Attempt> {
        let resp = self
            .http
            .post(url)
            .bearer_auth(&self.api_key)
            .json(body)
            .send()
            .await
            .map_err(|e| {
                Attempt::Transient(if e.is_timeout() {
                    format!(
                        "no answer within {}",
                        humantime::format_duration(self.timeout)
                    )
                } else {
                    format!("unreachable: {e}")
                })
            })?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| Duration::from_secs(s.min(30)));
        let text = resp.text().await.map_err(|e| {
            Attempt::Transient(if e.is_timeout() {
                format!(
                    "the answer stalled past {}",
                    humantime::format_duration(self.timeout)
                )
            } else {
                format!("answer interrupted: {e}")
            })
        })?;
        if status.as_u16() == 429 {
            return Err(Attempt::RateLimited {
                detail: format!("HTTP 429: {}", snippet(&text)),
                retry_after,
            });
        }
        if status.is_server_error() {
            return Err(Attempt::Transient(format!(
                "HTTP {status}: {}",
                snippet(&text)
            )));
        }
        if !status.is_success() {
            return Err(Attempt::Fatal(ChatError::Refused {
                model: self.model.clone(),
                detail: format!("HTTP {status}: {}", snippet(&text)),
            }));
        }
        serde_json::from_str(&text).map_err(|e| {
            Attempt::Transient(format!("the answer is not JSON ({e}): {}", snippet(&text)))
        })
    }

    /// Asks for JSON and checks it with `check`; an answer that is not JSON
    /// or fails `check` gets one repair turn naming the problem.
    pub async fn json<T>(
        &self,
        mut messages: Vec<Value>,
        check: impl Fn(&Value) -> Result<T, String>,
    ) -> Result<T, ChatError> {
        let mut problem = String::new();
        for turn in 0..2 {
            let answer = self.complete(&messages).await?;
            match extract_json(&answer).and_then(|v| check(&v)) {
                Ok(t) => return Ok(t),
                Err(e) => {
                    tracing::warn!(model = %self.model, turn, error = %e, "model answer rejected");
                    problem = e;
                    messages.push(json!({"role": "assistant", "content": answer}));
                    messages.push(user(&format!(
                        "上面的回答不符合要求：{problem}。请只输出一个符合要求的JSON对象，不要输出其他内容。"
                    )));
                }
            }
        }
        Err(ChatError::Invalid {
            model: self.model.clone(),
            detail: problem,
        })
    }
}

enum Attempt {
    RateLimited {
        detail: String,
        retry_after: Option<Duration>,
    },
    Transient(String),
    Fatal(ChatError),
}

/// Backoff before retry `attempt` (1-based): 500 ms, 1 s, 2 s, … capped at 8 s.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((500u64 << attempt.saturating_sub(1).min(4)).min(8000))
}

fn snippet(s: &str) -> String {
    let s: String = s.chars().take(200).collect();
    s.replace('\n', " ")
}

/// A system message.
pub fn system(text: &str) -> Value {
    json!({"role": "system", "content": text})
}

/// A user message of plain text.
pub fn user(text: &str) -> Value {
    json!({"role": "user", "content": text})
}

/// An assistant message (the model's earlier answer, for a follow-up turn).
pub fn assistant(text: &str) -> Value {
    json!({"role": "assistant", "content": text})
}

/// A user message of JPEG images followed by text (the multimodal form).
pub fn user_with_jpegs(text: &str, jpegs: &[&[u8]]) -> Value {
    let mut parts: Vec<Value> = jpegs
        .iter()
        .map(|j| {
            json!({
                "type": "image_url",
                "image_url": {"url": format!(
                    "data:image/jpeg;base64,{}",
                    base64::engine::general_purpose::STANDARD.encode(j)
                )}
            })
        })
        .collect();
    parts.push(json!({"type": "text", "text": text}));
    json!({"role": "user", "content": parts})
}

/// The JSON object in a model's answer: the whole text, or the inside of a
/// Markdown code fence, or the span from the first `{` to the last `}`.
pub fn extract_json(answer: &str) -> Result<Value, String> {
    let trimmed = answer.trim();
    if let Ok(v) = serde_json::from_str::<Value>(trimmed) {
        return object(v);
    }
    let unfenced = trimmed
        .split("```")
        .nth(1)
        .map(|s| s.trim_start_matches("json").trim());
    if let Some(inner) = unfenced
        && let Ok(v) = serde_json::from_str::<Value>(inner)
    {
        return object(v);
    }
    match (trimmed.find('{'), trimmed.rfind('}')) {
        (Some(a), Some(b)) if a < b => serde_json::from_str::<Value>(&trimmed[a..=b])
            .map_err(|e| format!("the JSON does not parse: {e}"))
            .and_then(object),
        _ => Err(format!(
            "no JSON object in the answer: {}",
            snippet(trimmed)
        )),
    }
}

fn object(v: Value) -> Result<Value, String> {
    if v.is_object() {
        Ok(v)
    } else {
        Err("the answer is JSON but not an object".into())
    }
}

/// Shared limits for a process's model clients.
pub fn in_flight_limit(ai: &AiConfig) -> Arc<Semaphore> {
    Arc::new(Semaphore::new(ai.max_concurrency.max(1)))
}

/// A string field of a JSON object, trimmed, non-empty, at most `max` chars.
pub fn str_field(v: &Value, name: &str, max: usize) -> Result<String, String> {
    let s = v
        .get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .ok_or_else(|| format!("`{name}` must be a string"))?;
    if s.is_empty() {
        return Err(format!("`{name}` is empty"));
    }
    if s.chars().count() > max {
        return Err(format!("`{name}` is longer than {max} characters"));
    }
    Ok(s.to_string())
}

/// An integer 0–100 field (numbers with a fraction are rounded).
pub fn score_field(v: &Value, name: &str) -> Result<i32, String> {
    let n = v
        .get(name)
        .and_then(Value::as_f64)
        .ok_or_else(|| format!("`{name}` must be a number"))?;
    if !(0.0..=100.0).contains(&n) {
        return Err(format!("`{name}` must be 0-100, got {n}"));
    }
    Ok(n.round() as i32)
}

/// An array of strings (each trimmed, non-empty, at most `max_chars`).
pub fn str_array(v: &Value, name: &str, max_chars: usize) -> Result<Vec<String>, String> {
    let arr = v
        .get(name)
        .and_then(Value::as_array)
        .ok_or_else(|| format!("`{name}` must be an array of strings"))?;
    arr.iter()
        .map(|x| {
            let s = x
                .as_str()
                .map(str::trim)
                .ok_or_else(|| format!("`{name}` must hold only strings"))?;
            if s.is_empty() || s.chars().count() > max_chars {
                return Err(format!(
                    "each of `{name}` must be 1-{max_chars} characters, got {s:?}"
                ));
            }
            Ok(s.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_found_in_fences_and_prose() {
        assert_eq!(extract_json("{\"a\":1}").expect("plain")["a"], json!(1));
        assert_eq!(
            extract_json("好的：\n```json\n{\"a\": 2}\n```\n").expect("fenced")["a"],
            json!(2)
        );
        assert_eq!(
            extract_json("结果如下 {\"a\": {\"b\": 3}} 希望有帮助").expect("prose")["a"]["b"],
            json!(3)
        );
        assert!(extract_json("抱歉，我无法处理").is_err());
        assert!(extract_json("[1,2]").is_err());
        assert!(extract_json("{\"a\": ").is_err());
    }

    #[test]
    fn fields_are_checked() {
        let v = json!({"s": " 好 ", "n": 85.4, "big": 120, "arr": ["#a", "b"], "bad": [1]});
        assert_eq!(str_field(&v, "s", 5).expect("s"), "好");
        assert!(str_field(&v, "missing", 5).is_err());
        assert_eq!(score_field(&v, "n").expect("n"), 85);
        assert!(score_field(&v, "big").is_err());
        assert_eq!(str_array(&v, "arr", 10).expect("arr").len(), 2);
        assert!(str_array(&v, "bad", 10).is_err());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_millis(500));
        assert_eq!(backoff(2), Duration::from_secs(1));
        assert_eq!(backoff(30), Duration::from_secs(8));
    }

    #[test]
    fn missing_settings_are_named() {
        let ai = AiConfig::default();
        let err = ChatClient::new(&ai.text_model, &ai, "ai.text_model", in_flight_limit(&ai))
            .expect_err("no key");
        assert!(err.to_string().contains("ai.text_model.api_key"), "{err}");
    }
}
