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
