//! Outbound gRPC: channels to other services and the metadata every
//! outbound call carries.

use std::time::{Duration, Instant};

use tonic::transport::{Channel, Endpoint};

/// The request-id header, set by clients or generated at the first hop and
/// forwarded on every outbound call.
pub const REQUEST_ID: &str = "x-request-id";

/// A lazily connecting channel to `url`. A dead peer fails a call quickly
/// (connect timeout) instead of hanging it.
pub fn channel(url: &str) -> anyhow::Result<Channel> {
    let endpoint = Endpoint::from_shared(url.to_string())
        .map_err(|e| anyhow::anyhow!("invalid endpoint {url:?}: {e}"))?
        .connect_timeout(Duration::from_secs(2))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10))
        .keep_alive_while_idle(true);
    Ok(endpoint.connect_lazy())
}

/// Copies the request id (and, when present, the caller's authorization)
/// from an incoming request onto an outbound one, so logs correlate across
/// hops and downstream services see who is calling.
pub fn forward_metadata<T, U>(incoming: &tonic::Request<T>, outbound: &mut tonic::Request<U>) {
    for key in [REQUEST_ID, "authorization"] {
        if let Some(v) = incoming.metadata().get(key) {
            outbound.metadata_mut().insert(key, v.clone());
        }
    }
}

/// Waits until the gRPC health check (service "") at `url` answers SERVING.
pub async fn wait_serving(url: &str, limit: Duration) -> Result<(), String> {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let channel = channel(url).map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < limit {
        let mut client = HealthClient::new(channel.clone());
        let mut req = tonic::Request::new(HealthCheckRequest {
            service: String::new(),
        });
        req.set_timeout(Duration::from_secs(1));
        match client.check(req).await {
            Ok(r) if r.get_ref().status == ServingStatus::Serving as i32 => return Ok(()),
            Ok(r) => last = format!("status {}", r.get_ref().status),
            Err(e) => last = e.message().to_string(),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("not serving after {} s: {last}", limit.as_secs()))
}

/// Parses a `grpc-timeout` header value (`<digits><unit>`).
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Formats a duration as a `grpc-timeout` value.
pub fn format_grpc_timeout(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 100_000_000 {
        format!("{}m", ms.max(1))
    } else {
        format!("{}S", d.as_secs().min(99_999_999))
    }
}

/// The request's deadline: the client's `grpc-timeout`, capped by `cap`.
pub fn request_deadline(headers: &http::HeaderMap, cap: Option<Duration>) -> Option<Duration> {
    let client = headers
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_grpc_timeout);
    match (client, cap) {
        (Some(c), Some(cap)) => Some(c.min(cap)),
        (c, cap) => c.or(cap),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn grpc_timeout_round_trip() {
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("3S"), Some(Duration::from_secs(3)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("12x"), None);
        assert_eq!(parse_grpc_timeout("m"), None);
        assert_eq!(parse_grpc_timeout("1234567890S"), None);
        let d = Duration::from_millis(1500);
        assert_eq!(parse_grpc_timeout(&format_grpc_timeout(d)), Some(d));
    }

    #[test]
    fn deadline_is_the_shorter_of_client_and_cap() {
        let mut h = http::HeaderMap::new();
        assert_eq!(
            request_deadline(&h, Some(Duration::from_secs(5))),
            Some(Duration::from_secs(5))
        );
        h.insert("grpc-timeout", HeaderValue::from_static("100m"));
        assert_eq!(
            request_deadline(&h, Some(Duration::from_secs(5))),
            Some(Duration::from_millis(100))
        );
        assert_eq!(request_deadline(&h, None), Some(Duration::from_millis(100)));
    }
}
