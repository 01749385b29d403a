//! Outbound gRPC: channels to other services and the metadata every
//! outbound call carries.

use std::time::{Duration, Instant};

use tonic::transport::{Channel, Endpoint};

use crate::server::REQUEST_ID;

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
