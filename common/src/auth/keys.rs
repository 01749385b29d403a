//! Identity's Ed25519 signing keys and their public JWK form.
//!
//! The signing key is a PKCS#8 PEM file (created on first start in embedded
//! mode, mounted from a secret in a deployment). Key ids are RFC 7638 JWK
//! thumbprints, so the same key has the same `kid` wherever it is loaded.
//! Rotation: add the next key to `auth.verify_key_files` (published, not yet
//! signing), wait one JWKS refresh, swap it in as `signing_key_file` and keep
//! the old one in `verify_key_files` until the last token it signed expires.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use jsonwebtoken::{DecodingKey, EncodingKey};
use scout_proto::scout::identity::v1::Jwk;
use sha2::{Digest, Sha256};

use crate::config::AuthConfig;

/// A public verification key.
#[derive(Clone)]
pub struct PublicKey {
    /// RFC 7638 thumbprint.
    pub kid: String,
    /// Base64url raw public key (the JWK `x`).
    pub x: String,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicKey").field("kid", &self.kid).finish()
    }
}

impl PublicKey {
    fn from_verifying(key: &VerifyingKey) -> Self {
        let x = URL_SAFE_NO_PAD.encode(key.as_bytes());
        Self {
            kid: thumbprint(&x),
            x,
        }
    }

    /// The key as a JWK.
    pub fn jwk(&self) -> Jwk {
        Jwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: self.x.clone(),
            kid: self.kid.clone(),
            alg: "EdDSA".into(),
            r#use: "sig".into(),
            ..Jwk::default()
        }
    }

    /// Reads a JWK back; only Ed25519 signing keys are accepted.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, String> {
        if jwk.kty != "OKP" || jwk.crv != "Ed25519" {
            return Err(format!(
                "key {} is {}/{}, not OKP/Ed25519",
                jwk.kid, jwk.kty, jwk.crv
            ));
        }
        let raw = URL_SAFE_NO_PAD
            .decode(&jwk.x)
            .map_err(|e| format!("key {}: x is not base64url: {e}", jwk.kid))?;
        let bytes: [u8; 32] = raw
            .try_into()
            .map_err(|_| format!("key {}: x is not 32 bytes", jwk.kid))?;
        let key = VerifyingKey::from_bytes(&bytes)
            .map_err(|e| format!("key {}: not an Ed25519 point: {e}", jwk.kid))?;
        Ok(Self::from_verifying(&key))
    }

    /// The jsonwebtoken verification key.
    pub fn decoding_key(&self) -> Result<DecodingKey, String> {
        DecodingKey::from_ed_components(&self.x).map_err(|e| format!("key {}: {e}", self.kid))
    }
}

/// RFC 7638 thumbprint of an Ed25519 JWK: SHA-256 over the required members
/// in lexicographic order, base64url.
fn thumbprint(x: &str) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// The key that signs, and every key published for verification.
#[derive(Clone)]
pub struct KeyRing {
    signing: EncodingKey,
    signing_public: PublicKey,
    published: Vec<PublicKey>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("signing", &self.signing_public.kid)
            .field("published", &self.published)
            .finish()
    }
}

impl KeyRing {
    /// A ring around one signing key.
    pub fn from_signing_key(key: &SigningKey) -> Result<Self, String> {
        let der = key
            .to_pkcs8_der()
            .map_err(|e| format!("cannot encode the signing key: {e}"))?;
        let public = PublicKey::from_verifying(&key.verifying_key());
        Ok(Self {
            signing: EncodingKey::from_ed_der(der.as_bytes()),
            signing_public: public.clone(),
            published: vec![public],
        })
    }

    /// A fresh random key (tests, first start).
    pub fn generate() -> Result<Self, String> {
        Self::from_signing_key(&SigningKey::from_bytes(&rand::random::<[u8; 32]>()))
    }

    /// Loads the configured keys. The default signing key file is created
    /// when missing; an explicitly configured one must exist.
    pub fn load(config: &AuthConfig, data_dir: &Path) -> anyhow::Result<Self> {
        let path = config.signing_key_path(data_dir);
        let signing = if path.exists() {
            read_signing_key(&path)?
        } else if config.signing_key_file.as_os_str().is_empty() {
            create_signing_key(&path)?
        } else {
            anyhow::bail!("auth.signing_key_file: {} does not exist", path.display());
        };
        let mut ring = Self::from_signing_key(&signing).map_err(anyhow::Error::msg)?;
        for extra in &config.verify_key_files {
            let key = read_public_key(extra)?;
            if !ring.published.iter().any(|k| k.kid == key.kid) {
                ring.published.push(key);
            }
        }
        Ok(ring)
    }

