//! The caller's profile: who they are (`GetMe`) and the two things they
//! may change (`UpdateMe`: nickname and avatar), each checked here.

use scout_proto::scout::identity::v1::{Membership, User};

use crate::State;
use crate::error::IdentityError;
use crate::session::mask_phone;
use crate::store::{self, UserRow};

/// Longest nickname, in characters.
const MAX_NICKNAME_CHARS: usize = 30;
/// Longest avatar URL.
const MAX_AVATAR_URL: usize = 500;

/// The API form of a user (the phone masked).
pub fn user_proto(row: &UserRow) -> User {
    let membership = scout_common::proto_json::from_short_name(&row.membership_type)
        .unwrap_or(Membership::Unspecified);
    User {
        id: row.id,
        phone: mask_phone(&row.phone),
        nickname: row.nickname.clone(),
        avatar_url: row.avatar_url.clone(),
        membership_type: membership as i32,
        created_at: Some(scout_common::proto_json::timestamp(row.created_at)),
    }
}

fn check_nickname(n: &str) -> Result<(), IdentityError> {
    let count = n.chars().count();
    if n.trim().is_empty() {
        return Err(IdentityError::invalid("nickname", "must not be empty"));
    }
    if count > MAX_NICKNAME_CHARS {
        return Err(IdentityError::invalid(
            "nickname",
            format!("at most {MAX_NICKNAME_CHARS} characters (got {count})"),
        ));
    }
    if n.chars().any(char::is_control) {
        return Err(IdentityError::invalid(
            "nickname",
            "must not contain control characters",
        ));
    }
    Ok(())
}

fn check_avatar(url: &str) -> Result<(), IdentityError> {
    if url.is_empty() {
        return Ok(());
    }
    if url.len() > MAX_AVATAR_URL {
        return Err(IdentityError::invalid(
            "avatar_url",
            format!("at most {MAX_AVATAR_URL} characters"),
        ));
    }
    let ok = (url.starts_with("https://") || url.starts_with("http://"))
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if !ok {
        return Err(IdentityError::invalid(
            "avatar_url",
            "must be an http(s) URL without spaces",
        ));
    }
    Ok(())
}

/// The user `id`.
pub async fn get(state: &State, id: i64) -> Result<User, IdentityError> {
    let row = state.db.run(move |c| store::user_by_id(c, id)).await?;
    Ok(user_proto(&row))
}

/// Changes the given fields of user `id`, after checking them.
pub async fn update(
    state: &State,
    id: i64,
    nickname: Option<String>,
    avatar_url: Option<String>,
) -> Result<User, IdentityError> {
    if let Some(n) = &nickname {
        check_nickname(n)?;
    }
    if let Some(a) = &avatar_url {
        check_avatar(a)?;
    }
    let row = state
        .db
        .run(move |c| store::update_user(c, id, nickname.as_deref(), avatar_url.as_deref()))
        .await?;
    Ok(user_proto(&row))
}
