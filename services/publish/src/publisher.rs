//! The publisher: every `platforms.poll_interval` it takes the publications
//! that are due (scheduled and their time come, a retry whose delay has
//! passed, a processing one to look at again, or one whose lease ran out
//! because the node holding it died) and moves each on one step.
//!
//! A publication is taken with a compare-and-set on the row, so each is
//! worked by one publisher at a time among replicas; the lease is renewed
//! with every chunk uploaded. An upload saves its resumable session as it
//! goes, so the next attempt (after a dropped connection, an outage or a
//! killed node) resumes where the platform's copy ends. Failures the
//! platform may recover from are tried again after `platforms.retry_delays`
//! (a rate limit's Retry-After when longer); a refusal is final, with the
//! platform's reason on the publication.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use scout_common::adapters::db::{Db, now};
use scout_common::shutdown::Shutdown;
use scout_proto::scout::publish::v1::Platform;
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::State;
use crate::accounts;
use crate::error::PublishError;
use crate::platforms::{self, Check, Checkpoint, PlatformError, Posted, Video};
use crate::store::{self, Outcome, PublicationRow};

/// Publications worked at once by one node.
const PARALLEL: usize = 4;

/// Runs until `stop`.
pub async fn run(state: Arc<State>, stop: Shutdown) {
    let slots = Arc::new(Semaphore::new(PARALLEL));
    let interval = state.ctx.config.platforms.poll_interval;
    loop {
        if let Err(e) = round(&state, &slots).await {
            tracing::warn!(error = %e, "publisher round failed");
        }
        tokio::select! {
            () = stop.wait() => break,
            () = tokio::time::sleep(interval) => {}
        }
    }
    // Let the publications in hand reach a stopping point.
    let _ = slots.acquire_many(PARALLEL as u32).await;
}

async fn round(state: &Arc<State>, slots: &Arc<Semaphore>) -> Result<(), PublishError> {
    let free = slots.available_permits();
    if free == 0 {
        return Ok(());
    }
    let due = state.db.run(move |c| store::due(c, free as i64)).await?;
    for row in due {
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            break;
        };
        let lease = lease_until(state);
        let r = row.clone();
        if !state.db.run(move |c| store::claim(c, &r, lease)).await? {
            continue;
        }
        let state = state.clone();
        tokio::spawn(async move {
            let id = row.id;
            if let Err(e) = step(&state, row).await {
                tracing::warn!(publication = id, error = %e, "publication step failed; retried next round");
                // Give it back at once, as it stands, rather than after
                // the lease: the next round takes it from there.
                let _ = state.db.run(move |c| store::release(c, id)).await;
            }
            drop(permit);
        });
    }
    Ok(())
}

fn lease_until(state: &State) -> chrono::NaiveDateTime {
    now()
        + chrono::Duration::from_std(state.ctx.config.platforms.lease)
            .unwrap_or(chrono::Duration::minutes(10))
}

fn after(d: Duration) -> chrono::NaiveDateTime {
    now() + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::minutes(1))
}

/// Moves one held publication on a step.
async fn step(state: &State, row: PublicationRow) -> Result<(), PublishError> {
    let platform = platforms::parse(&row.platform);
    match (row.status.as_str(), platform) {
        ("scheduled", Platform::Xiaohongshu) => record(
            state,
            row.id,
            &["scheduled"],
            Outcome {
                status: "ready_to_post",
                release: true,
                ..Default::default()
            },
        )
        .await
        .map(|_| ()),
        ("processing", _) => follow(state, &row, platform).await,
        _ => attempt(state, row, platform).await,
    }
}

/// Writes `o` (built from borrowed parts) in one go.
async fn record(
    state: &State,
    id: i64,
    from: &'static [&'static str],
    o: Outcome<'_>,
) -> Result<bool, PublishError> {
    // Outcome borrows; the database closure needs owned data.
    let status = o.status.to_string();
    let post_id = o.post_id.map(str::to_string);
    let url = o.external_url.map(str::to_string);
    let account = o.account_name.map(str::to_string);
    let (next, attempts, since, err, published, stats, release) = (
        o.next_attempt_at,
        o.attempts,
        o.processing_since,
        o.error_message.clone(),
        o.published_at,
        o.stats_due_at,
        o.release,
    );
    Ok(state
        .db
        .run(move |c| {
            store::record(
                c,
                id,
                from,
                &Outcome {
                    status: &status,
                    next_attempt_at: next,
                    attempts,
                    processing_since: since,
                    post_id: post_id.as_deref(),
                    external_url: url.as_deref(),
                    account_name: account.as_deref(),
                    error_message: err,
                    published_at: published,
                    stats_due_at: stats,
                    release,
                },
            )
        })
        .await?)
}

