//! The admin panel's user management: search, change a tier, disable an
//! account; every change written to the audit log with who, what and when.
//! The admin role itself is checked by the guard (`Access::Admin`) before
//! a call gets here; it is granted with `scout admin grant PHONE`
//! ([`set_role`]).

use chrono::Utc;
use scout_common::audit;
use scout_common::auth::AuthUser;
use scout_common::paging::pagination;
use scout_proto::scout::common::v1::AuditEntry;
use scout_proto::scout::common::v1::Pagination;
use scout_proto::scout::identity::v1::{AdminUser, Membership};

use crate::State;
use crate::error::IdentityError;
use crate::session::mask_phone;
use crate::store::{self, UserRow};

/// The admin form of a user.
pub fn admin_user(row: &UserRow) -> AdminUser {
    let membership = scout_common::proto_json::from_short_name(&row.membership_type)
        .unwrap_or(Membership::Unspecified);
    AdminUser {
        id: row.id,
        phone: mask_phone(&row.phone),
        nickname: row.nickname.clone(),
        membership_type: membership as i32,
        role: row.role.clone(),
        disabled: row.disabled_at.is_some(),
        created_at: Some(scout_common::proto_json::timestamp(row.created_at)),
    }
}

/// `SearchUsers`.
pub async fn search(
    state: &State,
    query: &str,
    page_no: i32,
    size: i32,
) -> Result<(Vec<AdminUser>, Pagination), IdentityError> {
    let query = query.trim().to_string();
    if query.chars().count() > 20 {
        return Err(IdentityError::invalid(
            "query",
            "a phone fragment or user id, at most 20 characters",
        ));
    }
    let (page_no, size) = scout_common::paging::page_and_size(page_no, size);
    let offset = i64::from(page_no - 1) * i64::from(size);
    let (rows, total) = state
        .db
        .run(move |c| store::search_users(c, &query, offset, i64::from(size)))
        .await?;
    Ok((
        rows.iter().map(admin_user).collect(),
        pagination(page_no, size, total),
    ))
}

/// Writes an audit entry and returns the user after `change` ran, all in
/// one transaction: no change without its entry.
async fn audited(
    state: &State,
    admin: &AuthUser,
    action: &'static str,
    user_id: i64,
    detail: String,
    change: impl FnOnce(
        &mut scout_common::adapters::db::AnyConnection,
        chrono::NaiveDateTime,
    ) -> Result<bool, scout_common::adapters::db::DbError>
    + Send
    + 'static,
) -> Result<AdminUser, IdentityError> {
    let admin_id = admin.user_id;
    let row = state
        .db
        .transaction(move |c| {
            let at = Utc::now().naive_utc();
            if !change(c, at)? {
                return Ok(None);
            }
            audit::record(c, admin_id, action, &format!("user:{user_id}"), &detail, at)?;
            Ok(Some(store::user_by_id(c, user_id)?))
        })
        .await?
        .ok_or_else(|| IdentityError::NotFound(format!("user {user_id}")))?;
    tracing::info!(admin_id, user_id, action, "admin action");
    Ok(admin_user(&row))
}

/// `SetMembership`.
pub async fn set_membership(
    state: &State,
    admin: &AuthUser,
    user_id: i64,
    tier: i32,
    reason: &str,
) -> Result<AdminUser, IdentityError> {
    let tier = match Membership::try_from(tier) {
        Ok(Membership::Unspecified) | Err(_) => {
            return Err(IdentityError::invalid(
                "membership_type",
                "free, basic or pro",
            ));
        }
        Ok(t) => t,
    };
    let name = scout_common::proto_json::short_name(tier).unwrap_or_default();
    let detail = format!("to {name}: {reason}");
    audited(
        state,
        admin,
        "set_membership",
        user_id,
        detail,
        move |c, at| store::set_membership(c, user_id, &name, at),
    )
    .await
}

/// `DisableUser`: the account and every refresh token it holds.
pub async fn disable(
    state: &State,
    admin: &AuthUser,
    user_id: i64,
    reason: &str,
) -> Result<AdminUser, IdentityError> {
    if user_id == admin.user_id {
        return Err(IdentityError::invalid(
            "user_id",
            "an admin cannot disable their own account",
        ));
    }
    let now = scout_common::auth::token::now_secs();
    audited(
        state,
        admin,
        "disable_user",
        user_id,
        reason.to_string(),
        move |c, at| store::disable_user(c, user_id, at, now),
    )
    .await
}

/// `ListAuditLog`.
pub async fn audit_log(
    state: &State,
    page_no: i32,
    size: i32,
) -> Result<(Vec<AuditEntry>, Pagination), IdentityError> {
    Ok(state.db.run(move |c| audit::page(c, page_no, size)).await?)
}

/// Grants (`admin`) or takes back (`user`) the admin role of the user with
/// `phone`, in the identity database `config` names (`scout admin grant`).
/// The user must have logged in once; their next token carries the role.
pub async fn set_role(
    config: &scout_common::config::Config,
    phone: &str,
    role: &str,
) -> anyhow::Result<()> {
    let db = scout_common::adapters::db::open_for_service(
        "identity",
        &config.identity.database_url,
        crate::MIGRATIONS,
    )
    .await?;
    let (p, r) = (phone.to_string(), role.to_string());
    let found = db
        .run(move |c| store::set_role_by_phone(c, &p, &r, Utc::now().naive_utc()))
        .await?;
    if !found {
        anyhow::bail!("no user with phone {phone}: they must log in once first");
    }
    Ok(())
}
