//! Dead letters: jobs that ran out of attempts (or failed for good). The
//! workers put them on each kind's `.dlq` topic and tell tasks, which fails
//! the task; this module keeps a record of every one (a collector consumes
//! the `.dlq` topics in its own group and stores each message once), lists
//! them for the admin panel, and replays or discards them.
//!
//! A replay puts the very job back on its main topic (same job id and
//! payload, attempt 1) after moving its task from FAILED back to the step
//! that waits for it, in one transaction with the dead letter's new state
//! and the audit entry. A task that has moved on since (retried, deleted,
//! failed elsewhere) is skipped, saying why.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use prost::Message as _;
use scout_common::adapters::bus::{Delivery, JobBus};
use scout_common::audit;
use scout_common::auth::AuthUser;
use scout_common::jobs::{self, HEADER_ATTEMPT, HEADER_DEAD_AT, HEADER_LAST_ERROR, JobKind};
use scout_common::paging::{page_and_size, pagination};
use scout_common::shutdown::Shutdown;
use scout_proto::scout::common::v1::{ErrorCode, Pagination};
use scout_proto::scout::jobs::v1::{AnalyzeJob, ComposeJob};
use scout_proto::scout::tasks::v1::{DeadLetter, DeadLetterOutcome, DeadLetterState};
use tokio::task::JoinHandle;

use crate::State;
use crate::error::TasksError;
use crate::machine::{self, Event, Status, Step};
use crate::store::{self, DeadLetterRow, NewDeadLetter};

/// The collector's consumer group (after the topic prefix).
pub const GROUP: &str = "tasks-dead-letters";

const PENDING: &str = "pending";
const REPLAYED: &str = "replayed";
const DISCARDED: &str = "discarded";

/// The job kinds whose dead letters tasks keeps (it owns their tasks).
fn kinds(state: &State) -> [&JobKind; 2] {
    [&state.analyze_jobs, &state.compose_jobs]
}

/// The consumer group of the collector.
pub fn group(state: &State) -> String {
    format!("{}{GROUP}", state.compose_jobs.prefix)
}

/// The job id and task id inside a dead letter's payload.
fn identify(kind: &str, payload: &[u8]) -> Option<(String, i64)> {
    match kind {
        "analyze" => AnalyzeJob::decode(payload)
            .ok()
            .map(|j| (j.job_id, j.task_id)),
        "compose" => ComposeJob::decode(payload)
            .ok()
            .map(|j| (j.job_id, j.task_id)),
        _ => None,
    }
}

fn record_of(kind: &JobKind, d: &Delivery) -> NewDeadLetter {
    let m = &d.message;
    let (job_id, task_id) = identify(&kind.name, &m.payload).unwrap_or_else(|| (String::new(), 0));
    let dedup_key = match m.header(HEADER_DEAD_AT) {
        Some(at) => format!("{}@{at}", m.key.as_deref().unwrap_or("")),
        None => format!("{}:{}", d.partition, d.offset),
    };
    NewDeadLetter {
        kind: kind.name.clone(),
        topic: m.topic.clone(),
        dedup_key,
        job_id,
        task_id,
        msg_key: m.key.clone(),
        payload: m.payload.to_vec(),
        attempts: m
            .header(HEADER_ATTEMPT)
            .and_then(|a| a.parse().ok())
            .unwrap_or(1),
        error: m.header(HEADER_LAST_ERROR).unwrap_or_default().to_string(),
        state: PENDING.into(),
        created_at: Utc::now().naive_utc(),
    }
}

