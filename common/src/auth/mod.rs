//! Who may call what, enforced in every service (and at the edge).
//!
//! Each Scout RPC has one access rule, derived from the contract itself:
//! - public RPCs (those with a `google.api.http` route) need a valid user
//!   access token, except the auth ones ([`AUTH_EXEMPT`]);
//! - RPCs without a route are internal: they need the mesh's service
//!   credential ([`SERVICE_TOKEN_HEADER`]), which the edge never forwards;
//! - health, reflection and the ops routes are open.
//!
//! The [`guard`] middleware sits in front of every service's router, so a
//! call that reaches a service directly (not through the edge) is checked
//! exactly as one that came through it, whatever headers it carries.

pub mod keys;
pub mod token;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

pub use keys::{KeyRing, PublicKey};
pub use token::{AuthUser, TokenVerifier};

use crate::adapters::cache::Cache;
use crate::config::Config;
use crate::error::{ApiError, ErrorCode};
use crate::respond::grpc_error_response;

/// The header internal calls carry the service credential in.
pub const SERVICE_TOKEN_HEADER: &str = "x-scout-service-token";

/// Public RPCs that need no access token: they are how one gets a token.
pub const AUTH_EXEMPT: [&str; 4] = [
    "/scout.identity.v1.IdentityService/SendCode",
    "/scout.identity.v1.IdentityService/Login",
    "/scout.identity.v1.IdentityService/RefreshToken",
    "/scout.identity.v1.IdentityService/GetJwks",
];

/// The access rule of one RPC path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credential (auth RPCs, health, reflection).
    Open,
    /// A valid user access token.
    User,
    /// A valid access token of a user with the admin role (the RPCs of
    /// every `…AdminService`).
    Admin,
    /// The mesh's service credential.
    Internal,
}

/// The access rule of a gRPC path (`/package.Service/Method`).
pub fn access(path: &str) -> Access {
    static POLICY: OnceLock<HashMap<String, Access>> = OnceLock::new();
    let policy = POLICY.get_or_init(|| {
        let mut map = HashMap::new();
        for service in crate::proto_json::pool().services() {
            if !service.package_name().starts_with("scout.") {
                continue;
            }
            for method in service.methods() {
                let path = format!("/{}/{}", service.full_name(), method.name());
                let rule = if AUTH_EXEMPT.contains(&path.as_str()) {
                    Access::Open
                } else if crate::proto_json::has_http_binding(&method)
                    && service.name().ends_with("AdminService")
                {
                    Access::Admin
                } else if crate::proto_json::has_http_binding(&method) {
                    Access::User
                } else {
                    Access::Internal
                };
                map.insert(path, rule);
            }
        }
        map
    });
    policy.get(path).copied().unwrap_or(Access::Open)
}

/// The mesh's credentials and token verifier, shared by a process's services.
#[derive(Clone)]
pub struct MeshAuth {
    service_token: Arc<str>,
    verifier: Arc<TokenVerifier>,
}

impl std::fmt::Debug for MeshAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeshAuth").finish_non_exhaustive()
    }
}

/// Fetches identity's JWKS over gRPC with the service credential.
struct IdentityJwks {
    url: String,
    channel: tonic::transport::Channel,
    service_token: Arc<str>,
}

#[async_trait]
impl token::JwksFetch for IdentityJwks {
    async fn fetch(&self) -> Result<Vec<PublicKey>, String> {
        use scout_proto::scout::identity::v1::GetJwksRequest;
        use scout_proto::scout::identity::v1::identity_service_client::IdentityServiceClient;
        let mut client = IdentityServiceClient::new(self.channel.clone());
        let mut req = tonic::Request::new(GetJwksRequest {});
        req.set_timeout(Duration::from_secs(2));
        add_service_token(&mut req, &self.service_token);
        let jwks = client
            .get_jwks(req)
            .await
            .map_err(|s| format!("identity at {}: {}", self.url, s.message()))?
            .into_inner();
        jwks.keys
            .iter()
            .filter(|k| k.kty == "OKP")
            .map(PublicKey::from_jwk)
            .collect()
    }
}

fn add_service_token<T>(req: &mut tonic::Request<T>, token: &str) {
    if let Ok(v) = token.parse() {
        req.metadata_mut().insert(SERVICE_TOKEN_HEADER, v);
    }
}

impl MeshAuth {
    /// Credentials from config: the service token (created under the data
    /// directory when not configured) and a verifier that reads identity's
    /// JWKS over gRPC.
    pub fn from_config(config: &Config, cache: Arc<dyn Cache>) -> anyhow::Result<Self> {
        let service_token: Arc<str> = if config.auth.service_token.is_empty() {
            keys::load_or_create_secret(&config.data_dir.join("keys").join("service-token"))?.into()
        } else {
            config.auth.service_token.as_str().into()
        };
        let url = config.identity.endpoint_url();
        let fetcher = IdentityJwks {
            channel: crate::grpc::channel(&url)?,
            url,
            service_token: service_token.clone(),
        };
        let source = token::CachedJwks::new(Box::new(fetcher), config.auth.jwks_refresh);
        Ok(Self {
            service_token,
            verifier: Arc::new(TokenVerifier::new(Arc::new(source), &config.auth, cache)),
        })
    }