/// Saves the session (and renews the lease) after every chunk.
struct SaveSession {
    db: Db,
    id: i64,
    lease: Duration,
}

#[async_trait::async_trait]
impl Checkpoint for SaveSession {
    async fn save(&self, session: &Value) {
        let (id, text) = (self.id, session.to_string());
        let until = after(self.lease);
        if let Err(e) = self
            .db
            .run(move |c| store::save_session(c, id, &text, until))
            .await
        {
            tracing::warn!(publication = id, error = %e, "upload session not saved; a retry starts over");
        }
    }
}

/// A downloaded video, removed when dropped.
struct Download(PathBuf);

impl Drop for Download {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// One upload attempt.
async fn attempt(
    state: &State,
    row: PublicationRow,
    platform: Platform,
) -> Result<(), PublishError> {
    let attempts = row.attempts + 1;
    if !record(
        state,
        row.id,
        &["scheduled", "uploading"],
        Outcome {
            status: "uploading",
            attempts: Some(attempts),
            ..Default::default()
        },
    )
    .await?
    {
        return Ok(()); // cancelled in between
    }
    match upload(state, &row, platform).await {
        Ok((posted, account)) => {
            let at = now();
            let o = if posted.processing {
                Outcome {
                    status: "processing",
                    processing_since: Some(Some(at)),
                    next_attempt_at: Some(after(state.ctx.config.platforms.poll_interval)),
                    post_id: Some(&posted.post_id),
                    account_name: Some(&account),
                    error_message: Some(None),
                    release: true,
                    ..Default::default()
                }
            } else {
                published(&posted.post_id, &posted.url, &account)
            };
            record(state, row.id, &["uploading"], o).await?;
            tracing::info!(publication = row.id, platform = %row.platform, post = %posted.post_id, "uploaded");
            Ok(())
        }
        Err(e) => failed(state, &row, attempts, e).await,
    }
}

fn published<'a>(post_id: &'a str, url: &'a str, account: &'a str) -> Outcome<'a> {
    let at = now();
    Outcome {
        status: "published",
        post_id: Some(post_id),
        external_url: Some(url),
        account_name: Some(account),
        published_at: Some(at),
        // The first figures right away, then every stats_interval.
        stats_due_at: Some(at),
        error_message: Some(None),
        release: true,
        ..Default::default()
    }
}

/// Downloads the video and sends it, refreshing the token once if the
/// platform refuses it.
async fn upload(
    state: &State,
    row: &PublicationRow,
    platform: Platform,
) -> Result<(Posted, String), PublishError> {
    let client = accounts::client(state, platform)?;
    let (mut token, account) = accounts::token(state, row.user_id, platform, false).await?;
    tokio::fs::create_dir_all(&state.work_dir)
        .await
        .map_err(|e| PublishError::Unavailable(format!("work directory: {e}")))?;
    let file = Download(state.work_dir.join(format!(
        "publication-{}-{}.mp4",
        row.id,
        uuid::Uuid::new_v4()
    )));
    state
        .ctx
        .adapters
        .blobs
        .get_to_file(&row.video_key, &file.0)
        .await
        .map_err(|e| PublishError::Unavailable(format!("reading the video: {e}")))?;
    let size = tokio::fs::metadata(&file.0)
        .await
        .map_err(|e| PublishError::Unavailable(format!("reading the video: {e}")))?
        .len();
    let topics = row.topic_list();
    let video = Video {
        path: &file.0,
        size,
        title: &row.title,
        topics: &topics,
        description: &row.description,
        privacy: crate::publications::privacy_of(&row.privacy),
        poi_id: &row.poi_id,
        ai_generated: row.ai_generated,
        short: row.is_short,
    };
    let checkpoint = SaveSession {
        db: state.db.clone(),
        id: row.id,
        lease: state.ctx.config.platforms.lease,
    };
    let mut refreshed = false;
    loop {
        let id = row.id;
        let session = state
            .db
            .run(move |c| store::publication(c, id))
            .await?
            .map(|r| serde_json::from_str(&r.upload_session).unwrap_or(Value::Null))
            .unwrap_or(Value::Null);
        match client.upload(&token, &video, session, &checkpoint).await {
            Ok(posted) => return Ok((posted, account)),
            Err(PlatformError::Unauthorized(_)) if !refreshed => {
                refreshed = true;
                token = accounts::token(state, row.user_id, platform, true).await?.0;
            }
            Err(e) => return Err(PublishError::Platform(platform, e)),
        }
    }
}

