//! Access tokens: issuing (identity) and verifying (every service).
//!
//! Claims are seed 000's (`sub`, masked `phone`, `membership`, `iat`, `exp`)
//! plus `nbf`, `jti`, `iss` and `aud`. Only EdDSA is accepted, so `alg:
//! none` and an HS256 token "signed" with the public key are refused before
//! any key is looked at; the key is chosen by `kid` from identity's JWKS.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::keys::{KeyRing, PublicKey};
use crate::adapters::cache::Cache;
use crate::config::AuthConfig;
use crate::error::{ApiError, ErrorCode};

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// User id.
    pub sub: String,
    /// Masked phone, `138****8000`.
    pub phone: String,
    /// `free`, `basic` or `pro`.
    pub membership: String,
    /// `admin` for the internal admin panel's users; absent otherwise.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub role: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Not before (Unix seconds).
    pub nbf: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// Token id, the revocation handle.
    pub jti: String,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
}

/// The caller of an RPC, as its verified access token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUser {
    /// User id.
    pub user_id: i64,
    /// Masked phone.
    pub phone: String,
    /// Membership.
    pub membership: String,
    /// Holds the admin role.
    pub admin: bool,
    /// The token's id.
    pub jti: String,
    /// When the token expires (Unix seconds).
    pub expires_at: i64,
}

/// Who a token is issued to.
#[derive(Debug, Clone)]
pub struct Subject {
    /// User id.
    pub user_id: i64,
    /// Masked phone.
    pub phone: String,
    /// Membership.
    pub membership: String,
    /// `admin`, or empty for a user.
    pub role: String,
}

/// A freshly signed access token.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The JWT.
    pub token: String,
    /// Its id.
    pub jti: String,
    /// Lifetime in seconds.
    pub expires_in: i64,
}

/// The cache key that marks a token id revoked (seed 000 §5.2).
pub fn blacklist_key(jti: &str) -> String {
    format!("token:blacklist:{jti}")
}

/// Unix seconds now.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// Signs an access token for `subject`.
pub fn issue(ring: &KeyRing, config: &AuthConfig, subject: &Subject) -> Result<Issued, ApiError> {
    let now = now_secs();
    let ttl = config.access_ttl.as_secs() as i64;
    let claims = Claims {
        sub: subject.user_id.to_string(),
        phone: subject.phone.clone(),
        membership: subject.membership.clone(),
        role: subject.role.clone(),
        iat: now,
        nbf: now,
        exp: now + ttl,
        jti: uuid::Uuid::new_v4().simple().to_string(),
        iss: config.issuer.clone(),
        aud: config.audience.clone(),
    };
    sign(ring, &claims).map(|token| Issued {
        token,
        jti: claims.jti,
        expires_in: ttl,
    })
}

/// Signs arbitrary claims with the ring's signing key.
pub fn sign(ring: &KeyRing, claims: &Claims) -> Result<String, ApiError> {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(ring.signing_kid().to_string());
    jsonwebtoken::encode(&header, claims, ring.encoding_key()).map_err(|e| {
        tracing::error!(error = %e, "cannot sign an access token");
        ApiError::internal("cannot sign the access token")
    })
}

/// Verification keys by `kid`.
pub type KeyMap = Arc<HashMap<String, DecodingKey>>;

/// Where a verifier gets its keys.
#[async_trait]
pub trait KeySource: Send + Sync {
    /// The current keys; `refresh` asks for a fresh copy (an unknown `kid`).
    async fn keys(&self, refresh: bool) -> Result<KeyMap, ApiError>;
}

/// Builds a key map from public keys.
pub fn key_map(keys: &[PublicKey]) -> KeyMap {
    Arc::new(
        keys.iter()
            .filter_map(|k| match k.decoding_key() {
                Ok(d) => Some((k.kid.clone(), d)),
                Err(e) => {
                    tracing::warn!(error = %e, "skipping an unusable verification key");
                    None
                }
            })
            .collect(),
    )
}

