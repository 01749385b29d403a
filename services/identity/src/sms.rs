//! Sending login codes: to the log (embedded default) or through Aliyun SMS.
//!
//! The Aliyun client speaks Dysmsapi `SendSms` (API version 2017-05-25) in
//! the RPC style with signature version 1.0: parameters sorted, RFC 3986
//! percent-encoded, `POST&%2F&<encoded query>` signed with HMAC-SHA1 under
//! `AccessKeySecret + "&"`. The tests run it against a local server that
//! checks the signature the way Aliyun documents it.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use scout_common::config::{SmsConfig, SmsProviderKind};
use scout_common::{ApiError, ErrorCode};
use serde::Deserialize;

/// Sends one code to one phone.
#[async_trait]
pub trait SmsSender: Send + Sync {
    /// Delivers `code` to `phone`.
    async fn send(&self, phone: &str, code: &str) -> Result<(), ApiError>;

    /// Where codes go when they are not texted (the local log provider),
    /// for the login page to tell a local user; empty for a real gateway.
    fn hint(&self) -> String {
        String::new()
    }
}

/// Builds the configured sender.
pub fn from_config(config: &SmsConfig, outbox: PathBuf) -> anyhow::Result<Box<dyn SmsSender>> {
    Ok(match config.provider {
        SmsProviderKind::Log => Box::new(LogSms { outbox }),
        SmsProviderKind::Aliyun => Box::new(AliyunSms::new(config)?),
    })
}

/// Writes the code to the log and appends `phone code` to the outbox file,
/// for local use where no SMS gateway exists.
pub struct LogSms {
    /// The outbox file.
    pub outbox: PathBuf,
}

#[async_trait]
impl SmsSender for LogSms {
    fn hint(&self) -> String {
        self.outbox.display().to_string()
    }

    async fn send(&self, phone: &str, code: &str) -> Result<(), ApiError> {
        tracing::info!(phone, code, "login code (log SMS provider)");
        let path = self.outbox.clone();
        let line = format!("{phone} {code}\n");
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)?;
            f.write_all(line.as_bytes())
        })
        .await
        .map_err(|e| ApiError::internal(format!("outbox task failed: {e}")))?
        .map_err(|e| {
            tracing::error!(error = %e, "cannot write the SMS outbox");
            ApiError::new(
                ErrorCode::ProviderFailed,
                "the login code could not be delivered",
            )
        })
    }
}

/// Aliyun SMS (Dysmsapi `SendSms`).
pub struct AliyunSms {
    http: reqwest::Client,
    endpoint: String,
    access_key_id: String,
    access_key_secret: String,
    sign_name: String,
    template_code: String,
    region: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AliyunAnswer {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    request_id: String,
}

impl AliyunSms {
    /// A client from config; missing credentials are a start-up error naming the key.
    pub fn new(config: &SmsConfig) -> anyhow::Result<Self> {
        for (key, value) in [
            ("sms.aliyun_access_key_id", &config.aliyun_access_key_id),
            (
                "sms.aliyun_access_key_secret",
                &config.aliyun_access_key_secret,
            ),
            ("sms.aliyun_sign_name", &config.aliyun_sign_name),
            ("sms.aliyun_template_code", &config.aliyun_template_code),
        ] {
            if value.is_empty() {
                anyhow::bail!("{key} must be set when sms.provider = \"aliyun\"");
            }
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(3))
            .build()?;
        Ok(Self {
            http,
            endpoint: config.aliyun_endpoint.trim_end_matches('/').to_string(),
            access_key_id: config.aliyun_access_key_id.clone(),
            access_key_secret: config.aliyun_access_key_secret.clone(),
            sign_name: config.aliyun_sign_name.clone(),
            template_code: config.aliyun_template_code.clone(),
            region: config.aliyun_region.clone(),
        })
    }

