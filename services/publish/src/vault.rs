//! The platforms' tokens at rest: AES-256-GCM under keys from the secret
//! store (`platforms.token_keys`), never stored in the clear.
//!
//! A sealed token is `ID:BASE64(nonce ‖ ciphertext ‖ tag)`; `ID` names the
//! key that sealed it, so keys can rotate: the first key seals, every key
//! opens, and publish re-seals every token with the first key at start
//! (`accounts::reseal`). The associated data binds a token to its account
//! row (`user:platform:kind`), so a sealed token copied into another row
//! does not open.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

/// Why a token could not be sealed or opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VaultError {
    /// A configured key is not `ID:BASE64` of 32 bytes.
    #[error("`platforms.token_keys` entry {0}: {1}")]
    BadKey(usize, String),
    /// The sealed token names a key this deployment does not have.
    #[error("the token was sealed with key {0:?}, which is not in `platforms.token_keys`")]
    UnknownKey(String),
    /// Damaged, or sealed for another row, or with another key of that id.
    #[error("the token does not open with key {0:?} (damaged, or not this account's)")]
    Damaged(String),
}

struct Key {
    id: String,
    key: LessSafeKey,
}

/// The keys; the first seals.
pub struct Vault {
    keys: Vec<Key>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("Vault").field("keys", &ids).finish()
    }
}

impl Vault {
    /// From the configured keys; none configured: one key kept under
    /// `data_dir/keys` (created on first start), for one machine.
    pub fn from_config(keys: &[String], data_dir: &Path) -> anyhow::Result<Self> {
        if keys.is_empty() {
            let path = data_dir.join("keys").join("publish-token-key");
            let secret = scout_common::auth::keys::load_or_create_secret(&path)?;
            return Ok(Self::new(&[format!("local:{secret}")])?);
        }
        Ok(Self::new(keys)?)
    }

    /// From `ID:BASE64` entries (standard or URL-safe base64 of 32 bytes).
    pub fn new(entries: &[String]) -> Result<Self, VaultError> {
        let mut keys: Vec<Key> = Vec::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            let (id, b64) = e
                .split_once(':')
                .ok_or_else(|| VaultError::BadKey(i, "must be ID:BASE64".into()))?;
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(VaultError::BadKey(
                    i,
                    "the id must be letters, digits, - or _".into(),
                ));
            }
            if keys.iter().any(|k| k.id == id) {
                return Err(VaultError::BadKey(
                    i,
                    format!("the id {id:?} is used twice"),
                ));
            }
            let b64 = b64.trim();
            let bytes = STANDARD
                .decode(b64)
                .or_else(|_| URL_SAFE_NO_PAD.decode(b64.trim_end_matches('=')))
                .map_err(|_| VaultError::BadKey(i, "the key is not base64".into()))?;
            let unbound = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| {
                VaultError::BadKey(
                    i,
                    format!("the key must be 32 bytes, it is {}", bytes.len()),
                )
            })?;
            keys.push(Key {
                id: id.to_string(),
                key: LessSafeKey::new(unbound),
            });
        }
        if keys.is_empty() {
            return Err(VaultError::BadKey(0, "at least one key is needed".into()));
        }
        Ok(Self { keys })
    }

    /// The id of the key that seals.
    pub fn current(&self) -> &str {
        &self.keys[0].id
    }

    /// Whether `sealed` was sealed with the current key.
    pub fn is_current(&self, sealed: &str) -> bool {
        sealed
            .split_once(':')
            .is_some_and(|(id, _)| id == self.current())
    }

    /// Seals `plain` for the row `aad` with the current key.
    pub fn seal(&self, plain: &str, aad: &str) -> String {
        let key = &self.keys[0];
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        let mut buf = plain.as_bytes().to_vec();
        // Sealing only fails for inputs over ~64 GiB.
        if key
            .key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(aad.as_bytes()),
                &mut buf,
            )
            .is_err()
        {
            buf.clear();
        }
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&buf);
        format!("{}:{}", key.id, STANDARD.encode(out))
    }

    /// Opens a sealed token of the row `aad`.
    pub fn open(&self, sealed: &str, aad: &str) -> Result<String, VaultError> {
        let (id, b64) = sealed
            .split_once(':')
            .ok_or_else(|| VaultError::Damaged(String::new()))?;
        let key = self
            .keys
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| VaultError::UnknownKey(id.to_string()))?;
        let damaged = || VaultError::Damaged(id.to_string());
        let mut bytes = STANDARD.decode(b64).map_err(|_| damaged())?;
        if bytes.len() < NONCE_LEN {
            return Err(damaged());
        }
        let mut rest = bytes.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&bytes).map_err(|_| damaged())?;
        let plain = key
            .key
            .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut rest)
            .map_err(|_| damaged())?;
        String::from_utf8(plain.to_vec()).map_err(|_| damaged())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, byte: u8) -> String {
        format!("{id}:{}", STANDARD.encode([byte; 32]))
    }

    #[test]
    fn sealed_tokens_open_only_with_their_key_and_row() {
        let v = Vault::new(&[key("k1", 1)]).expect("vault");
        let sealed = v.seal("ya29.secret-token", "7:youtube:access");
        assert!(sealed.starts_with("k1:"), "{sealed}");
        assert!(!sealed.contains("secret"), "{sealed}");
        assert_eq!(
            v.open(&sealed, "7:youtube:access").as_deref(),
            Ok("ya29.secret-token")
        );
        // Another row's associated data.
        assert_eq!(
            v.open(&sealed, "8:youtube:access"),
            Err(VaultError::Damaged("k1".into()))
        );
        // Two seals of one token differ (fresh nonce).
        assert_ne!(sealed, v.seal("ya29.secret-token", "7:youtube:access"));
        // Another key with the same id.
        let other = Vault::new(&[key("k1", 2)]).expect("vault");
        assert!(other.open(&sealed, "7:youtube:access").is_err());
        // A key the deployment lacks.
        let without = Vault::new(&[key("k2", 1)]).expect("vault");
        assert_eq!(
            without.open(&sealed, "7:youtube:access"),
            Err(VaultError::UnknownKey("k1".into()))
        );
    }

    #[test]
    fn rotation_seals_with_the_first_key_and_opens_with_any() {
        let old = Vault::new(&[key("old", 1)]).expect("vault");
        let sealed = old.seal("refresh", "1:douyin:refresh");
        let rotated = Vault::new(&[key("new", 3), key("old", 1)]).expect("vault");
        assert!(!rotated.is_current(&sealed));
        assert_eq!(
            rotated.open(&sealed, "1:douyin:refresh").as_deref(),
            Ok("refresh")
        );
        let resealed = rotated.seal("refresh", "1:douyin:refresh");
        assert!(rotated.is_current(&resealed));
        assert!(resealed.starts_with("new:"));
    }

    #[test]
    fn bad_keys_are_named() {
        for (entries, want) in [
            (vec!["nocolon".to_string()], "ID:BASE64"),
            (vec!["k:!!!".to_string()], "not base64"),
            (
                vec![format!("k:{}", STANDARD.encode([0u8; 16]))],
                "32 bytes, it is 16",
            ),
            (vec![key("a", 1), key("a", 2)], "used twice"),
            (
                vec![format!("a b:{}", STANDARD.encode([0u8; 32]))],
                "letters, digits",
            ),
        ] {
            let e = Vault::new(&entries).expect_err("bad");
            assert!(e.to_string().contains(want), "{e} / {want}");
        }
    }
}
