//! Login codes and sessions: send a code, log in with it, rotate refresh
//! tokens, log out.
//!
//! Cache keys (seed 000 §5.2): `sms:code:{phone}` (the code, 5 min),
//! `sms:limit:{phone}` (resend cooldown, 60 s), `login:attempts:{phone}`
//! (wrong codes in the lock window) and `login:lock:{phone}` (15 min).
//! Every step that needs the cache fails closed: without it a code can be
//! neither checked nor rate limited, so login answers UNAVAILABLE.

use std::time::Duration;

use base64::Engine as _;
use scout_common::adapters::cache::CacheError;
use scout_common::auth::token::{self, Subject, blacklist_key, now_secs};
use scout_common::auth::{AuthUser, constant_time_eq};
use sha2::{Digest, Sha256};

use crate::State;
use crate::error::IdentityError;
use crate::store::{self, UserRow};

/// What a login or refresh hands out.
pub struct Session {
    /// The user.
    pub user: UserRow,
    /// JWT access token.
    pub access_token: String,
    /// Its lifetime in seconds.
    pub expires_in: i64,
    /// Opaque refresh token.
    pub refresh_token: String,
    /// Its lifetime in seconds.
    pub refresh_expires_in: i64,
    /// True when the login created the user.
    pub is_new_user: bool,
}

fn cache_down(e: CacheError) -> IdentityError {
    tracing::warn!(error = %e, "login code store unreachable");
    IdentityError::CodeStoreDown
}

/// A mainland mobile number: 11 ASCII digits, `1[3-9]…`.
pub fn check_phone(phone: &str) -> Result<(), IdentityError> {
    let b = phone.as_bytes();
    let ok = b.len() == 11
        && b.iter().all(u8::is_ascii_digit)
        && b[0] == b'1'
        && (b'3'..=b'9').contains(&b[1]);
    if ok {
        Ok(())
    } else {
        Err(IdentityError::InvalidPhone)
    }
}

fn check_code(code: &str) -> Result<(), IdentityError> {
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(IdentityError::MalformedCode)
    }
}

/// `138****8000`.
pub fn mask_phone(phone: &str) -> String {
    if phone.len() == 11 && phone.is_ascii() {
        format!("{}****{}", &phone[..3], &phone[7..])
    } else {
        "****".into()
    }
}

fn locked(retry: Option<Duration>) -> IdentityError {
    IdentityError::PhoneLocked {
        retry: retry.unwrap_or(Duration::from_secs(60)),
    }
}

/// Sends a new code, at most one per phone per resend interval.
pub async fn send_code(state: &State, phone: &str) -> Result<(), IdentityError> {
    check_phone(phone)?;
    let sms = &state.ctx.config.sms;
    let cache = &state.ctx.adapters.cache;
    let lock_key = format!("login:lock:{phone}");
    if cache.get(&lock_key).await.map_err(cache_down)?.is_some() {
        return Err(locked(cache.ttl(&lock_key).await.map_err(cache_down)?));
    }
    let limit_key = format!("sms:limit:{phone}");
    if !cache
        .set_nx(&limit_key, b"1", Some(sms.resend_interval))
        .await
        .map_err(cache_down)?
    {
        let retry = cache
            .ttl(&limit_key)
            .await
            .map_err(cache_down)?
            .unwrap_or(sms.resend_interval);
        return Err(IdentityError::CodeTooSoon {
            interval: sms.resend_interval,
            retry,
        });
    }
    let code = format!("{:06}", rand::random_range(0..1_000_000u32));
    let code_key = format!("sms:code:{phone}");
    cache
        .set(&code_key, code.as_bytes(), Some(sms.code_ttl))
        .await
        .map_err(cache_down)?;
    if let Err(e) = state.sms.send(phone, &code).await {
        // Not delivered: let the user ask again at once.
        let _ = cache.delete(&code_key).await;
        let _ = cache.delete(&limit_key).await;
        return Err(e.into());
    }
    Ok(())
}

