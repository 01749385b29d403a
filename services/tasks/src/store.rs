//! The tasks service's tables (seed 000 §5.1) and the queries on them.
//! Every query that reads or changes a user's task is scoped by user id, so
//! another user's task simply does not exist.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use scout_common::adapters::db::{AnyConnection, DbError};

use crate::machine::Status;

diesel::table! {
    tasks (id) {
        id -> BigInt,
        user_id -> BigInt,
        shop_name -> Varchar,
        shop_type -> Varchar,
        promotion_text -> Text,
        video_style -> Varchar,
        status -> Varchar,
        voice_type -> Varchar,
        voice_sample_id -> Nullable<BigInt>,
        subtitle_enabled -> Bool,
        subtitle_style -> Varchar,
        output_oss_key -> Nullable<Varchar>,
        output_duration_seconds -> Nullable<Double>,
        output_file_size -> Nullable<BigInt>,
        error_message -> Nullable<Varchar>,
        script_regenerate_count -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        failure_step -> Nullable<Varchar>,
        failure_code -> Nullable<Integer>,
        failure_attempts -> Nullable<Integer>,
        failed_at -> Nullable<Timestamp>,
        provider_note -> Varchar,
        voice_speed -> Double,
    }
}

diesel::table! {
    videos (id) {
        id -> BigInt,
        task_id -> BigInt,
        original_filename -> Varchar,
        oss_key -> Varchar,
        status -> Varchar,
    }
}

diesel::allow_tables_to_appear_in_same_query!(tasks, videos);

/// A task row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tasks)]
pub struct TaskRow {
    pub id: i64,
    pub user_id: i64,
    pub shop_name: String,
    pub shop_type: String,
    pub promotion_text: String,
    pub video_style: String,
    pub status: String,
    pub voice_type: String,
    pub voice_sample_id: Option<i64>,
    pub subtitle_enabled: bool,
    pub subtitle_style: String,
    pub error_message: Option<String>,
    pub script_regenerate_count: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub failure_step: Option<String>,
    pub failure_code: Option<i32>,
    pub failure_attempts: Option<i32>,
    pub failed_at: Option<NaiveDateTime>,
    pub provider_note: String,
    pub voice_speed: f64,
}

impl TaskRow {
    /// The parsed status (an unknown stored value reads as FAILED).
    pub fn status(&self) -> Status {
        Status::parse(&self.status).unwrap_or(Status::Failed)
    }
}

/// A new task's shop info.
pub struct NewTask<'a> {
    pub user_id: i64,
    pub shop_name: &'a str,
    pub shop_type: &'a str,
    pub promotion_text: &'a str,
    pub video_style: &'a str,
}

fn now() -> NaiveDateTime {
    chrono::Utc::now().naive_utc()
}

/// Inserts a task in CREATED and returns it.
pub fn insert_task(conn: &mut AnyConnection, t: &NewTask<'_>) -> Result<TaskRow, DbError> {
    let at = now();
    conn.transaction(|c| {
        diesel::insert_into(tasks::table)
            .values((
                tasks::user_id.eq(t.user_id),
                tasks::shop_name.eq(t.shop_name),
                tasks::shop_type.eq(t.shop_type),
                tasks::promotion_text.eq(t.promotion_text),
                tasks::video_style.eq(t.video_style),
                tasks::status.eq(Status::Created.as_str()),
                tasks::created_at.eq(at),
                tasks::updated_at.eq(at),
            ))
            .execute(c)?;
        // The row just inserted: the user's newest (ids only grow).
        tasks::table
            .filter(tasks::user_id.eq(t.user_id))
            .order(tasks::id.desc())
            .select(TaskRow::as_select())
            .first(c)
    })
    .map_err(DbError::from)
}

/// One of a user's tasks.
pub fn task_of(
    conn: &mut AnyConnection,
    user_id: i64,
    task_id: i64,
) -> Result<Option<TaskRow>, DbError> {
    Ok(tasks::table
        .filter(tasks::id.eq(task_id))
        .filter(tasks::user_id.eq(user_id))
        .select(TaskRow::as_select())
        .first(conn)
        .optional()?)
}

/// A page of a user's tasks, newest first, and the total.
pub fn tasks_page(
    conn: &mut AnyConnection,
    user_id: i64,
    status: Option<Status>,
    page: i64,
    page_size: i64,
) -> Result<(Vec<TaskRow>, i64), DbError> {
    let mut count = tasks::table
        .filter(tasks::user_id.eq(user_id))
        .count()
        .into_boxed();
    let mut rows = tasks::table
        .filter(tasks::user_id.eq(user_id))
        .select(TaskRow::as_select())
        .order((tasks::created_at.desc(), tasks::id.desc()))
        .limit(page_size)
        .offset((page - 1) * page_size)
        .into_boxed();
    if let Some(s) = status {
        count = count.filter(tasks::status.eq(s.as_str()));
        rows = rows.filter(tasks::status.eq(s.as_str()));
    }
    let total: i64 = count.get_result(conn)?;
    Ok((rows.load(conn)?, total))
}

/// Number of clips per task, for a page of tasks.
pub fn video_counts(
    conn: &mut AnyConnection,
    task_ids: &[i64],
) -> Result<Vec<(i64, i64)>, DbError> {
    Ok(videos::table
        .filter(videos::task_id.eq_any(task_ids))
        .group_by(videos::task_id)
        .select((videos::task_id, diesel::dsl::count_star()))
        .load(conn)?)
}

/// Deletes one of a user's tasks; its clips and script go with it (the
/// foreign keys cascade). True when it existed.
pub fn delete_task(conn: &mut AnyConnection, user_id: i64, task_id: i64) -> Result<bool, DbError> {
    let n = diesel::delete(
        tasks::table
            .filter(tasks::id.eq(task_id))
            .filter(tasks::user_id.eq(user_id)),
    )
    .execute(conn)?;
    Ok(n == 1)
}
