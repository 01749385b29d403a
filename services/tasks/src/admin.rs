//! The admin panel's view of every user's tasks (seed 000 §3.1): list and
//! filter them, retry or delete one as its owner could, the cost estimate of
//! a task, a user's usage, the job queues. The admin role is checked by the
//! guard (`Access::Admin`) before a call gets here; every change is written
//! to this service's audit log with who, what and when.

use chrono::{DateTime, Utc};
use scout_common::audit;
use scout_common::auth::AuthUser;
use scout_common::paging::{page_and_size, pagination};
use scout_proto::scout::common::v1::{AuditEntry, Pagination, ShopType};
use scout_proto::scout::tasks::v1::{
    AdminTask, ListAllTasksRequest, ListQueuesResponse, QueueTopic, StatusCount, TaskCost,
    UserUsage,
};

use crate::State;
use crate::error::TasksError;
use crate::store::{self, TaskFilter, TaskRow, UsageRow};
use crate::usage::{self, Stored};
use crate::{analysis, deadletters, quotas, tasks};

fn time(t: &prost_types::Timestamp, field: &str) -> Result<chrono::NaiveDateTime, TasksError> {
    DateTime::<Utc>::from_timestamp(t.seconds, t.nanos.max(0) as u32)
        .map(|d| d.naive_utc())
        .ok_or_else(|| TasksError::invalid(field, "not a valid time"))
}

fn admin_task(row: &TaskRow, videos: i64, recipe: Option<&store::RecipeRow>) -> AdminTask {
    AdminTask {
        task: Some(crate::recipes::with_recipe(
            tasks::to_proto(row, videos),
            recipe,
        )),
        user_id: row.user_id,
        current_job_id: row.current_job_id.clone().unwrap_or_default(),
        job_started_at: row.job_started_at.map(tasks::timestamp),
    }
}

/// `ListAllTasks`.
pub async fn list(
    state: &State,
    r: &ListAllTasksRequest,
) -> Result<(Vec<AdminTask>, Pagination), TasksError> {
    if r.page < 0 {
        return Err(TasksError::invalid("page", "must be 1 or more"));
    }
    if !(0..=tasks::MAX_PAGE_SIZE).contains(&r.page_size) {
        return Err(TasksError::invalid(
            "page_size",
            format!("must be 1-{}", tasks::MAX_PAGE_SIZE),
        ));
    }
    let shop_type = match ShopType::try_from(r.shop_type) {
        Ok(ShopType::Unspecified) => None,
        Ok(_) => tasks::shop_type_name(r.shop_type),
        Err(_) => return Err(TasksError::invalid("shop_type", "not a shop type")),
    };
    let filter = TaskFilter {
        status: tasks::status_filter(r.status)?,
        shop_type,
        user_id: (r.user_id > 0).then_some(r.user_id),
        created_after: r
            .created_after
            .as_ref()
            .map(|t| time(t, "created_after"))
            .transpose()?,
        created_before: r
            .created_before
            .as_ref()
            .map(|t| time(t, "created_before"))
            .transpose()?,
    };
    let (page, size) = page_and_size(r.page, r.page_size);
    let (rows, counts, recipes, total) = state
        .db
        .run(move |c| {
            let (rows, total) =
                store::all_tasks_page(c, &filter, i64::from(page), i64::from(size))?;
            let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
            Ok((
                rows,
                store::video_counts(c, &ids)?,
                store::recipes_of(c, &ids)?,
                total,
            ))
        })
        .await?;
    let count = |id: i64| {
        counts
            .iter()
            .find(|(t, _)| *t == id)
            .map(|(_, n)| *n)
            .unwrap_or(0)
    };
    Ok((
        rows.iter()
            .map(|r| {
                let recipe = recipes.iter().find(|x| x.task_id == r.id);
                admin_task(r, count(r.id), recipe)
            })
            .collect(),
        pagination(page, size, total),
    ))
}

async fn task(state: &State, task_id: i64) -> Result<TaskRow, TasksError> {
    state
        .db
        .run(move |c| store::task_by_id(c, task_id))
        .await?
        .ok_or_else(|| TasksError::not_found(format!("task {task_id}")))
}

