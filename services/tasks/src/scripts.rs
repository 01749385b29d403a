//! Scripts: the narration of a task as paragraphs, each over one of the
//! task's clips. Stored as JSON in `scripts.content`, versioned: every
//! write (generated or edited) is the next version.

use scout_common::ApiError;
use scout_common::speech;
use scout_proto::scout::tasks::v1::{
    Paragraph, ParagraphEdit, Script, ScriptLength, ShotRef, SpeakingRate,
};
use serde::{Deserialize, Serialize};

use crate::State;
use crate::error::TasksError;
use crate::machine::{self, Event};
use crate::store::{self, ScriptRow, TaskRow, VideoRow};
use crate::tasks::{self, MAX_REGENERATIONS};
use crate::uploads;

/// Most paragraphs in a script.
pub const MAX_PARAGRAPHS: usize = 12;
/// Longest paragraph, in characters.
pub const MAX_TEXT: usize = 300;
/// Longest section label, in characters.
pub const MAX_SECTION: usize = 20;

/// One stored paragraph.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StoredParagraph {
    pub id: String,
    pub section: String,
    pub shot_id: i64,
    pub text: String,
    pub estimated_duration: f64,
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
    Ok(to_proto(state, &row, &videos, &task).await)
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
    let rate = crate::speech::rate(state, &task).await;
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
            estimated_duration: speech::paragraph_seconds(&e.text, &rate),
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
    Ok(to_proto(state, &row, &videos, &task).await)
}

/// The API form of a script, with each paragraph's clip resolved.
///
/// Estimates are made now, with the task's voice as render measured it: a
/// change of voice or speed re-estimates the script without rewriting it.
pub async fn to_proto(
    state: &State,
    row: &ScriptRow,
    videos: &[VideoRow],
    task: &TaskRow,
) -> Script {
    let rate = crate::speech::rate(state, task).await;
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
            estimated_duration: speech::paragraph_seconds(&p.text, &rate),
            text: p.text,
        });
    }
    let total =
        (paragraphs.iter().map(|p| p.estimated_duration).sum::<f64>() * 10.0).round() / 10.0;
    let voice = crate::speech::voice_name(task);
    Script {
        id: row.id,
        task_id: row.task_id,
        version: row.version,
        is_user_edited: row.is_user_edited,
        paragraphs,
        total_duration: total,
        regenerate_remaining: (MAX_REGENERATIONS - task.script_regenerate_count).max(0),
        provider: row.provider.clone(),
        speaking_rate: Some(SpeakingRate {
            cjk_chars_per_second: rate.cjk_chars_per_second,
            words_per_second: rate.words_per_second,
            paragraph_seconds: rate.paragraph_seconds,
            voice,
            provider: rate.provider,
        }),
        length: Some(length(total)),
    }
}

/// How `seconds` of video compare with the short-video format.
pub fn length(seconds: f64) -> ScriptLength {
    let over_limit = seconds > speech::LIMIT_SECONDS;
    ScriptLength {
        estimated_seconds: seconds,
        target_seconds: speech::TARGET_SECONDS,
        limit_seconds: speech::LIMIT_SECONDS,
        over_limit,
        warning: if over_limit {
            format!(
                "the video will run about {seconds:.0} s: longer than the {:.0} s the short-video platforms take for this format (aim for about {:.0} s); shorten or remove a paragraph",
                speech::LIMIT_SECONDS,
                speech::TARGET_SECONDS
            )
        } else {
            String::new()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_over_the_limit_is_warned_about() {
        let fine = length(61.0);
        assert!(!fine.over_limit && fine.warning.is_empty());
        assert_eq!((fine.target_seconds, fine.limit_seconds), (60.0, 66.0));
        let long = length(75.4);
        assert!(long.over_limit);
        assert!(long.warning.contains("about 75 s"), "{}", long.warning);
    }
}