/// Whether an error is worth another attempt, with a floor on the delay.
fn retryable(e: &PublishError) -> Option<Option<Duration>> {
    match e {
        PublishError::Platform(_, PlatformError::Transient(_) | PlatformError::Unauthorized(_))
        | PublishError::Unavailable(_)
        | PublishError::Store(_)
        | PublishError::Tasks(_) => Some(None),
        PublishError::Platform(_, PlatformError::RateLimited { retry_after, .. }) => {
            Some(*retry_after)
        }
        _ => None,
    }
}

/// Records a failed attempt: scheduled again after its delay, or failed
/// for good with the reason.
async fn failed(
    state: &State,
    row: &PublicationRow,
    attempts: i32,
    e: PublishError,
) -> Result<(), PublishError> {
    let delays = &state.ctx.config.platforms.retry_delays;
    let why = e.to_string();
    let o = match retryable(&e) {
        Some(floor) if (attempts as usize) <= delays.len() => {
            let delay = delays[attempts as usize - 1].max(floor.unwrap_or_default());
            tracing::warn!(publication = row.id, attempts, error = %why, delay = ?delay, "publication attempt failed; retrying");
            Outcome {
                status: "scheduled",
                next_attempt_at: Some(after(delay)),
                error_message: Some(Some(format!(
                    "attempt {attempts} failed: {why}; trying again in {}",
                    humantime::format_duration(delay)
                ))),
                release: true,
                ..Default::default()
            }
        }
        Some(_) => {
            tracing::warn!(publication = row.id, attempts, error = %why, "publication failed after its retries");
            Outcome {
                status: "failed",
                error_message: Some(Some(format!("{why} (after {attempts} attempts)"))),
                release: true,
                ..Default::default()
            }
        }
        None => {
            tracing::warn!(publication = row.id, error = %why, "publication refused");
            Outcome {
                status: "failed",
                error_message: Some(Some(why)),
                release: true,
                ..Default::default()
            }
        }
    };
    record(state, row.id, &["uploading"], o).await?;
    Ok(())
}

/// Looks at a post the platform is processing.
async fn follow(
    state: &State,
    row: &PublicationRow,
    platform: Platform,
) -> Result<(), PublishError> {
    let c = &state.ctx.config.platforms;
    let post_id = row.post_id.clone().unwrap_or_default();
    let since = row.processing_since.unwrap_or(row.updated_at);
    let timed_out = now() - since
        > chrono::Duration::from_std(c.processing_timeout).unwrap_or(chrono::Duration::hours(2));
    let checked = async {
        let client = accounts::client(state, platform)?;
        let (token, _) = accounts::token(state, row.user_id, platform, false).await?;
        client
            .check(&token, &post_id, row.is_short)
            .await
            .map_err(|e| PublishError::Platform(platform, e))
    }
    .await;
    let o = match checked {
        Ok(Check::Published { url, post_id: live }) => {
            let account = row.account_name.clone();
            let live = live.unwrap_or(post_id);
            let o = published(&live, &url, &account);
            return record(
                state,
                row.id,
                &["processing"],
                Outcome {
                    account_name: None,
                    ..o
                },
            )
            .await
            .map(|_| ());
        }
        Ok(Check::Failed(why)) => Outcome {
            status: "failed",
            error_message: Some(Some(why)),
            release: true,
            ..Default::default()
        },
        Ok(Check::Processing) | Err(_) if timed_out => Outcome {
            status: "failed",
            error_message: Some(Some(format!(
                "the platform was still processing the video after {}",
                humantime::format_duration(c.processing_timeout)
            ))),
            release: true,
            ..Default::default()
        },
        Ok(Check::Processing) => Outcome {
            status: "processing",
            next_attempt_at: Some(after(c.poll_interval)),
            release: true,
            ..Default::default()
        },
        Err(e) => {
            tracing::warn!(publication = row.id, error = %e, "cannot read the post's processing status; asking again");
            Outcome {
                status: "processing",
                next_attempt_at: Some(after(c.poll_interval)),
                error_message: Some(Some(format!("checking the post: {e}"))),
                release: true,
                ..Default::default()
            }
        }
    };
    record(state, row.id, &["processing"], o).await?;
    Ok(())
}
