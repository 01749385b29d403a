//! Identity's tables (seed 000 §5.1 plus refresh tokens) and every query on
//! them. Queries go through diesel's DSL only, so every value is a bound
//! parameter and the same code runs on PostgreSQL and SQLite.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use scout_common::adapters::db::{AnyConnection, DbError};

diesel::table! {
    users (id) {
        id -> BigInt,
        phone -> Varchar,
        nickname -> Varchar,
        avatar_url -> Varchar,
        membership_type -> Varchar,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        role -> Varchar,
        disabled_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    voice_samples (id) {
        id -> BigInt,
        user_id -> BigInt,
        name -> Varchar,
        oss_key -> Varchar,
        duration_seconds -> Double,
        clone_voice_id -> Nullable<Varchar>,
        status -> Varchar,
        error_message -> Nullable<Varchar>,
        clone_job_id -> Nullable<Varchar>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        consented_at -> Nullable<Timestamp>,
        speech_seconds -> Double,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> BigInt,
        token_hash -> Varchar,
        family_id -> Varchar,
        user_id -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
        created_at -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(users, voice_samples, refresh_tokens);

/// A user row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: i64,
    pub phone: String,
    pub nickname: String,
    pub avatar_url: String,
    pub membership_type: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// `user` or `admin`.
    pub role: String,
    /// When an admin disabled the account.
    pub disabled_at: Option<NaiveDateTime>,
}

/// A voice sample row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = voice_samples)]
pub struct SampleRow {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub oss_key: String,
    pub duration_seconds: f64,
    pub clone_voice_id: Option<String>,
    pub status: String,
    pub error_message: Option<String>,
    pub clone_job_id: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub consented_at: Option<NaiveDateTime>,
    pub speech_seconds: f64,
}

/// A refresh token row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshRow {
    pub id: i64,
    pub family_id: String,
    pub user_id: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

fn now() -> NaiveDateTime {
    chrono::Utc::now().naive_utc()
}

/// The user with this phone, creating it (nickname `用户` + last 6 digits,
/// membership free) when new. True when created.
pub fn find_or_create_user(
    conn: &mut AnyConnection,
    phone: &str,
) -> Result<(UserRow, bool), DbError> {
    if let Some(user) = user_by_phone(conn, phone)? {
        return Ok((user, false));
    }
    let tail: String = phone
        .chars()
        .rev()
        .take(6)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let at = now();
    let inserted = diesel::insert_into(users::table)
        .values((
            users::phone.eq(phone),
            users::nickname.eq(format!("用户{tail}")),
            users::avatar_url.eq(""),
            users::membership_type.eq("free"),
            users::created_at.eq(at),
            users::updated_at.eq(at),
        ))
        .execute(conn);
    let created = match inserted.map_err(DbError::from) {
        Ok(_) => true,
        // Two first logins at once: the other one created it.
        Err(DbError::Conflict(_)) => false,
        Err(e) => return Err(e),
    };
    let user = user_by_phone(conn, phone)?.ok_or(DbError::NotFound)?;
    Ok((user, created))
}

fn user_by_phone(conn: &mut AnyConnection, phone: &str) -> Result<Option<UserRow>, DbError> {
    Ok(users::table
        .filter(users::phone.eq(phone))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

/// A user by id.
pub fn user_by_id(conn: &mut AnyConnection, id: i64) -> Result<UserRow, DbError> {
    Ok(users::table
        .find(id)
        .select(UserRow::as_select())
        .first(conn)?)
}

/// Changes a user's nickname and/or avatar.
pub fn update_user(
    conn: &mut AnyConnection,
    id: i64,
    nickname: Option<&str>,
    avatar_url: Option<&str>,
) -> Result<UserRow, DbError> {
    let at = now();
    if let Some(n) = nickname {
        diesel::update(users::table.find(id))
            .set((users::nickname.eq(n), users::updated_at.eq(at)))
            .execute(conn)?;
    }
    if let Some(a) = avatar_url {
        diesel::update(users::table.find(id))
            .set((users::avatar_url.eq(a), users::updated_at.eq(at)))
            .execute(conn)?;
    }
    user_by_id(conn, id)
}

// ---- refresh tokens ----

/// Stores a new refresh token of a family.
pub fn insert_refresh(
    conn: &mut AnyConnection,
    token_hash: &str,
    family_id: &str,
    user_id: i64,
    expires_at: i64,
    now: i64,
) -> Result<(), DbError> {
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::token_hash.eq(token_hash),
            refresh_tokens::family_id.eq(family_id),
            refresh_tokens::user_id.eq(user_id),
            refresh_tokens::expires_at.eq(expires_at),
            refresh_tokens::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// A refresh token by hash.
pub fn refresh_by_hash(
    conn: &mut AnyConnection,
    token_hash: &str,
) -> Result<Option<RefreshRow>, DbError> {
    Ok(refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(token_hash))
        .select(RefreshRow::as_select())
        .first(conn)
        .optional()?)
}

/// Marks a token used, only if nobody did first. True when this call did.
pub fn mark_used(conn: &mut AnyConnection, id: i64, now: i64) -> Result<bool, DbError> {
    let n = diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::id.eq(id))
            .filter(refresh_tokens::used_at.is_null()),
    )
    .set(refresh_tokens::used_at.eq(now))
    .execute(conn)?;
    Ok(n == 1)
}

/// True when a token of the family newer than `id` has been used (the
/// answer that handed it out did reach its client).
pub fn successor_used(conn: &mut AnyConnection, family_id: &str, id: i64) -> Result<bool, DbError> {
    let n: i64 = refresh_tokens::table
        .filter(refresh_tokens::family_id.eq(family_id))
        .filter(refresh_tokens::id.gt(id))
        .filter(refresh_tokens::used_at.is_not_null())
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Revokes the family's tokens nobody has used yet.
pub fn revoke_unused(
    conn: &mut AnyConnection,
    family_id: &str,
    now: i64,
) -> Result<usize, DbError> {
    Ok(diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(family_id))
            .filter(refresh_tokens::used_at.is_null())
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(now))
    .execute(conn)?)
}

/// Revokes every token of a family.
pub fn revoke_family(
    conn: &mut AnyConnection,
    family_id: &str,
    now: i64,
) -> Result<usize, DbError> {
    Ok(diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(family_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(now))
    .execute(conn)?)
}

// ---- voice samples ----

/// A new sample, waiting for its clone job.
pub struct NewSample<'a> {
    pub user_id: i64,
    pub name: &'a str,
    pub oss_key: &'a str,
    pub duration_seconds: f64,
    pub speech_seconds: f64,
    pub clone_job_id: &'a str,
}

