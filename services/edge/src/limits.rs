//! Who is calling, and how often: the client's IP (socket address, or
//! `X-Forwarded-For` from a trusted proxy only) and the rate limits of seed
//! 000 §4.1, counted in fixed windows in the shared cache so every edge
//! replica sees the same counts.
//!
//! | RPC                                   | limit (default) | counted per |
//! |---------------------------------------|-----------------|-------------|
//! | `SendCode`                            | 1 / 60 s        | phone       |
//! | `Login`                               | 5 / 60 s        | phone       |
//! | `CreateTask`                          | 10 / 60 s       | user        |
//! | `RegenerateScript`, `RegeneratePublishAssist` | 5 / 300 s | task   |
//! | every other authenticated RPC         | 100 / 60 s      | user        |
//! | every call                            | 600 / 60 s      | client IP   |
//!
//! A cache outage lets calls through (limits fail open, logged): refusing
//! every request because the counter store is down would turn a cache
//! incident into a full outage. Login itself still fails closed in identity.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prost_reflect::{DynamicMessage, MessageDescriptor, Value};
use scout_common::adapters::cache::Cache;
use scout_common::auth::AuthUser;
use scout_common::config::{RateLimit, RateLimitsConfig};
use scout_common::respond::grpc_error_response;
use scout_common::{ApiError, ErrorCode};
use sha2::{Digest, Sha256};

use crate::body::UnaryMessage;
use crate::catalog::PublicMethod;

/// The caller's address as the edge decided it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// One CIDR range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl Cidr {
    /// Parses `10.0.0.0/8`, `::1` or `192.168.1.7`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (addr, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let net: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("edge.trusted_proxies: {s:?} is not an address or CIDR range"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            Some(b) => b
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|b| *b <= max)
                .ok_or_else(|| format!("edge.trusted_proxies: {s:?} has a bad prefix length"))?,
            None => max,
        };
        Ok(Self { net, bits })
    }

    /// True when `ip` is inside the range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.bits)).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.bits))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// Decides the client address of each request.
#[derive(Debug, Clone, Default)]
pub struct ClientIps {
    trusted: Vec<Cidr>,
}

impl ClientIps {
    /// From `edge.trusted_proxies`.
    pub fn new(trusted: &[String]) -> Result<Self, String> {
        Ok(Self {
            trusted: trusted
                .iter()
                .map(|s| Cidr::parse(s))
                .collect::<Result<_, _>>()?,
        })
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|c| c.contains(ip))
    }

    /// The socket peer, unless it is a trusted proxy: then the right-most
    /// `X-Forwarded-For` entry that is not itself a trusted proxy.
    pub fn resolve(&self, peer: IpAddr, headers: &http::HeaderMap) -> IpAddr {
        if !self.is_trusted(peer) {
            return peer;
        }
        let hops: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|h| h.trim().parse().ok())
            .collect();
        hops.into_iter()
            .rev()
            .find(|ip| !self.is_trusted(*ip))
            .unwrap_or(peer)
    }
}

/// Middleware: records [`ClientIp`] on every request.
pub async fn client_ip(
    axum::extract::State(ips): axum::extract::State<Arc<ClientIps>>,
    mut req: Request,
    next: Next,
) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let ip = ips.resolve(peer, req.headers());
    req.extensions_mut().insert(ClientIp(ip));
    next.run(req).await
}

/// Layer: counts every gRPC call per client IP, before anything else is
/// looked at (a flood costs one cache increment per call).
pub async fn per_ip(State(limiter): State<Arc<Limiter>>, req: Request, next: Next) -> Response {
    let ip = req
        .extensions()
        .get::<ClientIp>()
        .map(|c| c.0)
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    match limiter.check_ip(ip).await {
        Ok(()) => next.run(req).await,
        Err(e) => grpc_error_response(&e),
    }
}

/// Layer: counts a public call against its method's own limit (per phone,
/// user or task); sits after the auth guard (which names the user) and the
/// body reader (which holds the message).
pub async fn per_method(State(limiter): State<Arc<Limiter>>, req: Request, next: Next) -> Response {
    let checked = match req.extensions().get::<Arc<PublicMethod>>() {
        Some(method) => {
            let user = req.extensions().get::<AuthUser>().map(|u| u.user_id);
            let message = req.extensions().get::<UnaryMessage>().map(|m| &m.0[..]);
            limiter
                .check_method(&method.path, user, &method.input, message)
                .await
        }
        None => Ok(()),
    };
    match checked {
        Ok(()) => next.run(req).await,
        Err(e) => grpc_error_response(&e),
    }
}