/// Checks the code; wrong ones count toward the lock.
async fn verify_code(state: &State, phone: &str, code: &str) -> Result<(), IdentityError> {
    let sms = &state.ctx.config.sms;
    let cache = &state.ctx.adapters.cache;
    let lock_key = format!("login:lock:{phone}");
    if cache.get(&lock_key).await.map_err(cache_down)?.is_some() {
        return Err(locked(cache.ttl(&lock_key).await.map_err(cache_down)?));
    }
    let code_key = format!("sms:code:{phone}");
    let Some(stored) = cache.get(&code_key).await.map_err(cache_down)? else {
        return Err(IdentityError::NoCode);
    };
    if constant_time_eq(&stored, code.as_bytes()) {
        // Single use: whoever deletes it logs in.
        if !cache.delete(&code_key).await.map_err(cache_down)? {
            return Err(IdentityError::CodeUsed);
        }
        let _ = cache.delete(&format!("login:attempts:{phone}")).await;
        return Ok(());
    }
    let attempts = cache
        .incr_window(&format!("login:attempts:{phone}"), sms.lock_duration)
        .await
        .map_err(cache_down)?;
    let max = i64::from(sms.max_failures.max(1));
    if attempts.count >= max {
        cache
            .set(&lock_key, b"1", Some(sms.lock_duration))
            .await
            .map_err(cache_down)?;
        let _ = cache.delete(&code_key).await;
        let _ = cache.delete(&format!("login:attempts:{phone}")).await;
        tracing::warn!(phone = %mask_phone(phone), "phone locked after repeated wrong codes");
        return Err(locked(Some(sms.lock_duration)));
    }
    Err(IdentityError::WrongCode {
        left: max - attempts.count,
    })
}

/// Phone + code → session. A new phone creates the user.
pub async fn login(state: &State, phone: &str, code: &str) -> Result<Session, IdentityError> {
    check_phone(phone)?;
    check_code(code)?;
    verify_code(state, phone, code).await?;
    let owned = phone.to_string();
    let (user, created) = state
        .db
        .run(move |c| store::find_or_create_user(c, &owned))
        .await?;
    if created {
        tracing::info!(user_id = user.id, "new user");
    }
    let family = uuid::Uuid::new_v4().simple().to_string();
    open_session(state, user, family, created).await
}

fn new_refresh_token() -> (String, String) {
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let hash = hash_token(&token);
    (token, hash)
}

fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

async fn open_session(
    state: &State,
    user: UserRow,
    family: String,
    is_new_user: bool,
) -> Result<Session, IdentityError> {
    if user.disabled_at.is_some() {
        return Err(IdentityError::Disabled);
    }
    let auth = &state.ctx.config.auth;
    let (refresh, hash) = new_refresh_token();
    let now = now_secs();
    let refresh_ttl = auth.refresh_ttl.as_secs() as i64;
    let user_id = user.id;
    state
        .db
        .run(move |c| store::insert_refresh(c, &hash, &family, user_id, now + refresh_ttl, now))
        .await?;
    let access = issue_access(state, &user)?;
    Ok(Session {
        user,
        access_token: access.token,
        expires_in: access.expires_in,
        refresh_token: refresh,
        refresh_expires_in: refresh_ttl,
        is_new_user,
    })
}

fn issue_access(state: &State, user: &UserRow) -> Result<token::Issued, IdentityError> {
    Ok(token::issue(
        &state.keys,
        &state.ctx.config.auth,
        &Subject {
            user_id: user.id,
            phone: mask_phone(&user.phone),
            membership: user.membership_type.clone(),
            role: if user.role == "admin" {
                "admin".into()
            } else {
                String::new()
            },
        },
    )?)
}

/// What presenting a refresh token found.
/// How long after a refresh token was spent presenting it again counts as
/// a retry of a lost answer rather than reuse, provided the token that
/// answer handed out was never used (the reuse interval of Auth0, Okta's
/// grace period). Past it, or once the successor was used, it is reuse and
/// the family is revoked.
pub const REUSE_GRACE_SECS: i64 = 30;

enum Rotation {
    /// Spent now; here is the family to continue.
    Rotated {
        user_id: i64,
        family: String,
    },
    Unknown,
    Revoked,
    Reused,
    Expired,
}