async fn record(
    state: &State,
    admin: &AuthUser,
    action: &'static str,
    target: String,
    detail: String,
) -> Result<(), TasksError> {
    let admin_id = admin.user_id;
    tracing::info!(admin_id, action, %target, "admin action");
    state
        .db
        .run(move |c| {
            audit::record(
                c,
                admin_id,
                action,
                &target,
                &detail,
                Utc::now().naive_utc(),
            )
        })
        .await?;
    Ok(())
}

/// `RetryUserTask`: what the owner's RetryTask does, on their behalf.
pub async fn retry(
    state: &State,
    admin: &AuthUser,
    task_id: i64,
    reason: &str,
) -> Result<AdminTask, TasksError> {
    let row = task(state, task_id).await?;
    let step = row.failure_step.clone().unwrap_or_default();
    analysis::retry(state, row.user_id, task_id).await?;
    record(
        state,
        admin,
        "retry_task",
        format!("task:{task_id}"),
        format!("from step {step} for user {}: {reason}", row.user_id),
    )
    .await?;
    let row = task(state, task_id).await?;
    let (videos, recipe) = state
        .db
        .run(move |c| {
            Ok((
                store::video_count(c, task_id)?,
                store::recipe_of(c, task_id)?,
            ))
        })
        .await?;
    Ok(admin_task(&row, videos, recipe.as_ref()))
}

/// `DeleteUserTask`: what the owner's DeleteTask does, on their behalf.
pub async fn delete(
    state: &State,
    admin: &AuthUser,
    task_id: i64,
    reason: &str,
) -> Result<(), TasksError> {
    let row = task(state, task_id).await?;
    tasks::delete(state, row.user_id, task_id).await?;
    record(
        state,
        admin,
        "delete_task",
        format!("task:{task_id}"),
        format!(
            "{} ({}) of user {}: {reason}",
            row.shop_name, row.status, row.user_id
        ),
    )
    .await
}

/// Usage rows and stored bytes of tasks.
fn used(
    c: &mut scout_common::adapters::db::AnyConnection,
    rows: &[TaskRow],
) -> Result<Vec<(i64, UsageRow, Stored)>, scout_common::adapters::db::DbError> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let usage = store::usage_of(c, &ids)?;
    let bytes = store::clip_bytes(c, &ids)?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let frames = store::videos_of(c, r.id)?
            .iter()
            .map(|v| {
                serde_json::from_str::<Vec<String>>(&v.frame_keys)
                    .map(|k| k.len() as i64)
                    .unwrap_or(0)
            })
            .sum();
        out.push((
            r.id,
            usage
                .iter()
                .find(|u| u.task_id == r.id)
                .cloned()
                .unwrap_or(UsageRow {
                    task_id: r.id,
                    ..UsageRow::default()
                }),
            Stored {
                frames,
                clip_bytes: bytes
                    .iter()
                    .find(|(t, _)| *t == r.id)
                    .map(|(_, b)| *b)
                    .unwrap_or(0),
                output_bytes: r.output_file_size.unwrap_or(0),
            },
        ));
    }
    Ok(out)
}

/// `GetTaskCost`.
pub async fn cost(state: &State, task_id: i64) -> Result<TaskCost, TasksError> {
    let row = task(state, task_id).await?;
    let mut used = state.db.run(move |c| used(c, &[row])).await?;
    let (_, u, s) = used
        .pop()
        .ok_or_else(|| TasksError::not_found(format!("task {task_id}")))?;
    Ok(usage::estimate(&state.ctx.config.costs, task_id, &u, &s))
}