/// Keys known in-process (identity's own ring).
pub struct StaticKeys(pub KeyMap);

#[async_trait]
impl KeySource for StaticKeys {
    async fn keys(&self, _refresh: bool) -> Result<KeyMap, ApiError> {
        Ok(self.0.clone())
    }
}

/// Fetches the JWKS from somewhere (identity's `GetJwks`), caching it.
#[async_trait]
pub trait JwksFetch: Send + Sync {
    /// One fetch.
    async fn fetch(&self) -> Result<Vec<PublicKey>, String>;
}

/// A cached JWKS: refreshed every `max_age`, and on an unknown `kid` at
/// most once per `min_refetch` (so a flood of forged kids cannot hammer
/// identity). When identity is unreachable the last good set keeps working.
pub struct CachedJwks {
    fetcher: Box<dyn JwksFetch>,
    max_age: Duration,
    min_refetch: Duration,
    state: Mutex<Option<(KeyMap, Instant)>>,
}

impl CachedJwks {
    /// A cache over `fetcher`.
    pub fn new(fetcher: Box<dyn JwksFetch>, max_age: Duration) -> Self {
        Self {
            fetcher,
            max_age,
            min_refetch: Duration::from_secs(5).min(max_age),
            state: Mutex::new(None),
        }
    }
}

#[async_trait]
impl KeySource for CachedJwks {
    async fn keys(&self, refresh: bool) -> Result<KeyMap, ApiError> {
        let mut state = self.state.lock().await;
        if let Some((keys, at)) = state.as_ref() {
            let age = at.elapsed();
            let fresh = age < self.max_age && !(refresh && age >= self.min_refetch);
            if fresh {
                return Ok(keys.clone());
            }
        }
        match self.fetcher.fetch().await {
            Ok(list) => {
                let keys = key_map(&list);
                *state = Some((keys.clone(), Instant::now()));
                Ok(keys)
            }
            Err(e) => match state.as_ref() {
                Some((keys, _)) => {
                    tracing::warn!(error = %e, "JWKS refresh failed; keeping the last good keys");
                    Ok(keys.clone())
                }
                None => Err(ApiError::new(
                    ErrorCode::ServiceUnavailable,
                    format!("cannot verify tokens: identity's signing keys are unreachable ({e})"),
                )),
            },
        }
    }
}

/// Verifies access tokens: signature, algorithm, `kid`, `iss`, `aud`,
/// `exp`, `nbf`, then the revocation list.
pub struct TokenVerifier {
    source: Arc<dyn KeySource>,
    validation: Validation,
    cache: Arc<dyn Cache>,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier").finish_non_exhaustive()
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::TokenInvalid, message)
}

