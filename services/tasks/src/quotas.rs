//! Quotas per membership tier (config `quotas`): how many videos a user may
//! start composing per quota day. Counted in this service's database, one
//! atomic step per video, so counts survive restarts, every replica sees
//! the same, and two concurrent requests cannot both take the last one.

use std::time::Duration;

use chrono::{DateTime, FixedOffset, Offset, Timelike, Utc};
use scout_common::config::TierQuota;

use crate::State;
use crate::error::TasksError;
use crate::store;

/// The quota day `now` falls in (`YYYY-MM-DD` where days start at
/// midnight `offset_hours` east of UTC) and how long until the next.
pub fn quota_day(offset_hours: i32, now: DateTime<Utc>) -> (String, Duration) {
    let offset = FixedOffset::east_opt(offset_hours.clamp(-23, 23) * 3600).unwrap_or(Utc.fix());
    let local = now.with_timezone(&offset);
    let into_day = u64::from(local.num_seconds_from_midnight());
    (
        local.format("%Y-%m-%d").to_string(),
        Duration::from_secs(86_400 - into_day),
    )
}

/// The per-task limits of a user of `membership` (seed 000's when quotas
/// are off).
pub fn tier(state: &State, membership: &str) -> TierQuota {
    let quotas = &state.ctx.config.quotas;
    if quotas.enabled {
        quotas.for_tier(membership)
    } else {
        TierQuota::seed(u32::MAX)
    }
}

/// The tier's name for messages.
pub fn tier_name(membership: &str) -> String {
    if membership.is_empty() {
        "free".into()
    } else {
        membership.to_string()
    }
}

/// Takes `n` videos of today's quota for a user of `membership`, all or
/// none; the day they were taken on (to give them back if what they were
/// for did not happen), `None` when quotas are off. Past the quota: the
/// error names it and when it resets.
pub async fn take_videos(
    state: &State,
    user_id: i64,
    membership: &str,
    n: u32,
) -> Result<Option<String>, TasksError> {
    let quotas = &state.ctx.config.quotas;
    if !quotas.enabled {
        return Ok(None);
    }
    let limit = quotas.for_tier(membership).videos_per_day;
    let (day, resets_in) = quota_day(quotas.utc_offset_hours, Utc::now());
    let on = day.clone();
    let max = i32::try_from(limit).unwrap_or(i32::MAX);
    let want = i32::try_from(n).unwrap_or(i32::MAX);
    let taken = state
        .db
        .run(move |c| store::take_videos(c, user_id, &on, want, max))
        .await?;
    if !taken {
        return Err(TasksError::QuotaExceeded {
            quota: "videos_per_day",
            tier: tier_name(membership),
            limit,
            resets_in,
            offset_hours: quotas.utc_offset_hours,
        });
    }
    Ok(Some(day))
}

/// Gives back `n` videos taken on `day` whose work did not start.
pub async fn give_back_videos(state: &State, user_id: i64, day: String, n: u32) {
    let n = i32::try_from(n).unwrap_or(i32::MAX);
    if let Err(e) = state
        .db
        .run(move |c| store::give_back_videos(c, user_id, &day, n))
        .await
    {
        tracing::warn!(user_id, error = %e, "could not give back daily videos");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quota_day_starts_at_local_midnight() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().expect("time");
        // 15:59 UTC is 23:59 in Beijing: one minute left of the 3rd.
        assert_eq!(
            quota_day(8, at("2026-12-03T15:59:00Z")),
            ("2026-12-03".to_string(), Duration::from_secs(60))
        );
        // 16:00 UTC is midnight in Beijing: the 4th begins, a whole day left.
        assert_eq!(
            quota_day(8, at("2026-12-03T16:00:00Z")),
            ("2026-12-04".to_string(), Duration::from_secs(86_400))
        );
        assert_eq!(
            quota_day(0, at("2026-12-03T16:00:00Z")),
            ("2026-12-03".to_string(), Duration::from_secs(8 * 3600))
        );
    }
}
