//! Linked platform accounts: the OAuth 2.0 authorization-code flow, tokens
//! sealed at rest (`crate::vault`), refreshed before they expire, and
//! re-sealed with the current key after a rotation.
//!
//! Linking: `StartAccountLink` keeps a random state (single use, 10
//! minutes, bound to the user and platform) in the cache and answers the
//! platform's authorization page; the platform sends the user back to the
//! web app with a code and that state; `CompleteAccountLink` takes the state
//! (a second use finds it gone), trades the code for tokens, asks the
//! platform who the account is, and stores it, replacing an earlier link.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use scout_common::adapters::db::now;
use scout_proto::scout::publish::v1::{Account, Platform};
use serde::{Deserialize, Serialize};

use crate::State;
use crate::error::PublishError;
use crate::platforms::{self, Grant, PlatformClient, PlatformError, Token};
use crate::store::{self, AccountRow, NewAccount};
use crate::vault::Vault;

/// How long a link's state is good for.
pub const STATE_TTL: Duration = Duration::from_secs(600);

#[derive(Serialize, Deserialize)]
struct Pending {
    user_id: i64,
    platform: String,
    redirect: String,
}

fn state_key(state: &str) -> String {
    format!("publish:oauth:{state}")
}

/// The client of a platform that links accounts, or why not.
pub fn client(
    state: &State,
    platform: Platform,
) -> Result<std::sync::Arc<dyn PlatformClient>, PublishError> {
    match platform {
        Platform::Unspecified => Err(PublishError::invalid(
            "platform",
            "douyin, youtube or tiktok",
        )),
        Platform::Xiaohongshu => Err(PublishError::NoPostingApi(platform)),
        _ => state
            .platforms
            .get(platform)
            .ok_or(PublishError::NotConfigured(platform)),
    }
}

/// Where the platform sends the user back.
pub fn redirect_url(state: &State) -> String {
    let c = &state.ctx.config.platforms;
    if c.redirect_url.is_empty() {
        format!("{}/accounts/callback", state.ctx.config.public_url)
    } else {
        c.redirect_url.clone()
    }
}

/// `StartAccountLink`: the authorization page and its state.
pub async fn start(
    state: &State,
    user_id: i64,
    platform: Platform,
) -> Result<(String, String), PublishError> {
    let client = client(state, platform)?;
    let nonce = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 24]>());
    let redirect = redirect_url(state);
    let pending = Pending {
        user_id,
        platform: platforms::name(platform).into(),
        redirect: redirect.clone(),
    };
    let value = serde_json::to_vec(&pending).map_err(|e| PublishError::Internal(e.to_string()))?;
    state
        .ctx
        .adapters
        .cache
        .set(&state_key(&nonce), &value, Some(STATE_TTL))
        .await
        .map_err(|e| PublishError::Unavailable(format!("cache: {e}")))?;
    Ok((client.authorize_url(&nonce, &redirect), nonce))
}

fn aad(user_id: i64, platform: &str, kind: &str) -> String {
    format!("{user_id}:{platform}:{kind}")
}

fn expiry(grant: &Grant) -> chrono::NaiveDateTime {
    now() + chrono::Duration::from_std(grant.expires_in).unwrap_or(chrono::Duration::hours(1))
}

