//! Creating, listing, reading and deleting tasks.

use scout_proto::scout::common::v1::{Pagination, ShopInfo, ShopType, SubtitleStyle, VideoStyle};
use scout_proto::scout::tasks::v1::{
    CreateTaskRequest, Failure, SubtitleSettings, Task, TaskStatus, TaskStep, VoiceSettings,
};

use crate::State;
use crate::error::TasksError;
use crate::machine::{Status, Step};
use crate::store::{self, NewTask, TaskRow};

/// Longest shop name, in characters.
pub const MAX_SHOP_NAME: usize = 200;
/// Longest promotion text, in characters.
pub const MAX_PROMOTION: usize = 500;
/// Script regenerations per task (seed 000).
pub const MAX_REGENERATIONS: i32 = 5;
/// Largest page.
pub const MAX_PAGE_SIZE: i32 = 100;

pub(crate) fn shop_type_name(t: i32) -> Option<String> {
    ShopType::try_from(t).ok().and_then(short_name)
}

/// The style's name; unset means the default, 种草安利 (recommend).
fn style_name(s: i32) -> Option<String> {
    match VideoStyle::try_from(s).ok()? {
        VideoStyle::Unspecified => short_name(VideoStyle::Recommend),
        style => short_name(style),
    }
}

fn check_text(field: &str, value: &str, max: usize, required: bool) -> Result<(), TasksError> {
    let n = value.chars().count();
    if required && value.trim().is_empty() {
        return Err(TasksError::invalid(field, "required"));
    }
    if n > max {
        return Err(TasksError::invalid(
            field,
            format!("at most {max} characters (got {n})"),
        ));
    }
    if value.chars().any(|c| c.is_control() && c != '\n') {
        return Err(TasksError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// A checked create request: its shop type and style by name, its recipe
/// (none for a shop review).
struct Checked {
    shop_name: String,
    promotion_text: String,
    shop_type: String,
    style: String,
    recipe: Option<store::RecipeRow>,
}

/// Checks one create request; fields are named under `prefix` (a batch
/// names the item: `tasks[2].shop_name`).
fn check(prefix: &str, r: &CreateTaskRequest) -> Result<Checked, TasksError> {
    let field = |name: &str| format!("{prefix}{name}");
    let recipe = crate::recipes::check(
        prefix,
        r.recipe,
        r.montage.as_ref(),
        &r.accent,
        r.topic.as_ref(),
    )?;
    // A montage is named by its product unless given a title.
    let shop_name = match &recipe {
        Some(m) if r.shop_name.trim().is_empty() => {
            if m.recipe == "doc_explainer" {
                crate::recipes::UNTITLED_DOCUMENT.to_string()
            } else if !m.topic.is_empty() {
                m.topic.chars().take(MAX_SHOP_NAME).collect()
            } else if m.product_name.is_empty() {
                "音乐视频".to_string()
            } else {
                m.product_name.clone()
            }
        }
        _ => r.shop_name.clone(),
    };
    check_text(&field("shop_name"), &shop_name, MAX_SHOP_NAME, true)?;
    check_text(
        &field("promotion_text"),
        &r.promotion_text,
        MAX_PROMOTION,
        false,
    )?;
    let shop_type = match r.shop_type {
        0 if recipe.is_some() => Some("other".to_string()),
        t => shop_type_name(t),
    }
    .ok_or_else(|| {
        TasksError::invalid(
            field("shop_type"),
            "one of food, beauty, entertainment, other",
        )
    })?;
    let style = style_name(r.video_style).ok_or_else(|| {
        TasksError::invalid(field("video_style"), "one of recommend, review, vlog")
    })?;
    Ok(Checked {
        shop_name,
        promotion_text: r.promotion_text.clone(),
        shop_type,
        style,
        recipe,
    })
}

/// Inserts a checked task (with its recipe row): the task as answered.
fn insert(
    c: &mut scout_common::adapters::db::AnyConnection,
    user_id: i64,
    t: &Checked,
) -> Result<(TaskRow, Task), scout_common::adapters::db::DbError> {
    let row = store::insert_task(
        c,
        &NewTask {
            user_id,
            shop_name: &t.shop_name,
            shop_type: &t.shop_type,
            promotion_text: &t.promotion_text,
            video_style: &t.style,
        },
    )?;
    let recipe = t.recipe.clone().map(|r| store::RecipeRow {
        task_id: row.id,
        ..r
    });
    if let Some(r) = &recipe {
        store::insert_recipe(c, r)?;
    }
    let task = crate::recipes::with_recipe(to_proto(&row, 0), recipe.as_ref());
    Ok((row, task))
}

/// Creates a task in CREATED.
pub async fn create(
    state: &State,
    user_id: i64,
    r: &CreateTaskRequest,
) -> Result<Task, TasksError> {
    let t = check("", r)?;
    let (row, task) = state
        .db
        .transaction(move |c| insert(c, user_id, &t))
        .await?;
    scout_common::telemetry::record_task_created(&row.shop_type, &row.video_style);
    Ok(task)
}

/// Most tasks one batch makes (seed 002).
pub const MAX_BATCH: usize = 10;

/// `BatchCreateTasks`: all or none. Every item is checked first; then the
/// batch takes one video of today's quota per task at once (a batch the
/// quota cannot cover makes nothing) and the tasks are made in one
/// transaction, each marked as paid, so its first compose takes no other.
pub async fn create_batch(
    state: &State,
    caller: &scout_common::auth::AuthUser,
    items: &[CreateTaskRequest],
) -> Result<Vec<Task>, TasksError> {
    if items.is_empty() || items.len() > MAX_BATCH {
        return Err(TasksError::invalid(
            "tasks",
            format!("1-{MAX_BATCH} tasks per batch (got {})", items.len()),
        ));
    }
    let checked = items
        .iter()
        .enumerate()
        .map(|(i, r)| check(&format!("tasks[{i}]."), r))
        .collect::<Result<Vec<_>, _>>()?;
    let (user_id, n) = (caller.user_id, items.len() as u32);
    let day = crate::quotas::take_videos(state, user_id, &caller.membership, n).await?;
    let paid = day.clone();
    let made = state
        .db
        .transaction(move |c| {
            let rows = checked
                .iter()
                .map(|t| insert(c, user_id, t))
                .collect::<Result<Vec<_>, _>>()?;
            if let Some(day) = &paid {
                let ids: Vec<i64> = rows.iter().map(|(r, _)| r.id).collect();
                store::prepay_videos(c, &ids, day)?;
            }
            Ok(rows)
        })
        .await;
    match made {
        Ok(rows) => {
            tracing::info!(user_id, tasks = rows.len(), "batch of tasks created");
            for (r, _) in &rows {
                scout_common::telemetry::record_task_created(&r.shop_type, &r.video_style);
            }
            Ok(rows.into_iter().map(|(_, t)| t).collect())
        }
        Err(e) => {
            if let Some(day) = day {
                crate::quotas::give_back_videos(state, user_id, day, n).await;
            }
            Err(e.into())
        }
    }
}

/// One of the caller's tasks, or NOT_FOUND (also for another user's id).
pub async fn load(state: &State, user_id: i64, task_id: i64) -> Result<TaskRow, TasksError> {
    state
        .db
        .run(move |c| store::task_of(c, user_id, task_id))
        .await?
        .ok_or_else(|| TasksError::not_found(format!("task {task_id}")))
}

/// The task with its clip count.
pub async fn get(state: &State, user_id: i64, task_id: i64) -> Result<Task, TasksError> {
    let row = load(state, user_id, task_id).await?;
    let (counts, recipe) = state
        .db
        .run(move |c| {
            Ok((
                store::video_counts(c, &[task_id])?,
                store::recipe_of(c, task_id)?,
            ))
        })
        .await?;
    let task = to_proto(&row, counts.first().map(|(_, n)| *n).unwrap_or(0));
    Ok(crate::recipes::with_recipe(task, recipe.as_ref()))
}

/// A page of the caller's tasks, newest first (seed 000 pagination).
pub async fn list(
    state: &State,
    user_id: i64,
    page: i32,
    page_size: i32,
    status: i32,
) -> Result<(Vec<Task>, Pagination), TasksError> {
    if page < 0 {
        return Err(TasksError::invalid("page", "must be 1 or more"));
    }
    if !(0..=MAX_PAGE_SIZE).contains(&page_size) {
        return Err(TasksError::invalid(
            "page_size",
            format!("must be 1-{MAX_PAGE_SIZE}"),
        ));
    }
    let page = if page == 0 { 1 } else { page };
    let size = if page_size == 0 { 10 } else { page_size };
    let status = status_filter(status)?;
    let (rows, total) = state
        .db
        .run(move |c| {
            let (rows, total) =
                store::tasks_page(c, user_id, status, i64::from(page), i64::from(size))?;
            let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
            let counts = store::video_counts(c, &ids)?;
            let recipes = store::recipes_of(c, &ids)?;
            Ok((
                rows.into_iter()
                    .map(|r| {
                        let n = counts
                            .iter()
                            .find(|(id, _)| *id == r.id)
                            .map(|(_, n)| *n)
                            .unwrap_or(0);
                        let recipe = recipes.iter().find(|x| x.task_id == r.id).cloned();
                        (r, n, recipe)
                    })
                    .collect::<Vec<_>>(),
                total,
            ))
        })
        .await?;
    Ok((
        rows.iter()
            .map(|(r, n, recipe)| crate::recipes::with_recipe(to_proto(r, *n), recipe.as_ref()))
            .collect(),
        scout_common::paging::pagination(page, size, total),
    ))
}

/// A status filter: none for UNSPECIFIED.
pub fn status_filter(status: i32) -> Result<Option<Status>, TasksError> {
    match TaskStatus::try_from(status) {
        Ok(TaskStatus::Unspecified) => Ok(None),
        Ok(s) => Ok(Status::parse(
            &s.as_str_name()
                .trim_start_matches("TASK_STATUS_")
                .to_ascii_lowercase(),
        )),
        Err(_) => Err(TasksError::invalid("status", "not a task status")),
    }
}

/// Deletes a task, its rows and every object stored for it.
pub async fn delete(state: &State, user_id: i64, task_id: i64) -> Result<(), TasksError> {
    let row = load(state, user_id, task_id).await?;
    if row.status().is_busy() {
        // A running job would write into what we delete; the worker finds
        // the task gone and drops its result, so this is allowed, but logged.
        tracing::info!(
            task_id,
            status = row.status.as_str(),
            "deleting a task with a job in flight"
        );
    }
    state
        .db
        .run(move |c| store::delete_task(c, user_id, task_id))
        .await?;
    let blobs = &state.ctx.adapters.blobs;
    for prefix in [
        format!("videos/{user_id}/{task_id}/"),
        format!("frames/{task_id}/"),
        format!("audio/{task_id}/"),
        format!("output/{task_id}/"),
        format!("assets/{task_id}/"),
        format!("previews/{task_id}/"),
    ] {
        if let Err(e) = blobs.delete_prefix(&prefix).await {
            // The rows are gone; leftover objects are unreachable and are
            // reported so an operator can sweep them.
            tracing::warn!(task_id, prefix, error = %e, "cannot delete a deleted task's objects");
            return Err(TasksError::Storage(format!(
                "task {task_id} was deleted but some of its files could not be removed yet"
            )));
        }
    }
    Ok(())
}

pub use scout_common::proto_json::timestamp;
use scout_common::proto_json::{from_short_name, short_name};

fn subtitle_style(name: &str) -> SubtitleStyle {
    from_short_name(name).unwrap_or(SubtitleStyle::SimpleWhite)
}

/// The API form of a task row.
pub fn to_proto(row: &TaskRow, video_count: i64) -> Task {
    let status = row.status();
    let api_status = status.api();
    let shop_type = from_short_name(&row.shop_type).unwrap_or(ShopType::Unspecified);
    let style = from_short_name(&row.video_style).unwrap_or(VideoStyle::Unspecified);
    let failure = (status == Status::Failed).then(|| Failure {
        step: row
            .failure_step
            .as_deref()
            .and_then(Step::parse)
            .map(|s| match s {
                Step::Upload => TaskStep::Upload,
                Step::Analyze => TaskStep::Analyze,
                Step::Script => TaskStep::Script,
                Step::Compose => TaskStep::Compose,
            })
            .unwrap_or(TaskStep::Unspecified) as i32,
        message: row.error_message.clone().unwrap_or_default(),
        code: row.failure_code.unwrap_or_default(),
        attempts: row.failure_attempts.unwrap_or_default(),
        failed_at: row.failed_at.map(timestamp),
    });
    Task {
        id: row.id,
        shop: Some(ShopInfo {
            name: row.shop_name.clone(),
            r#type: shop_type as i32,
            promotion_text: row.promotion_text.clone(),
            style: style as i32,
        }),
        status: api_status as i32,
        voice: Some(VoiceSettings {
            voice_type: row.voice_type.clone(),
            voice_sample_id: row.voice_sample_id.unwrap_or_default(),
            speed: row.voice_speed,
        }),
        subtitle: Some(SubtitleSettings {
            enabled: row.subtitle_enabled,
            style: subtitle_style(&row.subtitle_style) as i32,
        }),
        video_count: video_count as i32,
        regenerate_remaining: (MAX_REGENERATIONS - row.script_regenerate_count).max(0),
        failure,
        provider_note: row.provider_note.clone(),
        created_at: Some(timestamp(row.created_at)),
        updated_at: Some(timestamp(row.updated_at)),
        // The recipe is on its own row: `recipes::with_recipe` adds it.
        recipe: scout_proto::scout::tasks::v1::Recipe::ShopReview as i32,
        montage: None,
        accent: String::new(),
        topic: None,
    }
}