fn presented_shape(refresh: &str) -> Result<(), IdentityError> {
    if refresh.is_empty() {
        return Err(IdentityError::RefreshMissing);
    }
    if refresh.len() > 256 || !refresh.is_ascii() {
        return Err(IdentityError::RefreshMalformed);
    }
    Ok(())
}

/// Spends a refresh token and opens the next session of its family.
/// A token presented twice revokes the whole family: whoever holds either
/// copy must log in again.
pub async fn refresh(state: &State, presented: &str) -> Result<Session, IdentityError> {
    presented_shape(presented)?;
    let hash = hash_token(presented);
    let now = now_secs();
    let outcome = state
        .db
        .transaction(move |c| {
            let Some(row) = store::refresh_by_hash(c, &hash)? else {
                return Ok(Rotation::Unknown);
            };
            if row.revoked_at.is_some() {
                return Ok(Rotation::Revoked);
            }
            if row.used_at.is_none() && row.expires_at <= now {
                return Ok(Rotation::Expired);
            }
            if let Some(used) = row.used_at
                && now - used <= REUSE_GRACE_SECS
                && !store::successor_used(c, &row.family_id, row.id)?
            {
                // The answer to the first use never reached its client (a
                // reload or a dropped connection mid-refresh): the token it
                // handed out goes, and this use gets the family's next one.
                store::revoke_unused(c, &row.family_id, now)?;
                return Ok(Rotation::Rotated {
                    user_id: row.user_id,
                    family: row.family_id,
                });
            }
            if row.used_at.is_some() || !store::mark_used(c, row.id, now)? {
                store::revoke_family(c, &row.family_id, now)?;
                return Ok(Rotation::Reused);
            }
            Ok(Rotation::Rotated {
                user_id: row.user_id,
                family: row.family_id,
            })
        })
        .await?;
    match outcome {
        Rotation::Rotated { user_id, family } => {
            let user = state.db.run(move |c| store::user_by_id(c, user_id)).await?;
            open_session(state, user, family, false).await
        }
        Rotation::Unknown => Err(IdentityError::RefreshUnknown),
        Rotation::Revoked => Err(IdentityError::RefreshRevoked),
        Rotation::Reused => {
            tracing::warn!("refresh token reuse detected; family revoked");
            Err(IdentityError::RefreshReused)
        }
        Rotation::Expired => Err(IdentityError::RefreshExpired),
    }
}

/// Revokes the caller's access token until it expires and, when given,
/// the refresh token's family (only if it is the caller's).
pub async fn logout(state: &State, caller: &AuthUser, refresh: &str) -> Result<(), IdentityError> {
    if !refresh.is_empty() {
        presented_shape(refresh)?;
        let hash = hash_token(refresh);
        let user_id = caller.user_id;
        let now = now_secs();
        state
            .db
            .transaction(move |c| {
                if let Some(row) = store::refresh_by_hash(c, &hash)?
                    && row.user_id == user_id
                {
                    store::revoke_family(c, &row.family_id, now)?;
                }
                Ok(())
            })
            .await?;
    }
    let left =
        (caller.expires_at - now_secs()).max(0) as u64 + state.ctx.config.auth.leeway.as_secs() + 1;
    state
        .ctx
        .adapters
        .cache
        .set(
            &blacklist_key(&caller.jti),
            b"1",
            Some(Duration::from_secs(left)),
        )
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "cannot record the logout");
            IdentityError::LogoutNotRecorded
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use scout_common::ErrorCode;

    #[test]
    fn phones_are_checked_strictly() {
        for ok in ["13800138000", "19912345678"] {
            assert!(check_phone(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1380013800",
            "138001380000",
            "12800138000",
            "+8613800138000",
            "1380013800٠",
            "13800138000' OR '1'='1",
            "１３８００１３８０００",
        ] {
            let e = scout_common::ApiError::from(check_phone(bad).expect_err(bad));
            assert_eq!(e.code, ErrorCode::InvalidPhone);
            assert_eq!(e.metadata.get("field").map(String::as_str), Some("phone"));
        }
    }

    #[test]
    fn masking_keeps_three_and_four() {
        assert_eq!(mask_phone("13800138000"), "138****8000");
    }
}
