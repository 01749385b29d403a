//! Scripts: the narration of a task as paragraphs, each over one of the
//! task's clips. Stored as JSON in `scripts.content`, versioned: every
//! write (generated or edited) is the next version.

use scout_common::ApiError;
use scout_proto::scout::tasks::v1::{Paragraph, ParagraphEdit, Script, ShotRef, SpeakingRate};
use serde::{Deserialize, Serialize};

use crate::State;
use crate::error::TasksError;
use crate::machine::{self, Event};
use crate::store::{self, ScriptRow, VideoRow};
use crate::tasks::{self, MAX_REGENERATIONS};
use crate::uploads;

/// Most paragraphs in a script.
pub const MAX_PARAGRAPHS: usize = 12;
/// Longest paragraph, in characters.
pub const MAX_TEXT: usize = 300;
/// Longest section label, in characters.
pub const MAX_SECTION: usize = 20;
/// Mandarin narration speed used for estimates (characters per second);
/// the render node measures the real duration when it speaks.
pub const CJK_CHARS_PER_SECOND: f64 = 4.5;
/// Other words (Latin letters, digits) spoken a second.
pub const WORDS_PER_SECOND: f64 = 2.5;

/// One stored paragraph.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StoredParagraph {
    pub id: String,
    pub section: String,
    pub shot_id: i64,
    pub text: String,
    pub estimated_duration: f64,
}

/// Seconds `text` takes to say: CJK characters at the narration rate,
/// other words at 2.5 a second, at least one second.
pub fn estimate_seconds(text: &str) -> f64 {
    let cjk = text
        .chars()
        .filter(|c| ('\u{3400}'..='\u{9fff}').contains(c) || ('\u{f900}'..='\u{faff}').contains(c))
        .count() as f64;
    let words = text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .count() as f64;
    ((cjk / CJK_CHARS_PER_SECOND + words / WORDS_PER_SECOND) * 10.0).round() / 10.0
}

/// Checks paragraphs against the task's clips; errors name the paragraph and field.
pub fn check(paragraphs: &[StoredParagraph], videos: &[VideoRow]) -> Result<(), TasksError> {
    if paragraphs.is_empty() || paragraphs.len() > MAX_PARAGRAPHS {
        return Err(TasksError::invalid(
            "paragraphs",
            format!(
                "a script has 1 to {MAX_PARAGRAPHS} paragraphs (got {})",
                paragraphs.len()
            ),
        ));
    }
    for (i, p) in paragraphs.iter().enumerate() {
        let n = i + 1;
        let chars = p.text.chars().count();
        if p.text.trim().is_empty() {
            return Err(TasksError::invalid(
                format!("paragraphs[{i}].text"),
                format!("paragraph {n} is empty"),
            ));
        }
        if chars > MAX_TEXT {
            return Err(TasksError::invalid(
                format!("paragraphs[{i}].text"),
                format!("paragraph {n} has {chars} characters; at most {MAX_TEXT}"),
            ));
        }
        if p.text.chars().any(|c| c.is_control() && c != '\n') {
            return Err(TasksError::invalid(
                format!("paragraphs[{i}].text"),
                "must not contain control characters",
            ));
        }
        if p.section.chars().count() > MAX_SECTION {
            return Err(TasksError::invalid(
                format!("paragraphs[{i}].section"),
                format!("at most {MAX_SECTION} characters"),
            ));
        }
        if !videos.iter().any(|v| v.id == p.shot_id) {
            return Err(TasksError::invalid(
                format!("paragraphs[{i}].shot_id"),
                format!(
                    "paragraph {n} points at clip {}, which is not a clip of this task",
                    p.shot_id
                ),
            ));
        }
    }
    Ok(())
}

/// Total estimated seconds.
pub fn total(paragraphs: &[StoredParagraph]) -> f64 {
    (paragraphs.iter().map(|p| p.estimated_duration).sum::<f64>() * 10.0).round() / 10.0
}

/// The stored paragraphs of a script row.
pub fn parse(row: &ScriptRow) -> Vec<StoredParagraph> {
    serde_json::from_str(&row.content).unwrap_or_default()
}

