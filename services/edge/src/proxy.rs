//! Forwards public gRPC calls (native, grpc-web translated, or REST
//! transcoded) to the service that owns them, over one lazily connecting
//! channel per owner. By the time a call gets here the layers in front of
//! it (`api::proxy_stack`) have checked that it is public, read its body,
//! counted it and scrubbed its headers. A service that is down answers
//! UNAVAILABLE at once; one that hangs answers DEADLINE_EXCEEDED when the
//! deadline runs out.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use scout_common::grpc::parse_grpc_timeout;
use scout_common::readiness::ReadinessCheck;
use scout_common::respond::grpc_error_response;
use scout_common::service::Peers;
use scout_common::{ApiError, ServiceName};
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tower::ServiceExt;

use crate::catalog::PublicMethod;
use crate::error::EdgeError;

/// One channel per owning service.
#[derive(Clone)]
pub struct Upstreams {
    channels: HashMap<ServiceName, Channel>,
    /// The deadline when a call arrives without one (scrubbing sets one).
    default_timeout: Duration,
}

impl Upstreams {
    /// Channels to every service that owns a public API.
    pub fn new(peers: &Peers, default_timeout: Duration) -> anyhow::Result<Self> {
        let mut channels = HashMap::new();
        for service in ServiceName::INTERNAL {
            channels.insert(service, peers.channel(service)?);
        }
        Ok(Self {
            channels,
            default_timeout,
        })
    }

    /// Readiness: every owner answers its gRPC health check.
    pub fn readiness_checks(&self) -> Vec<(String, ReadinessCheck)> {
        let mut checks: Vec<(String, ReadinessCheck)> = self
            .channels
            .iter()
            .map(|(service, channel)| {
                let channel = channel.clone();
                let check: ReadinessCheck = Arc::new(move || {
                    let mut client = HealthClient::new(channel.clone());
                    Box::pin(async move {
                        let mut req = tonic::Request::new(HealthCheckRequest {
                            service: String::new(),
                        });
                        req.set_timeout(Duration::from_secs(1));
                        match client.check(req).await {
                            Ok(r)
                                if r.get_ref().status
                                    == tonic_health::pb::health_check_response::ServingStatus::Serving
                                        as i32 =>
                            {
                                Ok(())
                            }
                            Ok(r) => Err(format!("status {}", r.get_ref().status)),
                            Err(e) => Err(e.message().to_string()),
                        }
                    })
                });
                (service.to_string(), check)
            })
            .collect();
        checks.sort_by(|a, b| a.0.cmp(&b.0));
        checks
    }
}

/// The end of the proxy stack: sends the call to its owner.
pub async fn forward(State(upstreams): State<Upstreams>, req: Request) -> Response {
    match forward_inner(&upstreams, req).await {
        Ok(resp) => resp,
        Err(e) => grpc_error_response(&ApiError::from(e)),
    }
}

async fn forward_inner(upstreams: &Upstreams, req: Request) -> Result<Response, EdgeError> {
    let owner = req
        .extensions()
        .get::<Arc<PublicMethod>>()
        .map(|m| m.owner)
        .ok_or_else(|| EdgeError::NotPublic(req.uri().path().to_string()))?;
    let channel =
        upstreams
            .channels
            .get(&owner)
            .cloned()
            .ok_or_else(|| EdgeError::Unavailable {
                service: owner,
                cause: "no route".into(),
            })?;
    let deadline = req
        .headers()
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_grpc_timeout)
        .unwrap_or(upstreams.default_timeout);
    let too_slow = || EdgeError::Deadline {
        service: owner,
        ms: deadline.as_millis(),
    };
    let call = channel.oneshot(req.map(tonic::body::Body::new));
    match tokio::time::timeout(deadline, call).await {
        Ok(Ok(resp)) => Ok(resp.map(Body::new)),
        // The channel enforces the forwarded grpc-timeout itself and may
        // give up a moment before our own timer: that is a deadline, not an outage.
        Ok(Err(e)) if is_timeout(&e) => Err(too_slow()),
        Ok(Err(e)) => {
            tracing::warn!(service = %owner, error = %e, "upstream unavailable");
            Err(EdgeError::Unavailable {
                service: owner,
                cause: describe(&e),
            })
        }
        Err(_) => Err(too_slow()),
    }
}

/// True when a transport error is tonic's own deadline enforcement.
fn is_timeout(e: &tonic::transport::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<tonic::TimeoutExpired>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// The innermost cause of a transport error, which names what failed
/// (e.g. "Connection refused").
fn describe(e: &tonic::transport::Error) -> String {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg = s.to_string();
        source = s.source();
    }
    msg
}