/// `CompleteAccountLink`.
pub async fn complete(
    state: &State,
    user_id: i64,
    code: &str,
    nonce: &str,
    error: &str,
) -> Result<Account, PublishError> {
    if nonce.is_empty() {
        return Err(PublishError::invalid(
            "state",
            "the state from StartAccountLink",
        ));
    }
    let cache = &state.ctx.adapters.cache;
    let key = state_key(nonce);
    let value = cache
        .get(&key)
        .await
        .map_err(|e| PublishError::Unavailable(format!("cache: {e}")))?;
    // Single use: only the caller that deletes it goes on.
    let taken = cache
        .delete(&key)
        .await
        .map_err(|e| PublishError::Unavailable(format!("cache: {e}")))?;
    let pending: Option<Pending> = value
        .filter(|_| taken)
        .and_then(|v| serde_json::from_slice(&v).ok());
    let Some(pending) = pending.filter(|p| p.user_id == user_id) else {
        return Err(PublishError::LinkExpired);
    };
    if !error.is_empty() {
        return Err(PublishError::LinkDeclined(store::clip(error, 200)));
    }
    if code.is_empty() {
        return Err(PublishError::invalid(
            "code",
            "the code the platform sent back",
        ));
    }
    let platform = platforms::parse(&pending.platform);
    let client = client(state, platform)?;
    let grant = client
        .exchange(code, &pending.redirect)
        .await
        .map_err(|e| PublishError::Platform(platform, e))?;
    if grant.refresh_token.is_empty() {
        return Err(PublishError::Platform(
            platform,
            PlatformError::Rejected(
                "the platform granted no refresh token (offline access), so posts could not be made later; link again".into(),
            ),
        ));
    }
    let token = Token {
        access: grant.access_token.clone(),
        external_id: grant.external_id.clone(),
    };
    let profile = client
        .profile(&token)
        .await
        .map_err(|e| PublishError::Platform(platform, e))?;
    let name = platforms::name(platform);
    let vault = &state.vault;
    let access = vault.seal(&grant.access_token, &aad(user_id, name, "access"));
    let refresh = vault.seal(&grant.refresh_token, &aad(user_id, name, "refresh"));
    let external_id = if profile.external_id.is_empty() {
        grant.external_id.clone()
    } else {
        profile.external_id.clone()
    };
    let expires_at = expiry(&grant);
    let scopes = grant.scopes.clone();
    let display_name = profile.display_name.clone();
    let row = state
        .db
        .run(move |c| {
            store::upsert_account(
                c,
                &NewAccount {
                    user_id,
                    platform: name,
                    external_id: &store::clip(&external_id, 200),
                    display_name: &store::clip(&display_name, 200),
                    scopes: &scopes,
                    access_token: &access,
                    refresh_token: &refresh,
                    expires_at,
                },
            )
        })
        .await?;
    tracing::info!(user_id, platform = name, "linked a platform account");
    Ok(to_proto(&row))
}

/// The API shape of an account (never its tokens).
pub fn to_proto(row: &AccountRow) -> Account {
    Account {
        platform: platforms::parse(&row.platform) as i32,
        external_id: row.external_id.clone(),
        display_name: row.display_name.clone(),
        scopes: serde_json::from_str(&row.scopes).unwrap_or_default(),
        expires_at: Some(crate::timestamp(row.expires_at)),
        linked_at: Some(crate::timestamp(row.created_at)),
        problem: row.problem.clone().unwrap_or_default(),
    }
}

/// `ListAccounts`.
pub async fn list(state: &State, user_id: i64) -> Result<Vec<Account>, PublishError> {
    let rows = state
        .db
        .run(move |c| store::accounts_of(c, user_id))
        .await?;
    Ok(rows.iter().map(to_proto).collect())
}

/// `UnlinkAccount`.
pub async fn unlink(state: &State, user_id: i64, platform: Platform) -> Result<(), PublishError> {
    let name = platforms::name(platform);
    let gone = state
        .db
        .run(move |c| store::delete_account(c, user_id, name))
        .await?;
    if gone {
        Ok(())
    } else {
        Err(PublishError::NoAccount(platform))
    }
}