/// The caller's script, or NOT_FOUND naming why there is none.
pub async fn get(state: &State, user_id: i64, task_id: i64) -> Result<Script, TasksError> {
    let task = tasks::load(state, user_id, task_id).await?;
    let (row, videos) = state
        .db
        .run(move |c| Ok((store::script_of(c, task_id)?, store::videos_of(c, task_id)?)))
        .await?;
    let row = row.ok_or_else(|| {
        TasksError::not_found(format!(
            "the script of task {task_id} (the task is {}; a script exists from SCRIPT_READY on)",
            task.status().upper()
        ))
    })?;
    Ok(to_proto(state, &row, &videos, task.script_regenerate_count).await)
}

/// Replaces the script with the user's paragraphs (the next version).
pub async fn update(
    state: &State,
    user_id: i64,
    task_id: i64,
    edits: &[ParagraphEdit],
) -> Result<Script, TasksError> {
    let task = tasks::load(state, user_id, task_id).await?;
    let from = task.status();
    let to = machine::next(from, Event::EditScript)?;
    let (old, videos) = state
        .db
        .run(move |c| Ok((store::script_of(c, task_id)?, store::videos_of(c, task_id)?)))
        .await?;
    let old = old.ok_or_else(|| TasksError::not_found(format!("the script of task {task_id}")))?;
    let old_ids: Vec<String> = parse(&old).into_iter().map(|p| p.id).collect();
    let mut next_id = old_ids
        .iter()
        .filter_map(|id| id.strip_prefix("para_")?.parse::<u32>().ok())
        .max()
        .unwrap_or(0);
    let mut paragraphs = Vec::with_capacity(edits.len());
    let mut seen = Vec::new();
    for e in edits {
        let id = if !e.id.is_empty() && old_ids.contains(&e.id) && !seen.contains(&e.id) {
            e.id.clone()
        } else {
            next_id += 1;
            format!("para_{next_id}")
        };
        seen.push(id.clone());
        paragraphs.push(StoredParagraph {
            id,
            section: e.section.clone(),
            shot_id: e.shot_id,
            text: e.text.clone(),
            estimated_duration: estimate_seconds(&e.text),
        });
    }
    check(&paragraphs, &videos)?;
    let content = serde_json::to_string(&paragraphs)
        .map_err(|e| ApiError::internal(format!("cannot encode the script: {e}")))?;
    let sum = total(&paragraphs);
    let provider = old.provider.clone();
    let row = state
        .db
        .transaction(move |c| {
            if !store::set_status(c, task_id, from, to)? {
                return Ok(None);
            }
            Ok(Some(store::save_script(
                c, task_id, &content, sum, true, &provider, None,
            )?))
        })
        .await?
        .ok_or(TasksError::Changed(
            "the task changed while the script was saved; load it and try again",
        ))?;
    Ok(to_proto(state, &row, &videos, task.script_regenerate_count).await)
}

/// The API form of a script, with each paragraph's clip resolved.
pub async fn to_proto(
    state: &State,
    row: &ScriptRow,
    videos: &[VideoRow],
    regenerations_used: i32,
) -> Script {
    let mut paragraphs = Vec::new();
    for p in parse(row) {
        let shot = match videos.iter().find(|v| v.id == p.shot_id) {
            Some(v) => {
                let thumbnail_url =
                    uploads::thumbnail_url(state, v.thumbnail_oss_key.as_deref()).await;
                Some(ShotRef {
                    id: v.id,
                    thumbnail_url,
                    category: uploads::category(v.category.as_deref()) as i32,
                })
            }
            None => None,
        };
        paragraphs.push(Paragraph {
            id: p.id,
            section: p.section,
            shot_id: p.shot_id,
            shot,
            text: p.text,
            estimated_duration: p.estimated_duration,
        });
    }
    Script {
        id: row.id,
        task_id: row.task_id,
        version: row.version,
        is_user_edited: row.is_user_edited,
        paragraphs,
        total_duration: row.total_duration_seconds.unwrap_or_default(),
        regenerate_remaining: (MAX_REGENERATIONS - regenerations_used).max(0),
        provider: row.provider.clone(),
        speaking_rate: Some(SpeakingRate {
            cjk_chars_per_second: CJK_CHARS_PER_SECOND,
            words_per_second: WORDS_PER_SECOND,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_follow_the_speaking_rate() {
        assert_eq!(estimate_seconds("家人们今天探店海底捞"), 2.2);
        assert_eq!(estimate_seconds("hello world again here now"), 2.0);
        assert_eq!(estimate_seconds(""), 0.0);
    }
}
