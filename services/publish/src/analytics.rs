//! Analytics: each published post's figures (views, likes, comments,
//! shares, watch time where the API gives it) are fetched on a schedule
//! (`platforms.stats_interval`, hourly by default as in seed 002) and
//! stored as a time series; `GetPublicationStats` serves a task's or a
//! user's series over a time range with their totals.
//!
//! A fetch that fails (an outage, a rate limit, a revoked link) leaves a
//! gap in the series and is tried at the next turn; it never fails the
//! publication. Each publication's turn is taken with a compare-and-set on
//! its next due time, so replicas do not fetch it twice.

use std::collections::BTreeMap;
use std::sync::Arc;

use scout_common::adapters::db::now;
use scout_common::shutdown::Shutdown;
use scout_proto::scout::publish::v1::{
    GetPublicationStatsRequest, GetPublicationStatsResponse, PublicationStats, StatsPoint,
};

use crate::State;
use crate::accounts;
use crate::error::PublishError;
use crate::platforms;
use crate::store::{self, PublicationRow, StatsRow};

/// Publications fetched per round.
const BATCH: i64 = 200;
/// The default range: the last 30 days.
const DEFAULT_DAYS: i64 = 30;

/// Runs until `stop`.
pub async fn run(state: Arc<State>, stop: Shutdown) {
    let interval = state.ctx.config.platforms.poll_interval;
    loop {
        if let Err(e) = round(&state).await {
            tracing::warn!(error = %e, "analytics round failed");
        }
        tokio::select! {
            () = stop.wait() => break,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

/// Fetches the figures of every publication whose turn has come.
pub async fn round(state: &State) -> Result<usize, PublishError> {
    let due = state.db.run(|c| store::stats_due(c, BATCH)).await?;
    let next = now()
        + chrono::Duration::from_std(state.ctx.config.platforms.stats_interval)
            .unwrap_or(chrono::Duration::hours(1));
    // Take each one's turn first, then fetch per account in one call.
    let mut by_account: BTreeMap<(i64, String), Vec<PublicationRow>> = BTreeMap::new();
    for row in due {
        let (Some(expected), Some(_)) = (row.stats_due_at, row.post_id.as_ref()) else {
            continue;
        };
        let id = row.id;
        if state
            .db
            .run(move |c| store::take_stats_turn(c, id, expected, next))
            .await?
        {
            by_account
                .entry((row.user_id, row.platform.clone()))
                .or_default()
                .push(row);
        }
    }
    let mut stored = 0;
    for ((user_id, platform), rows) in by_account {
        let p = platforms::parse(&platform);
        let fetched = async {
            let client = accounts::client(state, p)?;
            let (token, _) = accounts::token(state, user_id, p, false).await?;
            let ids: Vec<String> = rows.iter().filter_map(|r| r.post_id.clone()).collect();
            client
                .figures(&token, &ids)
                .await
                .map_err(|e| PublishError::Platform(p, e))
        }
        .await;
        let figures = match fetched {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(user_id, platform = %platform, error = %e, "figures not fetched; a gap until the next turn");
                continue;
            }
        };
        let at = now();
        for row in rows {
            let Some(f) = figures
                .iter()
                .find(|f| Some(&f.post_id) == row.post_id.as_ref())
            else {
                continue;
            };
            let point = StatsRow {
                publication_id: row.id,
                task_id: row.task_id,
                fetched_at: at,
                views: f.views,
                likes: f.likes,
                comments: f.comments,
                shares: f.shares,
                watch_seconds: f.watch_seconds,
            };
            state
                .db
                .run(move |c| store::insert_stats(c, &row, &point))
                .await?;
            stored += 1;
        }
    }
    Ok(stored)
}

fn point(s: &StatsRow) -> StatsPoint {
    StatsPoint {
        publication_id: s.publication_id,
        at: Some(crate::timestamp(s.fetched_at)),
        views: s.views,
        likes: s.likes,
        comments: s.comments,
        shares: s.shares,
        watch_seconds: s.watch_seconds,
    }
}

/// `GetPublicationStats`.
pub async fn get(
    state: &State,
    user_id: i64,
    r: &GetPublicationStatsRequest,
) -> Result<GetPublicationStatsResponse, PublishError> {
    let to = match &r.to {
        Some(t) => crate::naive(t).ok_or_else(|| PublishError::invalid("to", "a valid time"))?,
        None => now() + chrono::Duration::seconds(1),
    };
    let from = match &r.from {
        Some(t) => crate::naive(t).ok_or_else(|| PublishError::invalid("from", "a valid time"))?,
        None => to - chrono::Duration::days(DEFAULT_DAYS),
    };
    if from >= to {
        return Err(PublishError::invalid("from", "before `to`"));
    }
    let task = (r.task_id != 0).then_some(r.task_id);
    if let Some(task_id) = task {
        // NOT_FOUND for a task that is not theirs.
        let owned = state
            .db
            .run(move |c| store::publications_of(c, task_id))
            .await?;
        if owned.iter().any(|p| p.user_id != user_id) || owned.is_empty() {
            crate::task_context(state, user_id, task_id).await?;
        }
    }
    let rows = state
        .db
        .run(move |c| store::stats_of(c, user_id, task, from, to))
        .await?;
    let mut series: BTreeMap<i64, Vec<StatsRow>> = BTreeMap::new();
    for s in rows {
        series.entry(s.publication_id).or_default().push(s);
    }
    let mut items = Vec::with_capacity(series.len());
    let mut totals = StatsPoint::default();
    for (publication_id, points) in series {
        let platform = state
            .db
            .run(move |c| store::publication(c, publication_id))
            .await?
            .map(|p| platforms::parse(&p.platform) as i32)
            .unwrap_or_default();
        let latest = points.last().map(point);
        if let Some(l) = &latest {
            totals.views += l.views;
            totals.likes += l.likes;
            totals.comments += l.comments;
            totals.shares += l.shares;
            totals.watch_seconds += l.watch_seconds;
        }
        items.push(PublicationStats {
            publication_id,
            task_id: points.first().map(|p| p.task_id).unwrap_or_default(),
            platform,
            points: points.iter().map(point).collect(),
            latest,
        });
    }
    Ok(GetPublicationStatsResponse {
        items,
        totals: Some(totals),
    })
}