impl TokenVerifier {
    /// A verifier over a key source and the revocation cache.
    pub fn new(source: Arc<dyn KeySource>, config: &AuthConfig, cache: Arc<dyn Cache>) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[config.issuer.as_str()]);
        validation.set_audience(&[config.audience.as_str()]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = config.leeway.as_secs();
        Self {
            source,
            validation,
            cache,
        }
    }

    /// Verifies `Authorization: Bearer …` from request headers.
    pub async fn verify_headers(&self, headers: &http::HeaderMap) -> Result<AuthUser, ApiError> {
        let token = bearer(headers)?;
        self.verify(token).await
    }

    /// Verifies one token.
    pub async fn verify(&self, token: &str) -> Result<AuthUser, ApiError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| invalid(format!("malformed access token: {e}")))?;
        if header.alg != Algorithm::EdDSA {
            return Err(invalid(format!(
                "access token algorithm {:?} is not accepted (EdDSA only)",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| invalid("access token has no key id (kid)"))?;
        let mut keys = self.source.keys(false).await?;
        if !keys.contains_key(&kid) {
            keys = self.source.keys(true).await?;
        }
        let key = keys
            .get(&kid)
            .ok_or_else(|| invalid("access token is signed by an unknown key"))?;
        let data =
            jsonwebtoken::decode::<Claims>(token, key, &self.validation).map_err(|e| {
                match e.kind() {
                    ErrorKind::ExpiredSignature => {
                        ApiError::new(ErrorCode::TokenExpired, "access token has expired")
                    }
                    ErrorKind::ImmatureSignature => invalid("access token is not valid yet"),
                    ErrorKind::InvalidIssuer => invalid("access token has the wrong issuer"),
                    ErrorKind::InvalidAudience => invalid("access token has the wrong audience"),
                    ErrorKind::InvalidSignature => {
                        invalid("access token signature does not verify")
                    }
                    ErrorKind::MissingRequiredClaim(c) => {
                        invalid(format!("access token lacks the {c} claim"))
                    }
                    other => invalid(format!("access token is invalid: {other:?}")),
                }
            })?;
        let claims = data.claims;
        let user_id: i64 = claims
            .sub
            .parse()
            .map_err(|_| invalid("access token subject is not a user id"))?;
        if claims.jti.is_empty() {
            return Err(invalid("access token has no id (jti)"));
        }
        // Revocation: a cache outage must not log everyone out, so this check
        // fails open (the token is still signed and unexpired); see README.
        match self.cache.get(&blacklist_key(&claims.jti)).await {
            Ok(Some(_)) => {
                return Err(ApiError::new(
                    ErrorCode::TokenRevoked,
                    "access token has been revoked (logged out)",
                ));
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "revocation list unreachable; accepting a signed, unexpired token");
            }
        }
        Ok(AuthUser {
            user_id,
            phone: claims.phone,
            membership: claims.membership,
            admin: claims.role == "admin",
            jti: claims.jti,
            expires_at: claims.exp,
        })
    }
}

/// The bearer token of `Authorization`.
pub fn bearer(headers: &http::HeaderMap) -> Result<&str, ApiError> {
    let value = headers.get(http::header::AUTHORIZATION).ok_or_else(|| {
        ApiError::new(
            ErrorCode::TokenMissing,
            "this call needs an access token: Authorization: Bearer <token>",
        )
    })?;
    let value = value
        .to_str()
        .map_err(|_| invalid("Authorization header is not ASCII"))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| invalid("Authorization must be `Bearer <access token>`"))?;
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::cache::MemoryCache;

    fn setup() -> (KeyRing, AuthConfig, TokenVerifier, Arc<MemoryCache>) {
        let ring = KeyRing::generate().expect("ring");
        let config = AuthConfig::default();
        let cache = Arc::new(MemoryCache::new());
        let verifier = TokenVerifier::new(
            Arc::new(StaticKeys(key_map(ring.published()))),
            &config,
            cache.clone(),
        );
        (ring, config, verifier, cache)
    }

    fn subject() -> Subject {
        Subject {
            user_id: 7,
            phone: "138****8000".into(),
            membership: "free".into(),
            role: String::new(),
        }
    }

    #[tokio::test]
    async fn an_issued_token_verifies_and_a_revoked_one_does_not() {
        let (ring, config, verifier, cache) = setup();
        let issued = issue(&ring, &config, &subject()).expect("issued");
        let user = verifier.verify(&issued.token).await.expect("valid");
        assert_eq!(user.user_id, 7);
        assert_eq!(user.phone, "138****8000");
        cache
            .set(
                &blacklist_key(&issued.jti),
                b"1",
                Some(Duration::from_secs(60)),
            )
            .await
            .expect("set");
        let err = verifier.verify(&issued.token).await.expect_err("revoked");
        assert_eq!(err.code, ErrorCode::TokenRevoked);
    }

    #[test]
    fn bearer_parsing_names_the_problem() {
        let mut h = http::HeaderMap::new();
        assert_eq!(
            bearer(&h).expect_err("missing").code,
            ErrorCode::TokenMissing
        );
        h.insert("authorization", http::HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&h).expect_err("basic").code, ErrorCode::TokenInvalid);
        h.insert(
            "authorization",
            http::HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(bearer(&h).expect("bearer"), "abc");
    }
}