    /// The same credentials with another verifier (identity verifies with
    /// its own keys instead of asking itself over the network).
    pub fn with_verifier(&self, verifier: Arc<TokenVerifier>) -> Self {
        Self {
            service_token: self.service_token.clone(),
            verifier,
        }
    }

    /// The token verifier.
    pub fn verifier(&self) -> &Arc<TokenVerifier> {
        &self.verifier
    }

    /// Marks an outbound internal call with the service credential.
    pub fn internal<T>(&self, message: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(message);
        add_service_token(&mut req, &self.service_token);
        req
    }

    /// Adds the service credential to an outbound request.
    pub fn authorize<T>(&self, req: &mut tonic::Request<T>) {
        add_service_token(req, &self.service_token);
    }

    /// True when `presented` is the service credential (constant time).
    pub fn is_service_token(&self, presented: &[u8]) -> bool {
        constant_time_eq(presented, self.service_token.as_bytes())
    }

    /// Checks a request against its path's rule; on success a user call
    /// carries its [`AuthUser`] in the request extensions.
    pub async fn check(&self, req: &mut Request) -> Result<(), ApiError> {
        match access(req.uri().path()) {
            Access::Open => Ok(()),
            Access::User => {
                let user = self.verifier.verify_headers(req.headers()).await?;
                tracing::Span::current().record("user_id", user.user_id);
                req.extensions_mut().insert(user);
                Ok(())
            }
            Access::Admin => {
                let user = self.verifier.verify_headers(req.headers()).await?;
                if !user.admin {
                    return Err(ApiError::new(
                        ErrorCode::PermissionDenied,
                        format!("{} is for admins only", req.uri().path()),
                    ));
                }
                tracing::Span::current().record("user_id", user.user_id);
                req.extensions_mut().insert(user);
                Ok(())
            }
            Access::Internal => {
                let presented = req
                    .headers()
                    .get(SERVICE_TOKEN_HEADER)
                    .map(|v| v.as_bytes())
                    .unwrap_or_default();
                if self.is_service_token(presented) {
                    Ok(())
                } else {
                    Err(ApiError::new(
                        ErrorCode::TokenInvalid,
                        format!(
                            "{} is internal to the mesh and needs the service credential",
                            req.uri().path()
                        ),
                    ))
                }
            }
        }
    }
}

/// A client interceptor that adds the service credential to every call
/// (for clients of internal RPCs).
#[derive(Clone, Debug)]
pub struct ServiceCredential(pub MeshAuth);

impl tonic::service::Interceptor for ServiceCredential {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        self.0.authorize(&mut req);
        crate::telemetry::inject_metadata(req.metadata_mut());
        Ok(req)
    }
}

/// A channel whose calls carry the service credential.
pub type InternalChannel =
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, ServiceCredential>;

impl MeshAuth {
    /// Wraps a channel so every call carries the service credential.
    pub fn internal_channel(&self, channel: tonic::transport::Channel) -> InternalChannel {
        tonic::service::interceptor::InterceptedService::new(
            channel,
            ServiceCredential(self.clone()),
        )
    }
}

/// Equality that takes the same time wherever the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What the auth guard of one server enforces.
#[derive(Clone, Debug)]
pub struct Guard {
    auth: MeshAuth,
    public: bool,
}

impl Guard {
    /// The guard of a server; `public` for the one clients reach (the
    /// edge), which serves no internal RPC at all: those pass the guard and
    /// its routing refuses them as unknown, saying nothing of credentials.
    pub fn new(auth: MeshAuth, public: bool) -> Self {
        Self { auth, public }
    }
}

/// Middleware: refuses a call that lacks the credential its RPC needs.
pub async fn guard(State(guard): State<Guard>, mut req: Request, next: Next) -> Response {
    if guard.public && access(req.uri().path()) == Access::Internal {
        return next.run(req).await;
    }
    match guard.auth.check(&mut req).await {
        Ok(()) => next.run(req).await,
        Err(e) => grpc_error_response(&e),
    }
}

/// The verified caller of a user RPC.
pub fn caller<T>(req: &tonic::Request<T>) -> Result<AuthUser, tonic::Status> {
    req.extensions().get::<AuthUser>().cloned().ok_or_else(|| {
        ApiError::new(ErrorCode::TokenMissing, "this call needs an access token").to_status()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_come_from_the_contract() {
        assert_eq!(
            access("/scout.identity.v1.IdentityService/Login"),
            Access::Open
        );
        assert_eq!(
            access("/scout.identity.v1.IdentityService/GetMe"),
            Access::User
        );
        assert_eq!(
            access("/scout.render.v1.RenderService/Capabilities"),
            Access::User
        );
        assert_eq!(
            access("/scout.render.v1.RenderService/Compose"),
            Access::Internal
        );
        assert_eq!(
            access("/scout.identity.v1.IdentityInternalService/GetVoiceSample"),
            Access::Internal
        );
        assert_eq!(access("/grpc.health.v1.Health/Check"), Access::Open);
    }

    #[test]
    fn service_token_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