/// Runs the collector until `shutdown`: every message on the `.dlq` topics
/// is stored once, then committed (a crash in between stores it again,
/// which changes nothing).
pub fn spawn_collector(state: Arc<State>, shutdown: Shutdown) -> JoinHandle<()> {
    tokio::spawn(async move {
        let topics: Vec<String> = kinds(&state).iter().map(|k| k.dlq_topic()).collect();
        let bus: Arc<dyn JobBus> = state.ctx.adapters.bus.clone();
        let group = group(&state);
        let mut sub = loop {
            match bus.subscribe(&group, &topics).await {
                Ok(s) => break s,
                Err(e) => {
                    tracing::warn!(error = %e, "dead-letter collector cannot subscribe yet");
                    tokio::select! {
                        _ = shutdown.wait() => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        };
        loop {
            let d = tokio::select! {
                _ = shutdown.wait() => return,
                d = sub.next() => d,
            };
            let d = match d {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e, "dead-letter collector: receive failed");
                    tokio::select! {
                        _ = shutdown.wait() => return,
                        _ = tokio::time::sleep(Duration::from_millis(500)) => continue,
                    }
                }
            };
            let Some(kind) = kinds(&state)
                .into_iter()
                .find(|k| k.dlq_topic() == d.message.topic)
                .cloned()
            else {
                continue;
            };
            let record = record_of(&kind, &d);
            // Stored, then committed; neither is skipped on a failure.
            loop {
                let r = record.clone();
                match state
                    .db
                    .run(move |c| store::insert_dead_letter(c, &r))
                    .await
                {
                    Ok(()) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot store a dead letter yet");
                        tokio::select! {
                            _ = shutdown.wait() => return,
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        }
                    }
                }
            }
            tracing::warn!(kind = %kind.name, job_id = %record.job_id, task_id = record.task_id, "dead letter recorded");
            while let Err(e) = sub.commit(&d).await {
                tracing::warn!(error = %e, "cannot commit a dead letter yet");
                tokio::select! {
                    _ = shutdown.wait() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    })
}

fn state_name(s: i32) -> Result<Option<&'static str>, TasksError> {
    Ok(match DeadLetterState::try_from(s) {
        Ok(DeadLetterState::Unspecified) => None,
        Ok(DeadLetterState::Pending) => Some(PENDING),
        Ok(DeadLetterState::Replayed) => Some(REPLAYED),
        Ok(DeadLetterState::Discarded) => Some(DISCARDED),
        Err(_) => return Err(TasksError::invalid("state", "not a dead-letter state")),
    })
}

fn kind_filter(kind: &str) -> Result<Option<String>, TasksError> {
    match kind {
        "" => Ok(None),
        "analyze" | "compose" => Ok(Some(kind.to_string())),
        _ => Err(TasksError::invalid("kind", "analyze or compose")),
    }
}

fn to_proto(r: &DeadLetterRow) -> DeadLetter {
    let state = match r.state.as_str() {
        REPLAYED => DeadLetterState::Replayed,
        DISCARDED => DeadLetterState::Discarded,
        _ => DeadLetterState::Pending,
    };
    DeadLetter {
        id: r.id,
        kind: r.kind.clone(),
        job_id: r.job_id.clone(),
        task_id: r.task_id,
        attempts: r.attempts,
        error: r.error.clone(),
        state: state as i32,
        created_at: Some(scout_common::proto_json::timestamp(r.created_at)),
        resolved_at: r.resolved_at.map(scout_common::proto_json::timestamp),
        resolved_by: r.resolved_by.unwrap_or(0),
    }
}

/// `ListDeadLetters`.
pub async fn list(
    state: &State,
    kind: &str,
    dl_state: i32,
    page: i32,
    size: i32,
) -> Result<(Vec<DeadLetter>, Pagination), TasksError> {
    let kind = kind_filter(kind)?;
    let dl_state = state_name(dl_state)?;
    let (page, size) = page_and_size(page, size);
    let (rows, total) = state
        .db
        .run(move |c| {
            store::dead_letters_page(
                c,
                kind.as_deref(),
                dl_state,
                i64::from(page),
                i64::from(size),
            )
        })
        .await?;
    Ok((
        rows.iter().map(to_proto).collect(),
        pagination(page, size, total),
    ))
}

/// The dead letters a replay or discard names: the ids given, or every
/// pending one (of `kind`) with `all`.
async fn chosen(
    state: &State,
    ids: &[i64],
    all: bool,
    kind: &str,
) -> Result<Vec<DeadLetterRow>, TasksError> {
    let kind = kind_filter(kind)?;
    if ids.is_empty() && !all {
        return Err(TasksError::invalid(
            "ids",
            "name the dead letters, or set all to true",
        ));
    }
    if !ids.is_empty() && all {
        return Err(TasksError::invalid("all", "either ids or all, not both"));
    }
    if ids.len() > 1000 {
        return Err(TasksError::invalid("ids", "at most 1000 at once"));
    }
    let ids = ids.to_vec();
    let rows = state
        .db
        .run(move |c| store::dead_letters_by(c, &ids, PENDING, kind.as_deref()))
        .await?;
    Ok(rows)
}

/// The outcomes of the ids asked for that are not pending dead letters.
fn not_pending(ids: &[i64], rows: &[DeadLetterRow]) -> Vec<DeadLetterOutcome> {
    ids.iter()
        .filter(|id| !rows.iter().any(|r| r.id == **id))
        .map(|id| outcome(*id, false, "no pending dead letter with this id"))
        .collect()
}

fn outcome(id: i64, done: bool, detail: impl Into<String>) -> DeadLetterOutcome {
    DeadLetterOutcome {
        id,
        done,
        detail: detail.into(),
    }
}

/// The step a dead letter's task failed at and the status a replay puts it in.
fn resume_point(kind: &str, failed_at: Option<&str>) -> Option<(Step, Status)> {
    let step = failed_at.and_then(Step::parse)?;
    let fits = match kind {
        "analyze" => matches!(step, Step::Analyze | Step::Script),
        "compose" => step == Step::Compose,
        _ => false,
    };
    if !fits {
        return None;
    }
    let to = machine::next(Status::Failed, Event::Retry(step)).ok()?;
    Some((step, to))
}

/// `ReplayDeadLetters`.
pub async fn replay(
    state: &State,
    admin: &AuthUser,
    ids: &[i64],
    all: bool,
    kind: &str,
    reason: &str,
) -> Result<Vec<DeadLetterOutcome>, TasksError> {
    let rows = chosen(state, ids, all, kind).await?;
    let mut outcomes = not_pending(ids, &rows);
    for row in rows {
        outcomes.push(replay_one(state, admin, row, reason).await);
    }
    Ok(outcomes)
}

async fn replay_one(
    state: &State,
    admin: &AuthUser,
    row: DeadLetterRow,
    reason: &str,
) -> DeadLetterOutcome {
    let Some(kind) = kinds(state)
        .into_iter()
        .find(|k| k.name == row.kind)
        .cloned()
    else {
        return outcome(row.id, false, format!("unknown job kind {}", row.kind));
    };
    let (id, task_id, job_id, admin_id) = (row.id, row.task_id, row.job_id.clone(), admin.user_id);
    let detail = format!("{} job {job_id} of task {task_id}: {reason}", row.kind);
    let dl_kind = row.kind.clone();
    // Move the task back and mark the dead letter, with the audit entry.
    let moved = state
        .db
        .transaction(move |c| {
            let Some(task) = store::task_by_id(c, task_id)? else {
                return Ok(Err(format!(
                    "task {task_id} no longer exists: discard this dead letter"
                )));
            };
            if task.status() != Status::Failed {
                return Ok(Err(format!(
                    "task {task_id} is {} now, not failed: it has moved on",
                    task.status().upper()
                )));
            }
            let Some((step, to)) = resume_point(&dl_kind, task.failure_step.as_deref()) else {
                return Ok(Err(format!(
                    "task {task_id} failed at {} since, not at this job's step",
                    task.failure_step.as_deref().unwrap_or("an unknown step")
                )));
            };
            if !store::resume_failed(c, task_id, to, &job_id)? {
                return Ok(Err(format!("task {task_id} changed meanwhile; try again")));
            }
            if !store::resolve_dead_letter(c, id, PENDING, REPLAYED, Some(admin_id))? {
                return Err(scout_common::adapters::db::DbError::Conflict(
                    "the dead letter was resolved meanwhile".into(),
                ));
            }
            let at = Utc::now().naive_utc();
            audit::record(
                c,
                admin_id,
                "replay_dead_letter",
                &format!("dead_letter:{id}"),
                &detail,
                at,
            )?;
            Ok(Ok((step, to, task.failure_attempts.unwrap_or(0))))
        })
        .await;
    let (step, to, attempts) = match moved {
        Ok(Ok(v)) => v,
        Ok(Err(why)) => return outcome(id, false, why),
        Err(e) => return outcome(id, false, format!("not replayed: {e}")),
    };
    let key = row.msg_key.clone().unwrap_or_else(|| task_id.to_string());
    match jobs::enqueue(
        state.ctx.adapters.bus.as_ref(),
        &kind,
        &key,
        row.payload.clone().into(),
    )
    .await
    {
        Ok(()) => {
            tracing::info!(dead_letter = id, task_id, job_id = %row.job_id, admin_id, "dead letter replayed");
            outcome(id, true, format!("task {task_id} is {} again", to.upper()))
        }
        Err(e) => {
            // Undo: the task fails again as it was, the letter waits again.
            let message = format!("the replay could not be queued: {e}");
            let undo = message.clone();
            let _ = state
                .db
                .transaction(move |c| {
                    store::fail_task(
                        c,
                        task_id,
                        to,
                        step.as_str(),
                        &undo,
                        ErrorCode::ServiceUnavailable as i32,
                        attempts,
                    )?;
                    store::resolve_dead_letter(c, id, REPLAYED, PENDING, None)?;
                    Ok(())
                })
                .await;
            outcome(id, false, message)
        }
    }
}

/// `DiscardDeadLetters`.
pub async fn discard(
    state: &State,
    admin: &AuthUser,
    ids: &[i64],
    all: bool,
    kind: &str,
    reason: &str,
) -> Result<Vec<DeadLetterOutcome>, TasksError> {
    let rows = chosen(state, ids, all, kind).await?;
    let mut outcomes = not_pending(ids, &rows);
    for row in rows {
        let (id, admin_id) = (row.id, admin.user_id);
        let detail = format!(
            "{} job {} of task {}: {reason}",
            row.kind, row.job_id, row.task_id
        );
        let done = state
            .db
            .transaction(move |c| {
                if !store::resolve_dead_letter(c, id, PENDING, DISCARDED, Some(admin_id))? {
                    return Ok(false);
                }
                let at = Utc::now().naive_utc();
                audit::record(
                    c,
                    admin_id,
                    "discard_dead_letter",
                    &format!("dead_letter:{id}"),
                    &detail,
                    at,
                )?;
                Ok(true)
            })
            .await?;
        outcomes.push(if done {
            outcome(id, true, "discarded")
        } else {
            outcome(id, false, "resolved meanwhile by someone else")
        });
    }
    Ok(outcomes)
}

/// Dead letters waiting for an admin.
pub async fn pending(state: &State) -> Result<i64, TasksError> {
    Ok(state
        .db
        .run(|c| store::count_dead_letters(c, PENDING))
        .await?)
}