/// What a method's own limit is counted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum By {
    /// A string field of the request (the phone).
    Field(&'static str),
    /// The caller.
    User,
    /// The caller and a task id field.
    Task(&'static str),
}

/// The limits, counted in the cache.
pub struct Limiter {
    cache: Arc<dyn Cache>,
    config: RateLimitsConfig,
}

impl Limiter {
    /// A limiter over the shared cache.
    pub fn new(cache: Arc<dyn Cache>, config: RateLimitsConfig) -> Self {
        Self { cache, config }
    }

    fn rule(&self, path: &str, authenticated: bool) -> Option<(&'static str, RateLimit, By)> {
        let c = &self.config;
        Some(match path {
            "/scout.identity.v1.IdentityService/SendCode" => {
                ("send_code", c.send_code, By::Field("phone"))
            }
            "/scout.identity.v1.IdentityService/Login" => ("login", c.login, By::Field("phone")),
            "/scout.tasks.v1.TasksService/CreateTask" => ("create_task", c.create_task, By::User),
            "/scout.tasks.v1.TasksService/RegenerateScript"
            | "/scout.publish.v1.PublishService/RegeneratePublishAssist" => {
                ("regenerate", c.regenerate, By::Task("task_id"))
            }
            _ if authenticated => ("default", c.default, By::User),
            _ => return None,
        })
    }

    /// Counts one call from `ip` (before anything else is looked at).
    pub async fn check_ip(&self, ip: IpAddr) -> Result<(), ApiError> {
        if !self.config.enabled {
            return Ok(());
        }
        self.hit("ip", &ip.to_string(), self.config.per_ip, "this address")
            .await
    }

    /// Counts one call of `path` by `user` (if authenticated) carrying
    /// `message` (one undecoded request message, when unary).
    pub async fn check_method(
        &self,
        path: &str,
        user: Option<i64>,
        input: &MessageDescriptor,
        message: Option<&[u8]>,
    ) -> Result<(), ApiError> {
        if !self.config.enabled {
            return Ok(());
        }
        let Some((name, limit, by)) = self.rule(path, user.is_some()) else {
            return Ok(());
        };
        let field = |f: &str| -> Option<String> {
            let msg = DynamicMessage::decode(input.clone(), message?).ok()?;
            match msg.get_field_by_name(f)?.as_ref() {
                Value::String(s) => Some(s.clone()),
                Value::I64(n) => Some(n.to_string()),
                Value::I32(n) => Some(n.to_string()),
                _ => None,
            }
        };
        let (key, whom) = match by {
            // An unreadable phone still counts, under one shared bucket.
            By::Field(f) => (short(&field(f).unwrap_or_default()), "this phone"),
            By::User => match user {
                Some(u) => (u.to_string(), "this account"),
                None => return Ok(()),
            },
            By::Task(f) => (
                format!(
                    "{}:{}",
                    user.unwrap_or_default(),
                    short(&field(f).unwrap_or_default())
                ),
                "this task",
            ),
        };
        self.hit(name, &key, limit, whom).await
    }

    async fn hit(
        &self,
        name: &str,
        key: &str,
        limit: RateLimit,
        whom: &str,
    ) -> Result<(), ApiError> {
        let counted = self
            .cache
            .incr_window(&format!("ratelimit:{name}:{key}"), limit.window)
            .await;
        match counted {
            Ok(w) if w.count > i64::from(limit.limit) => {
                let retry = w.resets_in.max(std::time::Duration::from_secs(1));
                Err(ApiError::new(
                    ErrorCode::RateLimited,
                    format!(
                        "rate limit exceeded: at most {} {name} request(s) per {} s for {whom}; retry in {} s",
                        limit.limit,
                        limit.window.as_secs(),
                        retry.as_secs_f64().ceil() as u64
                    ),
                )
                .with_meta("limit", name)
                .with_retry_after(retry))
            }
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, limit = name, "rate limit store unreachable; letting the call through");
                Ok(())
            }
        }
    }
}

/// Keeps cache keys short whatever the client sent.
fn short(value: &str) -> String {
    if value.len() <= 32 && value.bytes().all(|b| b.is_ascii_alphanumeric()) {
        value.to_string()
    } else {
        hex::encode(&Sha256::digest(value.as_bytes())[..16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            http::HeaderValue::from_str(xff).expect("header"),
        );
        h
    }

    #[test]
    fn forwarded_for_counts_only_from_trusted_proxies() {
        let ips = ClientIps::new(&["10.0.0.0/8".into(), "::1".into()]).expect("cidrs");
        let client: IpAddr = "203.0.113.9".parse().expect("ip");
        // Untrusted peer: its header is ignored.
        assert_eq!(
            ips.resolve(client, &headers("1.2.3.4")),
            client,
            "spoofed X-Forwarded-For from an untrusted peer"
        );
        // Trusted proxy: the right-most untrusted hop.
        let proxy: IpAddr = "10.1.2.3".parse().expect("ip");
        assert_eq!(
            ips.resolve(proxy, &headers("1.2.3.4, 203.0.113.9, 10.9.9.9")),
            client
        );
        // Trusted proxy without a header: the proxy itself.
        assert_eq!(ips.resolve(proxy, &http::HeaderMap::new()), proxy);
    }

    #[test]
    fn cidr_parsing_and_matching() {
        let c = Cidr::parse("192.168.0.0/16").expect("cidr");
        assert!(c.contains("192.168.4.5".parse().expect("ip")));
        assert!(!c.contains("192.169.0.1".parse().expect("ip")));
        assert!(c.contains("::ffff:192.168.1.1".parse().expect("ip")));
        assert!(Cidr::parse("300.1.1.1").is_err());
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(
            Cidr::parse("::/0")
                .expect("all v6")
                .contains("2001:db8::1".parse().expect("ip"))
        );
    }
}