/// A usable access token for the user's account on `platform`, refreshed
/// first when it expires within the margin (or `force`, after the platform
/// refused it). The account's name comes along.
pub async fn token(
    state: &State,
    user_id: i64,
    platform: Platform,
    force: bool,
) -> Result<(Token, String), PublishError> {
    let name = platforms::name(platform);
    let row = state
        .db
        .run(move |c| store::account(c, user_id, name))
        .await?
        .ok_or(PublishError::NoAccount(platform))?;
    let vault = &state.vault;
    let open = |sealed: &str, kind: &str| {
        vault
            .open(sealed, &aad(user_id, name, kind))
            .map_err(|e| PublishError::Sealed(platform, e.to_string()))
    };
    let margin = chrono::Duration::from_std(state.ctx.config.platforms.refresh_margin)
        .unwrap_or(chrono::Duration::minutes(10));
    if !force && row.expires_at - margin > now() {
        let access = open(&row.access_token, "access")?;
        return Ok((
            Token {
                access,
                external_id: row.external_id.clone(),
            },
            row.display_name,
        ));
    }
    let client = client(state, platform)?;
    let refresh = open(&row.refresh_token, "refresh")?;
    let grant = match client.refresh(&refresh).await {
        Ok(g) => g,
        Err(PlatformError::InvalidGrant(why) | PlatformError::Unauthorized(why)) => {
            let problem =
                format!("the platform no longer accepts this link ({why}): link the account again");
            let id = row.id;
            let p = problem.clone();
            state
                .db
                .run(move |c| store::set_account_problem(c, id, &p))
                .await?;
            return Err(PublishError::Relink(platform, problem));
        }
        Err(e) => return Err(PublishError::Platform(platform, e)),
    };
    let access = vault.seal(&grant.access_token, &aad(user_id, name, "access"));
    let new_refresh = if grant.refresh_token.is_empty() {
        vault.seal(&refresh, &aad(user_id, name, "refresh"))
    } else {
        vault.seal(&grant.refresh_token, &aad(user_id, name, "refresh"))
    };
    let expires_at = expiry(&grant);
    let (id, expected) = (row.id, row.access_token.clone());
    let stored = state
        .db
        .run(move |c| store::replace_tokens(c, id, &expected, &access, &new_refresh, expires_at))
        .await?;
    if !stored {
        // Another publisher refreshed at the same time; its tokens are as
        // good (a refresh token rotated by the platform is in its row).
        tracing::debug!(user_id, platform = name, "a concurrent refresh won");
    }
    tracing::info!(user_id, platform = name, "refreshed a platform token");
    Ok((
        Token {
            access: grant.access_token,
            external_id: row.external_id,
        },
        row.display_name,
    ))
}

/// Re-seals every token not sealed with the current key (after a key
/// rotation); returns how many accounts were re-sealed. A token no key
/// opens is left alone and logged (its account shows the problem when
/// used).
pub async fn reseal(db: &scout_common::adapters::db::Db, vault: &Vault) -> anyhow::Result<u64> {
    let mut after = 0;
    let mut done = 0;
    loop {
        let page = db.run(move |c| store::accounts_page(c, after, 200)).await?;
        let Some(last) = page.last() else {
            break;
        };
        after = last.id;
        for row in page {
            if vault.is_current(&row.access_token) && vault.is_current(&row.refresh_token) {
                continue;
            }
            let (a, r) = (
                aad(row.user_id, &row.platform, "access"),
                aad(row.user_id, &row.platform, "refresh"),
            );
            let (Ok(access), Ok(refresh)) = (
                vault.open(&row.access_token, &a),
                vault.open(&row.refresh_token, &r),
            ) else {
                tracing::warn!(
                    account = row.id,
                    "a platform token opens with no configured key"
                );
                continue;
            };
            let (access, refresh) = (vault.seal(&access, &a), vault.seal(&refresh, &r));
            let (id, expected, expires_at) = (row.id, row.access_token.clone(), row.expires_at);
            if db
                .run(move |c| {
                    store::replace_tokens(c, id, &expected, &access, &refresh, expires_at)
                })
                .await?
            {
                done += 1;
            }
        }
    }
    if done > 0 {
        tracing::info!(
            accounts = done,
            key = vault.current(),
            "re-sealed platform tokens with the current key"
        );
    }
    Ok(done)
}
