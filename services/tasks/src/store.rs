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
        current_job_id -> Nullable<Varchar>,
        job_started_at -> Nullable<Timestamp>,
        output_subtitle_key -> Nullable<Varchar>,
        output_cover_key -> Nullable<Varchar>,
        output_assets_key -> Nullable<Varchar>,
        output_width -> Nullable<Integer>,
        output_height -> Nullable<Integer>,
        output_shots -> Text,
    }
}

diesel::table! {
    task_recipes (task_id) {
        task_id -> BigInt,
        recipe -> Varchar,
        product_name -> Varchar,
        call_to_action -> Varchar,
        tagline -> Varchar,
        target_seconds -> Double,
        accent -> Varchar,
        topic -> Varchar,
        niche -> Varchar,
        visuals -> Varchar,
        animate -> Bool,
        lip_sync -> Bool,
    }
}

diesel::table! {
    output_labels (task_id) {
        task_id -> BigInt,
        aigc -> Text,
    }
}

diesel::table! {
    videos (id) {
        id -> BigInt,
        task_id -> BigInt,
        original_filename -> Varchar,
        oss_key -> Varchar,
        thumbnail_oss_key -> Nullable<Varchar>,
        duration_seconds -> Nullable<Double>,
        file_size -> Nullable<BigInt>,
        width -> Nullable<Integer>,
        height -> Nullable<Integer>,
        status -> Varchar,
        category -> Nullable<Varchar>,
        tags -> Text,
        description -> Nullable<Varchar>,
        quality_score -> Nullable<Integer>,
        is_recommended -> Bool,
        sort_order -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        clarity -> Nullable<Integer>,
        composition -> Nullable<Integer>,
        lighting -> Nullable<Integer>,
        stability -> Nullable<Integer>,
        frame_keys -> Text,
        analysis_provider -> Varchar,
        analysis_job_id -> Nullable<Varchar>,
        focus -> Text,
        kind -> Varchar,
        source_video_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    scripts (id) {
        id -> BigInt,
        task_id -> BigInt,
        content -> Text,
        version -> Integer,
        is_user_edited -> Bool,
        total_duration_seconds -> Nullable<Double>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        provider -> Varchar,
        job_id -> Nullable<Varchar>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(tasks, videos, scripts, task_recipes);

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
    pub current_job_id: Option<String>,
    pub job_started_at: Option<NaiveDateTime>,
    pub output_oss_key: Option<String>,
    pub output_duration_seconds: Option<f64>,
    pub output_file_size: Option<i64>,
    pub output_subtitle_key: Option<String>,
    pub output_cover_key: Option<String>,
    pub output_assets_key: Option<String>,
    pub output_width: Option<i32>,
    pub output_height: Option<i32>,
    pub output_shots: String,
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
    let mine = TaskFilter {
        status,
        user_id: Some(user_id),
        ..TaskFilter::default()
    };
    all_tasks_page(conn, &mine, page, page_size)
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

/// Moves a task from `from` to `to` if it is still in `from` (compare and
/// set, so two racing requests cannot both move it). False when someone
/// else moved it first.
pub fn set_status(
    conn: &mut AnyConnection,
    task_id: i64,
    from: Status,
    to: Status,
) -> Result<bool, DbError> {
    if from == to {
        return Ok(true);
    }
    let n = diesel::update(
        tasks::table
            .filter(tasks::id.eq(task_id))
            .filter(tasks::status.eq(from.as_str())),
    )
    .set((tasks::status.eq(to.as_str()), tasks::updated_at.eq(now())))
    .execute(conn)?;
    Ok(n == 1)
}

/// A clip row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = videos)]
pub struct VideoRow {
    pub id: i64,
    pub task_id: i64,
    pub original_filename: String,
    pub oss_key: String,
    pub thumbnail_oss_key: Option<String>,
    pub duration_seconds: Option<f64>,
    pub file_size: Option<i64>,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub status: String,
    pub category: Option<String>,
    pub tags: String,
    pub description: Option<String>,
    pub quality_score: Option<i32>,
    pub is_recommended: bool,
    pub sort_order: i32,
    pub created_at: NaiveDateTime,
    pub clarity: Option<i32>,
    pub composition: Option<i32>,
    pub lighting: Option<i32>,
    pub stability: Option<i32>,
    pub frame_keys: String,
    pub analysis_provider: String,
    pub analysis_job_id: Option<String>,
    /// JSON list of the clip's focus points (shot analysis).
    pub focus: String,
    /// clip, image or audio.
    pub kind: String,
    /// The library clip this one was copied from (a topic short's), the
    /// first upload when that was itself a copy; `None` for uploads.
    pub source_video_id: Option<i64>,
}

impl VideoRow {
    /// The upload this clip is, or was copied from.
    pub fn root(&self) -> i64 {
        self.source_video_id.unwrap_or(self.id)
    }
}

/// A probed clip to record.
pub struct NewVideo<'a> {
    pub task_id: i64,
    pub original_filename: &'a str,
    pub oss_key: &'a str,
    pub thumbnail_oss_key: Option<&'a str>,
    pub duration_seconds: f64,
    pub file_size: i64,
    pub width: i32,
    pub height: i32,
    /// clip, image or audio.
    pub kind: &'a str,
}

/// A task's clips in upload order.
pub fn videos_of(conn: &mut AnyConnection, task_id: i64) -> Result<Vec<VideoRow>, DbError> {
    Ok(videos::table
        .filter(videos::task_id.eq(task_id))
        .order((videos::sort_order.asc(), videos::id.asc()))
        .select(VideoRow::as_select())
        .load(conn)?)
}

/// The clip made from an object, if any.
pub fn video_by_key(
    conn: &mut AnyConnection,
    task_id: i64,
    oss_key: &str,
) -> Result<Option<VideoRow>, DbError> {
    Ok(videos::table
        .filter(videos::task_id.eq(task_id))
        .filter(videos::oss_key.eq(oss_key))
        .select(VideoRow::as_select())
        .first(conn)
        .optional()?)
}

/// Number of clips of a task.
pub fn video_count(conn: &mut AnyConnection, task_id: i64) -> Result<i64, DbError> {
    Ok(videos::table
        .filter(videos::task_id.eq(task_id))
        .count()
        .get_result(conn)?)
}

/// Puts a task's clips in the order of `ids` (each clip once). False when
/// `ids` is not exactly the task's clips.
pub fn reorder_videos(
    conn: &mut AnyConnection,
    task_id: i64,
    ids: &[i64],
) -> Result<bool, DbError> {
    let mut current: Vec<i64> = videos::table
        .filter(videos::task_id.eq(task_id))
        .select(videos::id)
        .load(conn)?;
    let mut wanted = ids.to_vec();
    current.sort_unstable();
    wanted.sort_unstable();
    if current != wanted {
        return Ok(false);
    }
    for (position, id) in ids.iter().enumerate() {
        diesel::update(videos::table.filter(videos::id.eq(id)))
            .set(videos::sort_order.eq(position as i32))
            .execute(conn)?;
    }
    Ok(true)
}

/// The position after the task's last upload.
fn next_order(conn: &mut AnyConnection, task_id: i64) -> Result<i32, DbError> {
    let last: Option<i32> = videos::table
        .filter(videos::task_id.eq(task_id))
        .select(diesel::dsl::max(videos::sort_order))
        .first(conn)?;
    Ok(last.map_or(0, |o| o + 1))
}

/// Records a clip as the task's last, in UPLOADED.
pub fn insert_video(conn: &mut AnyConnection, v: &NewVideo<'_>) -> Result<VideoRow, DbError> {
    let (at, order) = (now(), next_order(conn, v.task_id)?);
    diesel::insert_into(videos::table)
        .values((
            videos::task_id.eq(v.task_id),
            videos::original_filename.eq(v.original_filename),
            videos::oss_key.eq(v.oss_key),
            videos::thumbnail_oss_key.eq(v.thumbnail_oss_key),
            videos::duration_seconds.eq(v.duration_seconds),
            videos::file_size.eq(v.file_size),
            videos::width.eq(v.width),
            videos::height.eq(v.height),
            videos::status.eq("uploaded"),
            videos::kind.eq(v.kind),
            videos::tags.eq("[]"),
            videos::is_recommended.eq(false),
            videos::sort_order.eq(order),
            videos::created_at.eq(at),
            videos::updated_at.eq(at),
        ))
        .execute(conn)?;
    video_by_key(conn, v.task_id, v.oss_key)?.ok_or(DbError::NotFound)
}

/// Deletes one clip of a task. The row, if it existed.
pub fn delete_video(
    conn: &mut AnyConnection,
    task_id: i64,
    video_id: i64,
) -> Result<Option<VideoRow>, DbError> {
    let row = videos::table
        .filter(videos::id.eq(video_id))
        .filter(videos::task_id.eq(task_id))
        .select(VideoRow::as_select())
        .first(conn)
        .optional()?;
    if row.is_some() {
        diesel::delete(videos::table.filter(videos::id.eq(video_id))).execute(conn)?;
    }
    Ok(row)
}

/// Starts a job: moves the task (compare and set) and records the job it
/// now waits for. False when the task moved first.
pub fn start_job(
    conn: &mut AnyConnection,
    task_id: i64,
    from: Status,
    to: Status,
    job_id: &str,
) -> Result<bool, DbError> {
    let at = now();
    let n = diesel::update(
        tasks::table
            .filter(tasks::id.eq(task_id))
            .filter(tasks::status.eq(from.as_str())),
    )
    .set((
        tasks::status.eq(to.as_str()),
        tasks::current_job_id.eq(Some(job_id)),
        tasks::job_started_at.eq(Some(at)),
        tasks::error_message.eq(None::<String>),
        tasks::failure_step.eq(None::<String>),
        tasks::failure_code.eq(None::<i32>),
        tasks::failure_attempts.eq(None::<i32>),
        tasks::failed_at.eq(None::<NaiveDateTime>),
        tasks::updated_at.eq(at),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// A task by id, whoever owns it (workers).
pub fn task_by_id(conn: &mut AnyConnection, task_id: i64) -> Result<Option<TaskRow>, DbError> {
    Ok(tasks::table
        .find(task_id)
        .select(TaskRow::as_select())
        .first(conn)
        .optional()?)
}

/// One clip's analysis, as a worker reports it.
pub struct Analysis<'a> {
    pub category: &'a str,
    pub tags: &'a str,
    pub description: &'a str,
    pub quality_score: i32,
    pub factors: [i32; 4],
    pub is_recommended: bool,
    pub frame_keys: &'a str,
    pub provider: &'a str,
    pub focus: &'a str,
}

/// Stores a clip's analysis unless this job's was stored already. True
/// when it changed the row.
pub fn store_analysis(
    conn: &mut AnyConnection,
    task_id: i64,
    video_id: i64,
    job_id: &str,
    a: &Analysis<'_>,
) -> Result<bool, DbError> {
    let n = diesel::update(
        videos::table
            .filter(videos::id.eq(video_id))
            .filter(videos::task_id.eq(task_id))
            .filter(
                videos::analysis_job_id
                    .is_null()
                    .or(videos::analysis_job_id.ne(job_id)),
            ),
    )
    .set((
        videos::status.eq("analyzed"),
        videos::category.eq(a.category),
        videos::tags.eq(a.tags),
        videos::description.eq(a.description),
        videos::quality_score.eq(a.quality_score),
        videos::clarity.eq(a.factors[0]),
        videos::composition.eq(a.factors[1]),
        videos::lighting.eq(a.factors[2]),
        videos::stability.eq(a.factors[3]),
        videos::is_recommended.eq(a.is_recommended),
        videos::frame_keys.eq(a.frame_keys),
        videos::analysis_provider.eq(a.provider),
        videos::focus.eq(a.focus),
        videos::analysis_job_id.eq(job_id),
        videos::updated_at.eq(now()),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// A script row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = scripts)]
pub struct ScriptRow {
    pub id: i64,
    pub task_id: i64,
    pub content: String,
    pub version: i32,
    pub is_user_edited: bool,
    pub total_duration_seconds: Option<f64>,
    pub provider: String,
}

/// The task's script, if one exists.
pub fn script_of(conn: &mut AnyConnection, task_id: i64) -> Result<Option<ScriptRow>, DbError> {
    Ok(scripts::table
        .filter(scripts::task_id.eq(task_id))
        .select(ScriptRow::as_select())
        .first(conn)
        .optional()?)
}

/// Writes the task's script as its next version.
pub fn save_script(
    conn: &mut AnyConnection,
    task_id: i64,
    content: &str,
    total: f64,
    user_edited: bool,
    provider: &str,
    job_id: Option<&str>,
) -> Result<ScriptRow, DbError> {
    let at = now();
    match script_of(conn, task_id)? {
        Some(old) => {
            diesel::update(scripts::table.find(old.id))
                .set((
                    scripts::content.eq(content),
                    scripts::version.eq(old.version + 1),
                    scripts::is_user_edited.eq(user_edited),
                    scripts::total_duration_seconds.eq(total),
                    scripts::provider.eq(provider),
                    scripts::job_id.eq(job_id),
                    scripts::updated_at.eq(at),
                ))
                .execute(conn)?;
        }
        None => {
            diesel::insert_into(scripts::table)
                .values((
                    scripts::task_id.eq(task_id),
                    scripts::content.eq(content),
                    scripts::version.eq(1),
                    scripts::is_user_edited.eq(user_edited),
                    scripts::total_duration_seconds.eq(total),
                    scripts::provider.eq(provider),
                    scripts::job_id.eq(job_id),
                    scripts::created_at.eq(at),
                    scripts::updated_at.eq(at),
                ))
                .execute(conn)?;
        }
    }
    script_of(conn, task_id)?.ok_or(DbError::NotFound)
}

/// Ends the job a task waits for: moves it and forgets the job.
pub fn finish_job(
    conn: &mut AnyConnection,
    task_id: i64,
    from: Status,
    to: Status,
    provider_note: Option<&str>,
) -> Result<bool, DbError> {
    let at = now();
    let target = tasks::table
        .filter(tasks::id.eq(task_id))
        .filter(tasks::status.eq(from.as_str()));
    let n = match provider_note {
        Some(note) => diesel::update(target)
            .set((
                tasks::status.eq(to.as_str()),
                tasks::current_job_id.eq(None::<String>),
                tasks::provider_note.eq(note),
                tasks::updated_at.eq(at),
            ))
            .execute(conn)?,
        None => diesel::update(target)
            .set((
                tasks::status.eq(to.as_str()),
                tasks::current_job_id.eq(None::<String>),
                tasks::updated_at.eq(at),
            ))
            .execute(conn)?,
    };
    Ok(n == 1)
}

/// Records a final failure.
pub fn fail_task(
    conn: &mut AnyConnection,
    task_id: i64,
    from: Status,
    step: &str,
    message: &str,
    code: i32,
    attempts: i32,
) -> Result<bool, DbError> {
    let at = now();
    let n = diesel::update(
        tasks::table
            .filter(tasks::id.eq(task_id))
            .filter(tasks::status.eq(from.as_str())),
    )
    .set((
        tasks::status.eq(Status::Failed.as_str()),
        tasks::current_job_id.eq(None::<String>),
        tasks::error_message.eq(message),
        tasks::failure_step.eq(step),
        tasks::failure_code.eq(code),
        tasks::failure_attempts.eq(attempts),
        tasks::failed_at.eq(at),
        tasks::updated_at.eq(at),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Counts one script regeneration; false when none are left.
pub fn use_regeneration(conn: &mut AnyConnection, task_id: i64, max: i32) -> Result<bool, DbError> {
    let n = diesel::update(
        tasks::table
            .filter(tasks::id.eq(task_id))
            .filter(tasks::script_regenerate_count.lt(max)),
    )
    .set(tasks::script_regenerate_count.eq(tasks::script_regenerate_count + 1))
    .execute(conn)?;
    Ok(n == 1)
}

/// Gives back a regeneration that was counted but not started.
pub fn refund_regeneration(conn: &mut AnyConnection, task_id: i64) -> Result<(), DbError> {
    diesel::update(
        tasks::table
            .filter(tasks::id.eq(task_id))
            .filter(tasks::script_regenerate_count.gt(0)),
    )
    .set(tasks::script_regenerate_count.eq(tasks::script_regenerate_count - 1))
    .execute(conn)?;
    Ok(())
}

/// Stores the voice choice.
pub fn set_voice(
    conn: &mut AnyConnection,
    task_id: i64,
    voice_type: &str,
    sample_id: Option<i64>,
    speed: f64,
) -> Result<(), DbError> {
    diesel::update(tasks::table.find(task_id))
        .set((
            tasks::voice_type.eq(voice_type),
            tasks::voice_sample_id.eq(sample_id),
            tasks::voice_speed.eq(speed),
            tasks::updated_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Stores the subtitle choice.
/// Names a task (its title: the shop's name, the product's, the document's).
pub fn rename_task(conn: &mut AnyConnection, task_id: i64, name: &str) -> Result<(), DbError> {
    diesel::update(tasks::table.find(task_id))
        .set((tasks::shop_name.eq(name), tasks::updated_at.eq(now())))
        .execute(conn)?;
    Ok(())
}

pub fn set_subtitles(
    conn: &mut AnyConnection,
    task_id: i64,
    enabled: bool,
    style: &str,
) -> Result<(), DbError> {
    diesel::update(tasks::table.find(task_id))
        .set((
            tasks::subtitle_enabled.eq(enabled),
            tasks::subtitle_style.eq(style),
            tasks::updated_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// What compose wrote.
pub struct Output<'a> {
    pub video_key: &'a str,
    pub subtitle_key: Option<&'a str>,
    pub cover_key: &'a str,
    pub assets_key: &'a str,
    pub duration: f64,
    pub size: i64,
    pub width: i32,
    pub height: i32,
    pub shots: &'a str,
}

/// Records the output and moves COMPOSING → COMPLETED, if the task still
/// waits for `job_id`. True when it did.
pub fn complete(
    conn: &mut AnyConnection,
    task_id: i64,
    job_id: &str,
    o: &Output<'_>,
) -> Result<bool, DbError> {
    let n = diesel::update(
        tasks::table
            .filter(tasks::id.eq(task_id))
            .filter(tasks::status.eq(Status::Composing.as_str()))
            .filter(tasks::current_job_id.eq(job_id)),
    )
    .set((
        tasks::status.eq(Status::Completed.as_str()),
        tasks::current_job_id.eq(None::<String>),
        tasks::output_oss_key.eq(o.video_key),
        tasks::output_subtitle_key.eq(o.subtitle_key),
        tasks::output_cover_key.eq(o.cover_key),
        tasks::output_assets_key.eq(o.assets_key),
        tasks::output_duration_seconds.eq(o.duration),
        tasks::output_file_size.eq(o.size),
        tasks::output_width.eq(o.width),
        tasks::output_height.eq(o.height),
        tasks::output_shots.eq(o.shots),
        tasks::updated_at.eq(now()),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Records what the output's AI-generated-content labels say (JSON).
/// A task's recipe and its words (absent: a shop review).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = task_recipes)]
pub struct RecipeRow {
    pub task_id: i64,
    pub recipe: String,
    pub product_name: String,
    pub call_to_action: String,
    pub tagline: String,
    pub target_seconds: f64,
    pub accent: String,
    /// topic_short: what it is about.
    pub topic: String,
    /// topic_short: its audience or niche.
    pub niche: String,
    /// topic_short: generated, library or empty (either).
    pub visuals: String,
    /// music_video, ad_creative: the images made into moving clips.
    pub animate: bool,
    /// music_video, ad_creative: those clips lip-synced to the track.
    pub lip_sync: bool,
}

/// Records a task's recipe.
pub fn insert_recipe(conn: &mut AnyConnection, r: &RecipeRow) -> Result<(), DbError> {
    diesel::insert_into(task_recipes::table)
        .values(r)
        .execute(conn)?;
    Ok(())
}

/// A task's recipe, if it is not a shop review.
pub fn recipe_of(conn: &mut AnyConnection, task_id: i64) -> Result<Option<RecipeRow>, DbError> {
    Ok(task_recipes::table
        .filter(task_recipes::task_id.eq(task_id))
        .select(RecipeRow::as_select())
        .first(conn)
        .optional()?)
}

/// The recipes of some tasks (those that have one).
pub fn recipes_of(conn: &mut AnyConnection, task_ids: &[i64]) -> Result<Vec<RecipeRow>, DbError> {
    Ok(task_recipes::table
        .filter(task_recipes::task_id.eq_any(task_ids))
        .select(RecipeRow::as_select())
        .load(conn)?)
}

/// A topic short's media library: `user_id`'s analysed clips in tasks
/// other than `task_id`, newest first, at most `limit`, each clip once
/// (copies of one upload count as it), without those `task_id` already
/// holds a copy of.
pub fn library_of(
    conn: &mut AnyConnection,
    user_id: i64,
    task_id: i64,
    limit: usize,
) -> Result<Vec<VideoRow>, DbError> {
    let mut seen: std::collections::HashSet<i64> = videos_of(conn, task_id)?
        .iter()
        .map(VideoRow::root)
        .collect();
    let rows: Vec<VideoRow> = videos::table
        .inner_join(tasks::table.on(tasks::id.eq(videos::task_id)))
        .filter(tasks::user_id.eq(user_id))
        .filter(videos::task_id.ne(task_id))
        .filter(videos::kind.eq("clip"))
        .filter(videos::status.eq("analyzed"))
        .order(videos::id.desc())
        .limit(4 * limit as i64)
        .select(VideoRow::as_select())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter(|v| seen.insert(v.root()))
        .take(limit)
        .collect())
}

/// One analysed clip of `user_id`'s, in any of their tasks.
pub fn library_clip(
    conn: &mut AnyConnection,
    user_id: i64,
    video_id: i64,
) -> Result<Option<VideoRow>, DbError> {
    Ok(videos::table
        .inner_join(tasks::table.on(tasks::id.eq(videos::task_id)))
        .filter(tasks::user_id.eq(user_id))
        .filter(videos::id.eq(video_id))
        .filter(videos::kind.eq("clip"))
        .filter(videos::status.eq("analyzed"))
        .select(VideoRow::as_select())
        .first(conn)
        .optional()?)
}

/// Whether a clip (of any task) exists.
pub fn video_exists(conn: &mut AnyConnection, video_id: i64) -> Result<bool, DbError> {
    Ok(videos::table
        .filter(videos::id.eq(video_id))
        .count()
        .get_result::<i64>(conn)?
        > 0)
}

/// Records a library clip copied into `task_id` under `oss_key` (its
/// thumbnail under `thumbnail`): analysed as its source was, as the
/// task's last. The copy already made from the same object, if any.
pub fn insert_borrowed(
    conn: &mut AnyConnection,
    task_id: i64,
    source: &VideoRow,
    oss_key: &str,
    thumbnail: Option<&str>,
) -> Result<VideoRow, DbError> {
    if let Some(row) = video_by_key(conn, task_id, oss_key)? {
        return Ok(row);
    }
    let (at, order) = (now(), next_order(conn, task_id)?);
    diesel::insert_into(videos::table)
        .values((
            videos::task_id.eq(task_id),
            videos::original_filename.eq(&source.original_filename),
            videos::oss_key.eq(oss_key),
            videos::thumbnail_oss_key.eq(thumbnail),
            videos::duration_seconds.eq(source.duration_seconds),
            videos::file_size.eq(source.file_size),
            videos::width.eq(source.width),
            videos::height.eq(source.height),
            videos::status.eq("analyzed"),
            videos::kind.eq(&source.kind),
            videos::category.eq(&source.category),
            videos::tags.eq(&source.tags),
            videos::description.eq(&source.description),
            videos::quality_score.eq(source.quality_score),
            videos::clarity.eq(source.clarity),
            videos::composition.eq(source.composition),
            videos::lighting.eq(source.lighting),
            videos::stability.eq(source.stability),
            videos::is_recommended.eq(source.is_recommended),
            // The frames stay with the source's task (only the admin's
            // storage count reads them).
            videos::frame_keys.eq("[]"),
            videos::analysis_provider.eq(&source.analysis_provider),
            videos::focus.eq(&source.focus),
            videos::source_video_id.eq(Some(source.root())),
            videos::sort_order.eq(order),
            videos::created_at.eq(at),
            videos::updated_at.eq(at),
        ))
        .execute(conn)?;
    video_by_key(conn, task_id, oss_key)?.ok_or(DbError::NotFound)
}

/// Deletes one upload of a task (a replaced backing track).
pub fn delete_video_row(conn: &mut AnyConnection, task_id: i64, id: i64) -> Result<(), DbError> {
    diesel::delete(
        videos::table
            .filter(videos::task_id.eq(task_id))
            .filter(videos::id.eq(id)),
    )
    .execute(conn)?;
    Ok(())
}

pub fn set_output_aigc(conn: &mut AnyConnection, task_id: i64, aigc: &str) -> Result<(), DbError> {
    let updated = diesel::update(output_labels::table.filter(output_labels::task_id.eq(task_id)))
        .set(output_labels::aigc.eq(aigc))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(output_labels::table)
            .values((
                output_labels::task_id.eq(task_id),
                output_labels::aigc.eq(aigc),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// What the task's output says was machine-made (JSON; empty if nothing recorded).
pub fn output_aigc(conn: &mut AnyConnection, task_id: i64) -> Result<String, DbError> {
    Ok(output_labels::table
        .filter(output_labels::task_id.eq(task_id))
        .select(output_labels::aigc)
        .first::<String>(conn)
        .optional()?
        .unwrap_or_default())
}

/// Tasks waiting for a job (to re-dispatch after a restart of an
/// in-process bus).
pub fn tasks_with_jobs(conn: &mut AnyConnection) -> Result<Vec<TaskRow>, DbError> {
    Ok(tasks::table
        .filter(tasks::current_job_id.is_not_null())
        .filter(tasks::status.eq_any([Status::Analyzing.as_str(), Status::Composing.as_str()]))
        .select(TaskRow::as_select())
        .load(conn)?)
}

diesel::table! {
    daily_usage (user_id, day) {
        user_id -> BigInt,
        day -> Varchar,
        videos -> Integer,
    }
}

/// Takes `n` of `limit` videos of `day` for `user_id`, all or none; false
/// when fewer than `n` are left. Each step is one atomic statement (a
/// conditional increment, or the day's first row), so concurrent callers
/// cannot overshoot; run it outside a transaction (a lost insert race
/// retries the increment).
pub fn take_videos(
    conn: &mut AnyConnection,
    user_id: i64,
    day: &str,
    n: i32,
    limit: i32,
) -> Result<bool, DbError> {
    use daily_usage::dsl as u;
    for _ in 0..2 {
        let this = u::daily_usage
            .filter(u::user_id.eq(user_id))
            .filter(u::day.eq(day));
        let bumped = diesel::update(this.filter(u::videos.le(limit - n)))
            .set(u::videos.eq(u::videos + n))
            .execute(conn)?;
        if bumped == 1 {
            return Ok(true);
        }
        let exists: i64 = this.count().get_result(conn)?;
        if exists > 0 || n > limit {
            return Ok(false);
        }
        match diesel::insert_into(u::daily_usage)
            .values((u::user_id.eq(user_id), u::day.eq(day), u::videos.eq(n)))
            .execute(conn)
        {
            Ok(_) => return Ok(true),
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(false)
}

/// Gives back `n` videos of `day` taken by [`take_videos`].
pub fn give_back_videos(
    conn: &mut AnyConnection,
    user_id: i64,
    day: &str,
    n: i32,
) -> Result<(), DbError> {
    use daily_usage::dsl as u;
    diesel::update(
        u::daily_usage
            .filter(u::user_id.eq(user_id))
            .filter(u::day.eq(day))
            .filter(u::videos.ge(n)),
    )
    .set(u::videos.eq(u::videos - n))
    .execute(conn)?;
    Ok(())
}

diesel::table! {
    prepaid_videos (task_id) {
        task_id -> BigInt,
        day -> Varchar,
    }
}

/// Uses a batch task's prepaid video (deleting its row is the compare and
/// set); the day it was paid on, or `None` when it has none.
pub fn use_prepaid_video(
    conn: &mut AnyConnection,
    task_id: i64,
) -> Result<Option<String>, DbError> {
    let Some(day) = prepaid_videos::table
        .filter(prepaid_videos::task_id.eq(task_id))
        .select(prepaid_videos::day)
        .first::<String>(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let n = diesel::delete(prepaid_videos::table.filter(prepaid_videos::task_id.eq(task_id)))
        .execute(conn)?;
    Ok((n == 1).then_some(day))
}

/// Puts back a prepaid video whose compose did not start.
pub fn restore_prepaid_video(
    conn: &mut AnyConnection,
    task_id: i64,
    day: &str,
) -> Result<(), DbError> {
    prepay_videos(conn, &[task_id], day)
}

/// Marks tasks as having their video paid on `day`.
pub fn prepay_videos(conn: &mut AnyConnection, task_ids: &[i64], day: &str) -> Result<(), DbError> {
    for id in task_ids {
        diesel::insert_into(prepaid_videos::table)
            .values((prepaid_videos::task_id.eq(id), prepaid_videos::day.eq(day)))
            .execute(conn)?;
    }
    Ok(())
}

// ---- admin: every user's tasks, usage, dead letters, render nodes ----

diesel::table! {
    task_usage (task_id) {
        task_id -> BigInt,
        model_calls -> BigInt,
        model_images -> BigInt,
        model_tokens -> BigInt,
        tts_characters -> BigInt,
        local_tts_characters -> BigInt,
        compute_seconds -> Double,
        downloads -> BigInt,
    }
}

diesel::table! {
    dead_letters (id) {
        id -> BigInt,
        kind -> Varchar,
        topic -> Varchar,
        dedup_key -> Varchar,
        job_id -> Varchar,
        task_id -> BigInt,
        msg_key -> Nullable<Varchar>,
        payload -> Binary,
        attempts -> Integer,
        error -> Text,
        state -> Varchar,
        created_at -> Timestamp,
        resolved_at -> Nullable<Timestamp>,
        resolved_by -> Nullable<BigInt>,
    }
}

diesel::table! {
    render_nodes (node_id) {
        node_id -> Varchar,
        hostname -> Varchar,
        version -> Varchar,
        capabilities -> Binary,
        active_composes -> Integer,
        interval_seconds -> Integer,
        started_at -> Timestamp,
        last_seen_at -> Timestamp,
    }
}

/// Which tasks the admin panel lists.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    /// Only this status.
    pub status: Option<Status>,
    /// Only this kind of shop (its short name).
    pub shop_type: Option<String>,
    /// Only this owner.
    pub user_id: Option<i64>,
    /// Created at or after.
    pub created_after: Option<NaiveDateTime>,
    /// Created before.
    pub created_before: Option<NaiveDateTime>,
}

/// One page of every user's tasks, newest first; and how many match.
pub fn all_tasks_page(
    conn: &mut AnyConnection,
    f: &TaskFilter,
    page: i64,
    page_size: i64,
) -> Result<(Vec<TaskRow>, i64), DbError> {
    let mut count = tasks::table.count().into_boxed();
    let mut rows = tasks::table
        .select(TaskRow::as_select())
        .order((tasks::created_at.desc(), tasks::id.desc()))
        .limit(page_size)
        .offset((page - 1) * page_size)
        .into_boxed();
    if let Some(s) = f.status {
        count = count.filter(tasks::status.eq(s.as_str()));
        rows = rows.filter(tasks::status.eq(s.as_str()));
    }
    if let Some(t) = &f.shop_type {
        count = count.filter(tasks::shop_type.eq(t.clone()));
        rows = rows.filter(tasks::shop_type.eq(t.clone()));
    }
    if let Some(u) = f.user_id {
        count = count.filter(tasks::user_id.eq(u));
        rows = rows.filter(tasks::user_id.eq(u));
    }
    if let Some(a) = f.created_after {
        count = count.filter(tasks::created_at.ge(a));
        rows = rows.filter(tasks::created_at.ge(a));
    }
    if let Some(b) = f.created_before {
        count = count.filter(tasks::created_at.lt(b));
        rows = rows.filter(tasks::created_at.lt(b));
    }
    let total: i64 = count.get_result(conn)?;
    Ok((rows.load(conn)?, total))
}

/// What one task used.
#[derive(Debug, Clone, Default, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = task_usage)]
pub struct UsageRow {
    pub task_id: i64,
    pub model_calls: i64,
    pub model_images: i64,
    pub model_tokens: i64,
    pub tts_characters: i64,
    pub local_tts_characters: i64,
    pub compute_seconds: f64,
    pub downloads: i64,
}

/// Adds one job's usage to its task's (the row is made on first use).
pub fn add_usage(conn: &mut AnyConnection, add: &UsageRow) -> Result<(), DbError> {
    use task_usage::dsl as u;
    let exists: i64 = u::task_usage
        .filter(u::task_id.eq(add.task_id))
        .count()
        .get_result(conn)?;
    if exists == 0 {
        match diesel::insert_into(u::task_usage)
            .values(UsageRow {
                task_id: add.task_id,
                ..UsageRow::default()
            })
            .execute(conn)
        {
            Ok(_)
            | Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) => {}
            Err(e) => return Err(e.into()),
        }
    }
    diesel::update(u::task_usage.filter(u::task_id.eq(add.task_id)))
        .set((
            u::model_calls.eq(u::model_calls + add.model_calls),
            u::model_images.eq(u::model_images + add.model_images),
            u::model_tokens.eq(u::model_tokens + add.model_tokens),
            u::tts_characters.eq(u::tts_characters + add.tts_characters),
            u::local_tts_characters.eq(u::local_tts_characters + add.local_tts_characters),
            u::compute_seconds.eq(u::compute_seconds + add.compute_seconds),
            u::downloads.eq(u::downloads + add.downloads),
        ))
        .execute(conn)?;
    Ok(())
}

/// What tasks used (a task without a row used nothing billed yet).
pub fn usage_of(conn: &mut AnyConnection, task_ids: &[i64]) -> Result<Vec<UsageRow>, DbError> {
    Ok(task_usage::table
        .filter(task_usage::task_id.eq_any(task_ids))
        .select(UsageRow::as_select())
        .load(conn)?)
}

/// Bytes of the clips of each of `task_ids`, summed per task.
pub fn clip_bytes(conn: &mut AnyConnection, task_ids: &[i64]) -> Result<Vec<(i64, i64)>, DbError> {
    let rows: Vec<(i64, Option<i64>)> = videos::table
        .filter(videos::task_id.eq_any(task_ids))
        .select((videos::task_id, videos::file_size))
        .load(conn)?;
    let mut out: Vec<(i64, i64)> = Vec::new();
    for (id, size) in rows {
        match out.iter_mut().find(|(t, _)| *t == id) {
            Some((_, total)) => *total += size.unwrap_or(0),
            None => out.push((id, size.unwrap_or(0))),
        }
    }
    Ok(out)
}

/// Every task of one user (for their usage).
pub fn tasks_of_user(conn: &mut AnyConnection, user_id: i64) -> Result<Vec<TaskRow>, DbError> {
    Ok(tasks::table
        .filter(tasks::user_id.eq(user_id))
        .select(TaskRow::as_select())
        .load(conn)?)
}

/// Videos a user started on each of `days`, summed.
pub fn videos_on_days(
    conn: &mut AnyConnection,
    user_id: i64,
    days: &[String],
) -> Result<i64, DbError> {
    let rows: Vec<i32> = daily_usage::table
        .filter(daily_usage::user_id.eq(user_id))
        .filter(daily_usage::day.eq_any(days))
        .select(daily_usage::videos)
        .load(conn)?;
    Ok(rows.into_iter().map(i64::from).sum())
}

/// A dead-lettered job.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = dead_letters)]
pub struct DeadLetterRow {
    pub id: i64,
    pub kind: String,
    pub job_id: String,
    pub task_id: i64,
    pub msg_key: Option<String>,
    pub payload: Vec<u8>,
    pub attempts: i32,
    pub error: String,
    pub state: String,
    pub created_at: NaiveDateTime,
    pub resolved_at: Option<NaiveDateTime>,
    pub resolved_by: Option<i64>,
}

/// A dead letter to record.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = dead_letters)]
pub struct NewDeadLetter {
    pub kind: String,
    pub topic: String,
    pub dedup_key: String,
    pub job_id: String,
    pub task_id: i64,
    pub msg_key: Option<String>,
    pub payload: Vec<u8>,
    pub attempts: i32,
    pub error: String,
    pub state: String,
    pub created_at: NaiveDateTime,
}

/// Records a dead letter once (a redelivery of the same one changes nothing).
pub fn insert_dead_letter(conn: &mut AnyConnection, d: &NewDeadLetter) -> Result<(), DbError> {
    match diesel::insert_into(dead_letters::table)
        .values(d)
        .execute(conn)
    {
        Ok(_)
        | Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// One page of dead letters, newest first; and how many match.
pub fn dead_letters_page(
    conn: &mut AnyConnection,
    kind: Option<&str>,
    state: Option<&str>,
    page: i64,
    page_size: i64,
) -> Result<(Vec<DeadLetterRow>, i64), DbError> {
    let mut count = dead_letters::table.count().into_boxed();
    let mut rows = dead_letters::table
        .select(DeadLetterRow::as_select())
        .order(dead_letters::id.desc())
        .limit(page_size)
        .offset((page - 1) * page_size)
        .into_boxed();
    if let Some(k) = kind {
        count = count.filter(dead_letters::kind.eq(k.to_string()));
        rows = rows.filter(dead_letters::kind.eq(k.to_string()));
    }
    if let Some(s) = state {
        count = count.filter(dead_letters::state.eq(s.to_string()));
        rows = rows.filter(dead_letters::state.eq(s.to_string()));
    }
    let total: i64 = count.get_result(conn)?;
    Ok((rows.load(conn)?, total))
}

/// Dead letters by id, or every one in `state` (of `kind`).
pub fn dead_letters_by(
    conn: &mut AnyConnection,
    ids: &[i64],
    state: &str,
    kind: Option<&str>,
) -> Result<Vec<DeadLetterRow>, DbError> {
    let mut q = dead_letters::table
        .select(DeadLetterRow::as_select())
        .order(dead_letters::id.asc())
        .into_boxed();
    if ids.is_empty() {
        q = q.filter(dead_letters::state.eq(state.to_string()));
    } else {
        q = q.filter(dead_letters::id.eq_any(ids.to_vec()));
    }
    if let Some(k) = kind {
        q = q.filter(dead_letters::kind.eq(k.to_string()));
    }
    Ok(q.load(conn)?)
}

/// Moves a dead letter from `from` to `to` (compare and set); true when it did.
pub fn resolve_dead_letter(
    conn: &mut AnyConnection,
    id: i64,
    from: &str,
    to: &str,
    by: Option<i64>,
) -> Result<bool, DbError> {
    let resolved_at = by.map(|_| now());
    let n = diesel::update(
        dead_letters::table
            .filter(dead_letters::id.eq(id))
            .filter(dead_letters::state.eq(from)),
    )
    .set((
        dead_letters::state.eq(to),
        dead_letters::resolved_at.eq(resolved_at),
        dead_letters::resolved_by.eq(by),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Dead letters in `state`.
pub fn count_dead_letters(conn: &mut AnyConnection, state: &str) -> Result<i64, DbError> {
    Ok(dead_letters::table
        .filter(dead_letters::state.eq(state))
        .count()
        .get_result(conn)?)
}

/// Moves a FAILED task back to `to`, waiting for `job_id` again (a replayed
/// dead letter). False when the task is no longer FAILED.
pub fn resume_failed(
    conn: &mut AnyConnection,
    task_id: i64,
    to: Status,
    job_id: &str,
) -> Result<bool, DbError> {
    start_job(conn, task_id, Status::Failed, to, job_id)
}

/// A render node as it last reported.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = render_nodes)]
pub struct RenderNodeRow {
    pub node_id: String,
    pub hostname: String,
    pub version: String,
    pub capabilities: Vec<u8>,
    pub active_composes: i32,
    pub interval_seconds: i32,
    pub started_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
}

/// Records a heartbeat (the node's first makes its row).
pub fn upsert_render_node(conn: &mut AnyConnection, n: &RenderNodeRow) -> Result<(), DbError> {
    let updated = diesel::update(render_nodes::table.filter(render_nodes::node_id.eq(&n.node_id)))
        .set((
            render_nodes::hostname.eq(&n.hostname),
            render_nodes::version.eq(&n.version),
            render_nodes::capabilities.eq(&n.capabilities),
            render_nodes::active_composes.eq(n.active_composes),
            render_nodes::interval_seconds.eq(n.interval_seconds),
            render_nodes::last_seen_at.eq(n.last_seen_at),
        ))
        .execute(conn)?;
    if updated == 0 {
        match diesel::insert_into(render_nodes::table)
            .values(n)
            .execute(conn)
        {
            Ok(_)
            | Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Every render node that reported, most recently heard first.
pub fn render_nodes(conn: &mut AnyConnection) -> Result<Vec<RenderNodeRow>, DbError> {
    Ok(render_nodes::table
        .select(RenderNodeRow::as_select())
        .order(render_nodes::last_seen_at.desc())
        .load(conn)?)
}

/// Forgets nodes not heard from since `before` (gone for a day).
pub fn forget_render_nodes(conn: &mut AnyConnection, before: NaiveDateTime) -> Result<(), DbError> {
    diesel::delete(render_nodes::table.filter(render_nodes::last_seen_at.lt(before)))
        .execute(conn)?;
    Ok(())
}

diesel::table! {
    brand_kits (user_id) {
        user_id -> BigInt,
        kit -> Text,
        updated_at -> Timestamp,
    }
}

/// A user's brand kit (JSON) and when it was set.
pub fn brand_kit(
    conn: &mut AnyConnection,
    user_id: i64,
) -> Result<Option<(String, NaiveDateTime)>, DbError> {
    use brand_kits::dsl as b;
    Ok(b::brand_kits
        .filter(b::user_id.eq(user_id))
        .select((b::kit, b::updated_at))
        .first(conn)
        .optional()?)
}

/// Replaces a user's brand kit (JSON).
pub fn set_brand_kit(conn: &mut AnyConnection, user_id: i64, kit: &str) -> Result<(), DbError> {
    use brand_kits::dsl as b;
    let at = now();
    for _ in 0..2 {
        let updated = diesel::update(b::brand_kits.filter(b::user_id.eq(user_id)))
            .set((b::kit.eq(kit), b::updated_at.eq(at)))
            .execute(conn)?;
        if updated == 1 {
            return Ok(());
        }
        match diesel::insert_into(b::brand_kits)
            .values((b::user_id.eq(user_id), b::kit.eq(kit), b::updated_at.eq(at)))
            .execute(conn)
        {
            Ok(_) => return Ok(()),
            // Set at the same time by another request: update that row.
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