/// `GetUserUsage`.
pub async fn user_usage(state: &State, user_id: i64) -> Result<UserUsage, TasksError> {
    if user_id <= 0 {
        return Err(TasksError::invalid("user_id", "a user id"));
    }
    let offset = state.ctx.config.quotas.utc_offset_hours;
    let now = Utc::now();
    let today = quotas::quota_day(offset, now).0;
    let month: Vec<String> = (0..30)
        .map(|d| quotas::quota_day(offset, now - chrono::TimeDelta::days(d)).0)
        .collect();
    let (rows, used, videos_today, videos_month) = state
        .db
        .run(move |c| {
            let rows = store::tasks_of_user(c, user_id)?;
            let used = used(c, &rows)?;
            Ok((
                rows,
                used,
                store::videos_on_days(c, user_id, &[today])?,
                store::videos_on_days(c, user_id, &month)?,
            ))
        })
        .await?;
    let prices = &state.ctx.config.costs;
    let mut by_status: Vec<StatusCount> = Vec::new();
    for r in &rows {
        let status = r.status().api() as i32;
        match by_status.iter_mut().find(|s| s.status == status) {
            Some(s) => s.count += 1,
            None => by_status.push(StatusCount { status, count: 1 }),
        }
    }
    by_status.sort_by_key(|s| s.status);
    Ok(UserUsage {
        user_id,
        videos_today: videos_today as i32,
        videos_last_30_days: videos_month as i32,
        tasks: by_status,
        storage_bytes: used
            .iter()
            .map(|(_, _, s)| s.clip_bytes + s.output_bytes)
            .sum(),
        estimated_cost: used
            .iter()
            .map(|(id, u, s)| usage::estimate(prices, *id, u, s).total)
            .sum(),
        currency: prices.currency.clone(),
    })
}

/// `ListQueues`: every topic of every job kind, with its working group's lag.
pub async fn queues(state: &State) -> Result<ListQueuesResponse, TasksError> {
    let bus = state.ctx.adapters.bus.clone();
    let collector = deadletters::group(state);
    let mut topics = Vec::new();
    for kind in state.ctx.jobs.all() {
        let mut named = vec![(kind.topic(), "main", kind.consumer_group())];
        for n in 1..=kind.retry_delays.len() {
            named.push((kind.retry_topic(n), "retry", kind.retry_group(n)));
        }
        // The collector keeps analyze and compose letters; no one collects
        // identity's voice-clone ones yet, so their lag is every letter.
        named.push((kind.dlq_topic(), "dlq", collector.clone()));
        for (topic, role, group) in named {
            let stats = bus
                .topic_stats(&topic, &group)
                .await
                .map_err(|e| TasksError::Unavailable(format!("job bus: {e}")))?;
            topics.push(QueueTopic {
                kind: kind.name.clone(),
                topic,
                role: role.into(),
                messages: stats.messages,
                consumer_group: group,
                lag: stats.lag,
            });
        }
    }
    Ok(ListQueuesResponse {
        topics,
        dead_letters_pending: deadletters::pending(state).await?,
    })
}

/// `ListTasksAuditLog`.
pub async fn audit_log(
    state: &State,
    page: i32,
    size: i32,
) -> Result<(Vec<AuditEntry>, Pagination), TasksError> {
    Ok(state.db.run(move |c| audit::page(c, page, size)).await?)
}

/// How often the queue gauges are refreshed.
const QUEUE_SAMPLE_EVERY: std::time::Duration = std::time::Duration::from_secs(15);

/// Keeps `queue_depth{queue_name}` current until `shutdown`: each job kind's
/// working-group lag on its main topic, and the dead letters waiting.
pub fn spawn_queue_sampler(
    state: std::sync::Arc<State>,
    shutdown: scout_common::shutdown::Shutdown,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            for kind in state.ctx.jobs.all() {
                match state
                    .ctx
                    .adapters
                    .bus
                    .topic_stats(&kind.topic(), &kind.consumer_group())
                    .await
                {
                    Ok(s) => scout_common::telemetry::record_queue_depth(&kind.name, s.lag),
                    Err(e) => {
                        tracing::debug!(kind = %kind.name, error = %e, "cannot sample a queue")
                    }
                }
            }
            if let Ok(n) = deadletters::pending(&state).await {
                scout_common::telemetry::record_queue_depth("dead_letters", n);
            }
            tokio::select! {
                _ = shutdown.wait() => return,
                _ = tokio::time::sleep(QUEUE_SAMPLE_EVERY) => {}
            }
        }
    })
}