/// Inserts a sample in `processing` and returns it.
pub fn insert_sample(conn: &mut AnyConnection, s: &NewSample<'_>) -> Result<SampleRow, DbError> {
    let at = now();
    diesel::insert_into(voice_samples::table)
        .values((
            voice_samples::user_id.eq(s.user_id),
            voice_samples::name.eq(s.name),
            voice_samples::oss_key.eq(s.oss_key),
            voice_samples::duration_seconds.eq(s.duration_seconds),
            voice_samples::speech_seconds.eq(s.speech_seconds),
            voice_samples::consented_at.eq(Some(at)),
            voice_samples::status.eq("processing"),
            voice_samples::clone_job_id.eq(s.clone_job_id),
            voice_samples::created_at.eq(at),
            voice_samples::updated_at.eq(at),
        ))
        .execute(conn)?;
    sample_by_key(conn, s.user_id, s.oss_key)?.ok_or(DbError::NotFound)
}

/// The sample made from an object, if any.
pub fn sample_by_key(
    conn: &mut AnyConnection,
    user_id: i64,
    oss_key: &str,
) -> Result<Option<SampleRow>, DbError> {
    Ok(voice_samples::table
        .filter(voice_samples::user_id.eq(user_id))
        .filter(voice_samples::oss_key.eq(oss_key))
        .select(SampleRow::as_select())
        .first(conn)
        .optional()?)
}

/// One of a user's samples; another user's id is simply not found.
pub fn sample_of(
    conn: &mut AnyConnection,
    user_id: i64,
    sample_id: i64,
) -> Result<Option<SampleRow>, DbError> {
    Ok(voice_samples::table
        .filter(voice_samples::id.eq(sample_id))
        .filter(voice_samples::user_id.eq(user_id))
        .select(SampleRow::as_select())
        .first(conn)
        .optional()?)
}

