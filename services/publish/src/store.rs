//! The publish assist table and its queries (diesel DSL only, the same code
//! on PostgreSQL and SQLite).

use diesel::prelude::*;
use scout_common::adapters::db::{AnyConnection, DbError, now};

use crate::assist::Assist;

diesel::table! {
    publish_assists (id) {
        id -> BigInt,
        task_id -> BigInt,
        user_id -> BigInt,
        topics -> Text,
        titles -> Text,
        regenerate_count -> Integer,
        provider -> Varchar,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        script_version -> Integer,
    }
}

/// A stored assist.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = publish_assists)]
pub struct AssistRow {
    pub topics: String,
    pub titles: String,
    pub regenerate_count: i32,
    pub provider: String,
    pub script_version: i32,
}

impl AssistRow {
    /// The topics and titles (empty lists if the stored JSON is damaged).
    pub fn assist(&self) -> Assist {
        Assist {
            topics: serde_json::from_str(&self.topics).unwrap_or_default(),
            titles: serde_json::from_str(&self.titles).unwrap_or_default(),
        }
    }
}

fn json(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn short(provider: &str) -> String {
    provider.chars().take(100).collect()
}

/// The assist of a task.
pub fn get(conn: &mut AnyConnection, task_id: i64) -> Result<Option<AssistRow>, DbError> {
    Ok(publish_assists::table
        .filter(publish_assists::task_id.eq(task_id))
        .select(AssistRow::as_select())
        .first(conn)
        .optional()?)
}

/// Stores a first assist; when another request stored one meanwhile, that
/// one stays and is returned.
pub fn insert(
    conn: &mut AnyConnection,
    task_id: i64,
    user_id: i64,
    a: &Assist,
    provider: &str,
    script_version: i32,
) -> Result<AssistRow, DbError> {
    let at = now();
    let inserted = diesel::insert_into(publish_assists::table)
        .values((
            publish_assists::task_id.eq(task_id),
            publish_assists::user_id.eq(user_id),
            publish_assists::topics.eq(json(&a.topics)),
            publish_assists::titles.eq(json(&a.titles)),
            publish_assists::regenerate_count.eq(0),
            publish_assists::provider.eq(short(provider)),
            publish_assists::script_version.eq(script_version),
            publish_assists::created_at.eq(at),
            publish_assists::updated_at.eq(at),
        ))
        .execute(conn)
        .map_err(DbError::from);
    match inserted {
        Ok(_) | Err(DbError::Conflict(_)) => get(conn, task_id)?.ok_or(DbError::NotFound),
        Err(e) => Err(e),
    }
}

/// Replaces the suggestions if the row still has `expected_count`
/// regenerations; `count_it` spends one. False when another request got
/// there first.
pub fn replace(
    conn: &mut AnyConnection,
    task_id: i64,
    expected_count: i32,
    count_it: bool,
    a: &Assist,
    provider: &str,
    script_version: i32,
) -> Result<bool, DbError> {
    let n = diesel::update(
        publish_assists::table
            .filter(publish_assists::task_id.eq(task_id))
            .filter(publish_assists::regenerate_count.eq(expected_count)),
    )
    .set((
        publish_assists::topics.eq(json(&a.topics)),
        publish_assists::titles.eq(json(&a.titles)),
        publish_assists::regenerate_count.eq(expected_count + i32::from(count_it)),
        publish_assists::provider.eq(short(provider)),
        publish_assists::script_version.eq(script_version),
        publish_assists::updated_at.eq(now()),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

diesel::table! {
    platform_accounts (id) {
        id -> BigInt,
        user_id -> BigInt,
        platform -> Varchar,
        external_id -> Varchar,
        display_name -> Varchar,
        scopes -> Text,
        access_token -> Text,
        refresh_token -> Text,
        expires_at -> Timestamp,
        problem -> Nullable<Varchar>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    publications (id) {
        id -> BigInt,
        task_id -> BigInt,
        user_id -> BigInt,
        platform -> Varchar,
        title -> Varchar,
        topics -> Text,
        description -> Text,
        privacy -> Varchar,
        poi_id -> Varchar,
        status -> Varchar,
        scheduled_at -> Timestamp,
        next_attempt_at -> Timestamp,
        attempts -> Integer,
        lease_until -> Nullable<Timestamp>,
        upload_session -> Text,
        processing_since -> Nullable<Timestamp>,
        video_key -> Varchar,
        cover_key -> Varchar,
        ai_generated -> Bool,
        is_short -> Bool,
        post_id -> Nullable<Varchar>,
        external_url -> Nullable<Varchar>,
        account_name -> Varchar,
        error_message -> Nullable<Varchar>,
        published_at -> Nullable<Timestamp>,
        stats_due_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    publication_stats (id) {
        id -> BigInt,
        publication_id -> BigInt,
        user_id -> BigInt,
        task_id -> BigInt,
        fetched_at -> Timestamp,
        views -> BigInt,
        likes -> BigInt,
        comments -> BigInt,
        shares -> BigInt,
        watch_seconds -> Double,
    }
}

/// A linked account as stored (tokens sealed).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = platform_accounts)]
pub struct AccountRow {
    pub id: i64,
    pub user_id: i64,
    pub platform: String,
    pub external_id: String,
    pub display_name: String,
    pub scopes: String,
    pub access_token: String,
    pub refresh_token: String,
    pub expires_at: chrono::NaiveDateTime,
    pub problem: Option<String>,
    pub created_at: chrono::NaiveDateTime,
}

/// A new or relinked account.
pub struct NewAccount<'a> {
    pub user_id: i64,
    pub platform: &'a str,
    pub external_id: &'a str,
    pub display_name: &'a str,
    pub scopes: &'a [String],
    pub access_token: &'a str,
    pub refresh_token: &'a str,
    pub expires_at: chrono::NaiveDateTime,
}

/// Links an account, replacing the user's previous link on that platform.
pub fn upsert_account(conn: &mut AnyConnection, a: &NewAccount<'_>) -> Result<AccountRow, DbError> {
    let at = now();
    let platform = a.platform.to_string();
    let user_id = a.user_id;
    let scopes = json(a.scopes);
    let updated = diesel::update(
        platform_accounts::table
            .filter(platform_accounts::user_id.eq(user_id))
            .filter(platform_accounts::platform.eq(&platform)),
    )
    .set((
        platform_accounts::external_id.eq(a.external_id),
        platform_accounts::display_name.eq(a.display_name),
        platform_accounts::scopes.eq(&scopes),
        platform_accounts::access_token.eq(a.access_token),
        platform_accounts::refresh_token.eq(a.refresh_token),
        platform_accounts::expires_at.eq(a.expires_at),
        platform_accounts::problem.eq(None::<String>),
        platform_accounts::updated_at.eq(at),
    ))
    .execute(conn)?;
    if updated == 0 {
        let inserted = diesel::insert_into(platform_accounts::table)
            .values((
                platform_accounts::user_id.eq(user_id),
                platform_accounts::platform.eq(&platform),
                platform_accounts::external_id.eq(a.external_id),
                platform_accounts::display_name.eq(a.display_name),
                platform_accounts::scopes.eq(&scopes),
                platform_accounts::access_token.eq(a.access_token),
                platform_accounts::refresh_token.eq(a.refresh_token),
                platform_accounts::expires_at.eq(a.expires_at),
                platform_accounts::created_at.eq(at),
                platform_accounts::updated_at.eq(at),
            ))
            .execute(conn)
            .map_err(DbError::from);
        match inserted {
            Ok(_) => {}
            // Two links raced: the other one's row is updated instead.
            Err(DbError::Conflict(_)) => return upsert_account(conn, a),
            Err(e) => return Err(e),
        }
    }
    account(conn, user_id, &platform)?.ok_or(DbError::NotFound)
}

/// The user's account on a platform.
pub fn account(
    conn: &mut AnyConnection,
    user_id: i64,
    platform: &str,
) -> Result<Option<AccountRow>, DbError> {
    Ok(platform_accounts::table
        .filter(platform_accounts::user_id.eq(user_id))
        .filter(platform_accounts::platform.eq(platform))
        .select(AccountRow::as_select())
        .first(conn)
        .optional()?)
}

/// The user's accounts.
pub fn accounts_of(conn: &mut AnyConnection, user_id: i64) -> Result<Vec<AccountRow>, DbError> {
    Ok(platform_accounts::table
        .filter(platform_accounts::user_id.eq(user_id))
        .order(platform_accounts::platform.asc())
        .select(AccountRow::as_select())
        .load(conn)?)
}

/// Every account (for re-sealing after a key rotation), by id from `after`.
pub fn accounts_page(
    conn: &mut AnyConnection,
    after: i64,
    limit: i64,
) -> Result<Vec<AccountRow>, DbError> {
    Ok(platform_accounts::table
        .filter(platform_accounts::id.gt(after))
        .order(platform_accounts::id.asc())
        .limit(limit)
        .select(AccountRow::as_select())
        .load(conn)?)
}

/// Stores refreshed (or re-sealed) tokens if the row still holds
/// `expected_access` (compare-and-set: a racing refresh wins once).
pub fn replace_tokens(
    conn: &mut AnyConnection,
    id: i64,
    expected_access: &str,
    access: &str,
    refresh: &str,
    expires_at: chrono::NaiveDateTime,
) -> Result<bool, DbError> {
    let n = diesel::update(
        platform_accounts::table
            .filter(platform_accounts::id.eq(id))
            .filter(platform_accounts::access_token.eq(expected_access)),
    )
    .set((
        platform_accounts::access_token.eq(access),
        platform_accounts::refresh_token.eq(refresh),
        platform_accounts::expires_at.eq(expires_at),
        platform_accounts::problem.eq(None::<String>),
        platform_accounts::updated_at.eq(now()),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Records why the account's tokens no longer work.
pub fn set_account_problem(
    conn: &mut AnyConnection,
    id: i64,
    problem: &str,
) -> Result<(), DbError> {
    diesel::update(platform_accounts::table.filter(platform_accounts::id.eq(id)))
        .set((
            platform_accounts::problem.eq(Some(clip(problem, 500))),
            platform_accounts::updated_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Forgets the user's account on a platform; false when there was none.
pub fn delete_account(
    conn: &mut AnyConnection,
    user_id: i64,
    platform: &str,
) -> Result<bool, DbError> {
    let n = diesel::delete(
        platform_accounts::table
            .filter(platform_accounts::user_id.eq(user_id))
            .filter(platform_accounts::platform.eq(platform)),
    )
    .execute(conn)?;
    Ok(n > 0)
}

/// `s` cut to `n` characters.
pub fn clip(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// A publication as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = publications)]
pub struct PublicationRow {
    pub id: i64,
    pub task_id: i64,
    pub user_id: i64,
    pub platform: String,
    pub title: String,
    pub topics: String,
    pub description: String,
    pub privacy: String,
    pub poi_id: String,
    pub status: String,
    pub scheduled_at: chrono::NaiveDateTime,
    pub next_attempt_at: chrono::NaiveDateTime,
    pub attempts: i32,
    pub lease_until: Option<chrono::NaiveDateTime>,
    pub upload_session: String,
    pub processing_since: Option<chrono::NaiveDateTime>,
    pub video_key: String,
    pub cover_key: String,
    pub ai_generated: bool,
    pub is_short: bool,
    pub post_id: Option<String>,
    pub external_url: Option<String>,
    pub account_name: String,
    pub error_message: Option<String>,
    pub published_at: Option<chrono::NaiveDateTime>,
    pub stats_due_at: Option<chrono::NaiveDateTime>,
    pub created_at: chrono::NaiveDateTime,
    pub updated_at: chrono::NaiveDateTime,
}

impl PublicationRow {
    /// The topics (none if the stored JSON is damaged).
    pub fn topic_list(&self) -> Vec<String> {
        serde_json::from_str(&self.topics).unwrap_or_default()
    }
}

/// A publication to create.
pub struct NewPublication<'a> {
    pub task_id: i64,
    pub user_id: i64,
    pub platform: &'a str,
    pub title: &'a str,
    pub topics: &'a [String],
    pub description: &'a str,
    pub privacy: &'a str,
    pub poi_id: &'a str,
    pub status: &'a str,
    pub scheduled_at: chrono::NaiveDateTime,
    pub video_key: &'a str,
    pub cover_key: &'a str,
    pub ai_generated: bool,
    pub is_short: bool,
    pub account_name: &'a str,
}

/// Creates publications, all or none.
pub fn insert_publications(
    conn: &mut AnyConnection,
    rows: &[NewPublication<'_>],
) -> Result<Vec<PublicationRow>, DbError> {
    let at = now();
    let mut out = Vec::with_capacity(rows.len());
    for p in rows {
        diesel::insert_into(publications::table)
            .values((
                publications::task_id.eq(p.task_id),
                publications::user_id.eq(p.user_id),
                publications::platform.eq(p.platform),
                publications::title.eq(p.title),
                publications::topics.eq(json(p.topics)),
                publications::description.eq(p.description),
                publications::privacy.eq(p.privacy),
                publications::poi_id.eq(p.poi_id),
                publications::status.eq(p.status),
                publications::scheduled_at.eq(p.scheduled_at),
                publications::next_attempt_at.eq(p.scheduled_at),
                publications::video_key.eq(p.video_key),
                publications::cover_key.eq(p.cover_key),
                publications::ai_generated.eq(p.ai_generated),
                publications::is_short.eq(p.is_short),
                publications::account_name.eq(p.account_name),
                publications::created_at.eq(at),
                publications::updated_at.eq(at),
            ))
            .execute(conn)?;
        let row = publications::table
            .filter(publications::task_id.eq(p.task_id))
            .filter(publications::platform.eq(p.platform))
            .order(publications::id.desc())
            .select(PublicationRow::as_select())
            .first(conn)?;
        out.push(row);
    }
    Ok(out)
}

/// One publication.
pub fn publication(conn: &mut AnyConnection, id: i64) -> Result<Option<PublicationRow>, DbError> {
    Ok(publications::table
        .filter(publications::id.eq(id))
        .select(PublicationRow::as_select())
        .first(conn)
        .optional()?)
}

/// A task's publications, newest first.
pub fn publications_of(
    conn: &mut AnyConnection,
    task_id: i64,
) -> Result<Vec<PublicationRow>, DbError> {
    Ok(publications::table
        .filter(publications::task_id.eq(task_id))
        .order(publications::id.desc())
        .select(PublicationRow::as_select())
        .load(conn)?)
}

/// Whether the task has a live or pending publication on the platform.
pub fn active_on(conn: &mut AnyConnection, task_id: i64, platform: &str) -> Result<bool, DbError> {
    let n: i64 = publications::table
        .filter(publications::task_id.eq(task_id))
        .filter(publications::platform.eq(platform))
        .filter(publications::status.eq_any(["scheduled", "uploading", "processing", "published"]))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Publications a publisher may take now: due scheduled ones and those
/// whose lease ran out (a publisher died holding them), oldest first.
pub fn due(conn: &mut AnyConnection, limit: i64) -> Result<Vec<PublicationRow>, DbError> {
    let at = now();
    Ok(publications::table
        .filter(publications::status.eq_any(["scheduled", "uploading", "processing"]))
        .filter(publications::next_attempt_at.le(at))
        .filter(
            publications::lease_until
                .is_null()
                .or(publications::lease_until.lt(at)),
        )
        .order(publications::next_attempt_at.asc())
        .limit(limit)
        .select(PublicationRow::as_select())
        .load(conn)?)
}

/// Takes a publication for `lease` if it is still as read (status and
/// lease unchanged): true when this publisher has it.
pub fn claim(
    conn: &mut AnyConnection,
    row: &PublicationRow,
    lease_until: chrono::NaiveDateTime,
) -> Result<bool, DbError> {
    let base = publications::table
        .filter(publications::id.eq(row.id))
        .filter(publications::status.eq(&row.status))
        .filter(publications::updated_at.eq(row.updated_at));
    let n = diesel::update(base)
        .set((
            publications::lease_until.eq(Some(lease_until)),
            publications::updated_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// What a publisher writes about a publication it holds.
#[derive(Debug, Default)]
pub struct Outcome<'a> {
    pub status: &'a str,
    pub next_attempt_at: Option<chrono::NaiveDateTime>,
    pub attempts: Option<i32>,
    pub processing_since: Option<Option<chrono::NaiveDateTime>>,
    pub post_id: Option<&'a str>,
    pub external_url: Option<&'a str>,
    pub account_name: Option<&'a str>,
    pub error_message: Option<Option<String>>,
    pub published_at: Option<chrono::NaiveDateTime>,
    pub stats_due_at: Option<chrono::NaiveDateTime>,
    pub release: bool,
}

/// Writes `o` to a publication in one of `from` (a cancel in between wins).
pub fn record(
    conn: &mut AnyConnection,
    id: i64,
    from: &[&str],
    o: &Outcome<'_>,
) -> Result<bool, DbError> {
    let target = publications::table
        .filter(publications::id.eq(id))
        .filter(publications::status.eq_any(from.to_vec()));
    let row: Option<PublicationRow> = target
        .select(PublicationRow::as_select())
        .first(conn)
        .optional()?;
    let Some(row) = row else {
        return Ok(false);
    };
    let n = diesel::update(
        publications::table
            .filter(publications::id.eq(id))
            .filter(publications::status.eq(&row.status)),
    )
    .set((
        publications::status.eq(o.status),
        publications::next_attempt_at.eq(o.next_attempt_at.unwrap_or(row.next_attempt_at)),
        publications::attempts.eq(o.attempts.unwrap_or(row.attempts)),
        publications::processing_since.eq(o.processing_since.unwrap_or(row.processing_since)),
        publications::post_id.eq(o.post_id.map(str::to_string).or(row.post_id)),
        publications::external_url.eq(o.external_url.map(str::to_string).or(row.external_url)),
        publications::account_name.eq(o.account_name.map_or(row.account_name, str::to_string)),
        publications::error_message.eq(o
            .error_message
            .clone()
            .map(|m| m.map(|m| clip(&m, 1000)))
            .unwrap_or(row.error_message)),
        publications::published_at.eq(o.published_at.or(row.published_at)),
        publications::stats_due_at.eq(o.stats_due_at.or(row.stats_due_at)),
        publications::lease_until.eq(if o.release { None } else { row.lease_until }),
        publications::updated_at.eq(now()),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Gives a held publication back as it stands (its lease cleared).
pub fn release(conn: &mut AnyConnection, id: i64) -> Result<(), DbError> {
    diesel::update(publications::table.filter(publications::id.eq(id)))
        .set(publications::lease_until.eq(None::<chrono::NaiveDateTime>))
        .execute(conn)?;
    Ok(())
}

/// Saves the upload's resumable session and renews the lease.
pub fn save_session(
    conn: &mut AnyConnection,
    id: i64,
    session: &str,
    lease_until: chrono::NaiveDateTime,
) -> Result<(), DbError> {
    diesel::update(
        publications::table
            .filter(publications::id.eq(id))
            .filter(publications::status.eq("uploading")),
    )
    .set((
        publications::upload_session.eq(session),
        publications::lease_until.eq(Some(lease_until)),
    ))
    .execute(conn)?;
    Ok(())
}

/// Published publications whose figures are due, oldest due first.
pub fn stats_due(conn: &mut AnyConnection, limit: i64) -> Result<Vec<PublicationRow>, DbError> {
    Ok(publications::table
        .filter(publications::status.eq("published"))
        .filter(publications::stats_due_at.le(now()))
        .order(publications::stats_due_at.asc())
        .limit(limit)
        .select(PublicationRow::as_select())
        .load(conn)?)
}

/// Moves a publication's next fetch if it is still `expected` (one
/// fetcher per round among replicas).
pub fn take_stats_turn(
    conn: &mut AnyConnection,
    id: i64,
    expected: chrono::NaiveDateTime,
    next: chrono::NaiveDateTime,
) -> Result<bool, DbError> {
    let n = diesel::update(
        publications::table
            .filter(publications::id.eq(id))
            .filter(publications::stats_due_at.eq(expected)),
    )
    .set(publications::stats_due_at.eq(Some(next)))
    .execute(conn)?;
    Ok(n == 1)
}

/// A stored point.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = publication_stats)]
pub struct StatsRow {
    pub publication_id: i64,
    pub task_id: i64,
    pub fetched_at: chrono::NaiveDateTime,
    pub views: i64,
    pub likes: i64,
    pub comments: i64,
    pub shares: i64,
    pub watch_seconds: f64,
}

/// Stores a point.
pub fn insert_stats(
    conn: &mut AnyConnection,
    p: &PublicationRow,
    s: &StatsRow,
) -> Result<(), DbError> {
    diesel::insert_into(publication_stats::table)
        .values((
            publication_stats::publication_id.eq(p.id),
            publication_stats::user_id.eq(p.user_id),
            publication_stats::task_id.eq(p.task_id),
            publication_stats::fetched_at.eq(s.fetched_at),
            publication_stats::views.eq(s.views),
            publication_stats::likes.eq(s.likes),
            publication_stats::comments.eq(s.comments),
            publication_stats::shares.eq(s.shares),
            publication_stats::watch_seconds.eq(s.watch_seconds),
        ))
        .execute(conn)?;
    Ok(())
}

/// A user's points in `[from, to)`, for one task or all, oldest first.
pub fn stats_of(
    conn: &mut AnyConnection,
    user_id: i64,
    task_id: Option<i64>,
    from: chrono::NaiveDateTime,
    to: chrono::NaiveDateTime,
) -> Result<Vec<StatsRow>, DbError> {
    let mut q = publication_stats::table
        .filter(publication_stats::user_id.eq(user_id))
        .filter(publication_stats::fetched_at.ge(from))
        .filter(publication_stats::fetched_at.lt(to))
        .into_boxed();
    if let Some(t) = task_id {
        q = q.filter(publication_stats::task_id.eq(t));
    }
    Ok(q.order((
        publication_stats::publication_id.asc(),
        publication_stats::fetched_at.asc(),
    ))
    .limit(100_000)
    .select(StatsRow::as_select())
    .load(conn)?)
}