    /// Adds a key to publish (rotation).
    pub fn publish(&mut self, key: PublicKey) {
        if !self.published.iter().any(|k| k.kid == key.kid) {
            self.published.push(key);
        }
    }

    /// The signing key.
    pub fn encoding_key(&self) -> &EncodingKey {
        &self.signing
    }

    /// The signing key's id.
    pub fn signing_kid(&self) -> &str {
        &self.signing_public.kid
    }

    /// Every published key, the signing one first.
    pub fn published(&self) -> &[PublicKey] {
        &self.published
    }
}

fn read_signing_key(path: &Path) -> anyhow::Result<SigningKey> {
    let pem = std::fs::read_to_string(path).map_err(|e| {
        anyhow::anyhow!("auth.signing_key_file: cannot read {}: {e}", path.display())
    })?;
    SigningKey::from_pkcs8_pem(&pem).map_err(|e| {
        anyhow::anyhow!(
            "auth.signing_key_file: {} is not a PKCS#8 Ed25519 private key: {e}",
            path.display()
        )
    })
}

fn read_public_key(path: &Path) -> anyhow::Result<PublicKey> {
    let pem = std::fs::read_to_string(path).map_err(|e| {
        anyhow::anyhow!("auth.verify_key_files: cannot read {}: {e}", path.display())
    })?;
    if let Ok(key) = SigningKey::from_pkcs8_pem(&pem) {
        return Ok(PublicKey::from_verifying(&key.verifying_key()));
    }
    VerifyingKey::from_public_key_pem(&pem)
        .map(|k| PublicKey::from_verifying(&k))
        .map_err(|e| {
            anyhow::anyhow!(
                "auth.verify_key_files: {} is not an Ed25519 key (PKCS#8 or SPKI PEM): {e}",
                path.display()
            )
        })
}

/// Writes a new key with owner-only permissions. `create_new` makes a race
/// between two starting processes harmless: the loser reads the winner's key.
fn create_signing_key(path: &Path) -> anyhow::Result<SigningKey> {
    use std::io::Write as _;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    }
    let key = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let pem = key
        .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .map_err(|e| anyhow::anyhow!("cannot encode a new signing key: {e}"))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(pem.as_bytes())
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            tracing::info!(path = %path.display(), "created a new token signing key");
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_signing_key(path),
        Err(e) => Err(anyhow::anyhow!("cannot create {}: {e}", path.display())),
    }
}

/// Reads or creates a random secret file (owner-only), e.g. the service token.
pub fn load_or_create_secret(path: &Path) -> anyhow::Result<String> {
    use std::io::Write as _;
    if let Ok(s) = std::fs::read_to_string(path) {
        let s = s.trim().to_string();
        if !s.is_empty() {
            return Ok(s);
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    }
    let secret = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(secret.as_bytes())
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            Ok(secret)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let s = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
            Ok(s.trim().to_string())
        }
        Err(e) => Err(anyhow::anyhow!("cannot create {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kid_is_the_rfc7638_thumbprint() {
        // RFC 8037 appendix A.3: the thumbprint of its example Ed25519 key.
        assert_eq!(
            thumbprint("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn keys_round_trip_through_pem_and_jwk() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = AuthConfig::default();
        let first = KeyRing::load(&config, dir.path()).expect("created");
        let again = KeyRing::load(&config, dir.path()).expect("read back");
        assert_eq!(first.signing_kid(), again.signing_kid());
        let jwk = first.published()[0].jwk();
        let back = PublicKey::from_jwk(&jwk).expect("jwk");
        assert_eq!(back.kid, first.signing_kid());
        assert!(back.decoding_key().is_ok());
    }

    #[test]
    fn a_missing_configured_key_names_the_setting() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = AuthConfig {
            signing_key_file: dir.path().join("nope.pem"),
            ..AuthConfig::default()
        };
        let err = KeyRing::load(&config, dir.path()).expect_err("missing");
        assert!(err.to_string().contains("auth.signing_key_file"), "{err}");
    }
}