/// A sample by id, whoever owns it (clone reports).
pub fn sample_by_id(
    conn: &mut AnyConnection,
    sample_id: i64,
) -> Result<Option<SampleRow>, DbError> {
    Ok(voice_samples::table
        .find(sample_id)
        .select(SampleRow::as_select())
        .first(conn)
        .optional()?)
}

/// A user's samples, newest first.
pub fn samples_of(conn: &mut AnyConnection, user_id: i64) -> Result<Vec<SampleRow>, DbError> {
    Ok(voice_samples::table
        .filter(voice_samples::user_id.eq(user_id))
        .order((voice_samples::created_at.desc(), voice_samples::id.desc()))
        .select(SampleRow::as_select())
        .load(conn)?)
}

/// Deletes one of a user's samples. True when it existed.
pub fn delete_sample(
    conn: &mut AnyConnection,
    user_id: i64,
    sample_id: i64,
) -> Result<bool, DbError> {
    let n = diesel::delete(
        voice_samples::table
            .filter(voice_samples::id.eq(sample_id))
            .filter(voice_samples::user_id.eq(user_id)),
    )
    .execute(conn)?;
    Ok(n == 1)
}

/// Records a clone result if the sample is still waiting for this job.
/// True when it changed the row.
pub fn finish_clone(
    conn: &mut AnyConnection,
    sample_id: i64,
    job_id: &str,
    clone_voice_id: Option<&str>,
    error: Option<&str>,
) -> Result<bool, DbError> {
    let status = if clone_voice_id.is_some() {
        "completed"
    } else {
        "failed"
    };
    let n = diesel::update(
        voice_samples::table
            .filter(voice_samples::id.eq(sample_id))
            .filter(voice_samples::clone_job_id.eq(job_id))
            .filter(voice_samples::status.eq("processing")),
    )
    .set((
        voice_samples::status.eq(status),
        voice_samples::clone_voice_id.eq(clone_voice_id),
        voice_samples::error_message.eq(error),
        voice_samples::updated_at.eq(now()),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

// ---- admin ----

/// Users whose phone contains `query` (or whose id it is), newest first,
/// one page; and how many match.
pub fn search_users(
    conn: &mut AnyConnection,
    query: &str,
    offset: i64,
    limit: i64,
) -> Result<(Vec<UserRow>, i64), DbError> {
    let pattern = format!("%{}%", query.replace(['%', '_'], ""));
    let id: i64 = query.parse().unwrap_or(-1);
    let matching = || {
        users::table
            .filter(users::phone.like(pattern.clone()).or(users::id.eq(id)))
            .into_boxed()
    };
    let total = matching().count().get_result(conn)?;
    let rows = matching()
        .order(users::id.desc())
        .offset(offset)
        .limit(limit)
        .select(UserRow::as_select())
        .load(conn)?;
    Ok((rows, total))
}

/// Sets a user's membership tier.
pub fn set_membership(
    conn: &mut AnyConnection,
    id: i64,
    tier: &str,
    at: NaiveDateTime,
) -> Result<bool, DbError> {
    Ok(diesel::update(users::table.find(id))
        .set((users::membership_type.eq(tier), users::updated_at.eq(at)))
        .execute(conn)?
        == 1)
}

/// Sets the role of the user with `phone`; false when there is none.
pub fn set_role_by_phone(
    conn: &mut AnyConnection,
    phone: &str,
    role: &str,
    at: NaiveDateTime,
) -> Result<bool, DbError> {
    Ok(diesel::update(users::table.filter(users::phone.eq(phone)))
        .set((users::role.eq(role), users::updated_at.eq(at)))
        .execute(conn)?
        == 1)
}

/// Disables a user and revokes every refresh token they hold.
pub fn disable_user(
    conn: &mut AnyConnection,
    id: i64,
    at: NaiveDateTime,
    now: i64,
) -> Result<bool, DbError> {
    let found = diesel::update(users::table.find(id))
        .set((users::disabled_at.eq(Some(at)), users::updated_at.eq(at)))
        .execute(conn)?
        == 1;
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::user_id.eq(id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(now))
    .execute(conn)?;
    Ok(found)
}