    fn params(&self, phone: &str, code: &str) -> BTreeMap<String, String> {
        let mut p = BTreeMap::new();
        let mut put = |k: &str, v: String| {
            p.insert(k.to_string(), v);
        };
        put("AccessKeyId", self.access_key_id.clone());
        put("Action", "SendSms".into());
        put("Format", "JSON".into());
        put("PhoneNumbers", phone.to_string());
        put("RegionId", self.region.clone());
        put("SignName", self.sign_name.clone());
        put("SignatureMethod", "HMAC-SHA1".into());
        put("SignatureNonce", uuid::Uuid::new_v4().to_string());
        put("SignatureVersion", "1.0".into());
        put("TemplateCode", self.template_code.clone());
        put(
            "TemplateParam",
            serde_json::json!({ "code": code }).to_string(),
        );
        put(
            "Timestamp",
            chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        );
        put("Version", "2017-05-25".into());
        p
    }
}

/// RFC 3986 percent-encoding as Aliyun specifies: unreserved characters
/// (`A-Z a-z 0-9 - _ . ~`) stay, every other UTF-8 byte becomes `%XY`.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The canonicalized query string: sorted, each name and value encoded.
pub fn canonical_query(params: &BTreeMap<String, String>) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Signature version 1.0 of an RPC-style request.
pub fn signature(method: &str, params: &BTreeMap<String, String>, secret: &str) -> String {
    let to_sign = format!(
        "{method}&{}&{}",
        percent_encode("/"),
        percent_encode(&canonical_query(params))
    );
    // HMAC accepts keys of any length; this cannot fail.
    let mut mac = match Hmac::<sha1::Sha1>::new_from_slice(format!("{secret}&").as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[async_trait]
impl SmsSender for AliyunSms {
    async fn send(&self, phone: &str, code: &str) -> Result<(), ApiError> {
        let mut params = self.params(phone, code);
        let sig = signature("POST", &params, &self.access_key_secret);
        params.insert("Signature".into(), sig);
        let body = canonical_query(&params);
        let failed = |detail: String| {
            tracing::warn!(provider = "aliyun", detail = %detail, "SMS send failed");
            ApiError::new(
                ErrorCode::ProviderFailed,
                format!("the SMS provider did not send the code: {detail}"),
            )
        };
        let resp = self
            .http
            .post(format!("{}/", self.endpoint))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    failed("timed out".into())
                } else {
                    failed(format!("unreachable ({e})"))
                }
            })?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| failed(e.to_string()))?;
        let answer: AliyunAnswer = serde_json::from_str(&text)
            .map_err(|_| failed(format!("HTTP {status} with an unreadable body")))?;
        match answer.code.as_str() {
            "OK" => {
                tracing::info!(provider = "aliyun", request_id = %answer.request_id, "login code sent");
                Ok(())
            }
            // Aliyun's own per-number flow control (minute/hour/day quotas).
            "isv.BUSINESS_LIMIT_CONTROL" | "Throttling.User" => Err(ApiError::new(
                ErrorCode::RateLimited,
                format!(
                    "the SMS provider refused more codes for this number now: {}",
                    answer.message
                ),
            )
            .with_retry_after(Duration::from_secs(60))),
            "isv.MOBILE_NUMBER_ILLEGAL" => Err(ApiError::new(
                ErrorCode::InvalidPhone,
                "phone: the SMS provider says this is not a valid mobile number",
            )
            .with_meta("field", "phone")),
            other => Err(failed(format!("{other}: {}", answer.message))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of Aliyun's RPC signature documentation
    /// (ECS DescribeRegions, AccessKeySecret `testsecret`).
    #[test]
    fn signature_matches_aliyuns_documented_example() {
        let mut p = BTreeMap::new();
        for (k, v) in [
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("Format", "XML"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "2016-02-23T12:46:24Z"),
            ("Version", "2014-05-26"),
        ] {
            p.insert(k.to_string(), v.to_string());
        }
        assert_eq!(
            signature("GET", &p, "testsecret"),
            "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
        );
    }

    #[test]
    fn encoding_follows_rfc3986() {
        assert_eq!(percent_encode("a b*~"), "a%20b%2A~");
        assert_eq!(percent_encode("探"), "%E6%8E%A2");
        assert_eq!(
            percent_encode("{\"code\":\"1\"}"),
            "%7B%22code%22%3A%221%22%7D"
        );
    }
}
