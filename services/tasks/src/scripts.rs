//! Scripts: the narration of a task as paragraphs, each over one of the
//! task's clips. Stored as JSON in `scripts.content`, versioned: every
//! write (generated or edited) is the next version.

use scout_common::ApiError;
use scout_common::speech;
use scout_proto::scout::render::v1::media_ref::Location;
use scout_proto::scout::render::v1::{MediaRef, Scene};
use scout_proto::scout::tasks::v1::{
    JobUsage, Paragraph, ParagraphEdit, Script, ScriptLength, ShotRef, SpeakingRate,
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
/// Most paragraphs (scenes) in a document explainer's script (seed 001).
pub const MAX_SCENES: usize = crate::documents::MAX_SCENES;
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
    /// The slide shown over it (doc_explainer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scene: Option<StoredScene>,
}

/// A slide as stored in the script (the `Scene` message's fields).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StoredScene {
    pub kind: i32,
    pub title: String,
    #[serde(default)]
    pub items: Vec<String>,
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub language: String,
    #[serde(default)]
    pub author: String,
    #[serde(default)]
    pub answer: i32,
    #[serde(default)]
    pub accent: String,
    /// Blob key of the document's picture.
    #[serde(default)]
    pub image: String,
}

impl StoredScene {
    /// The stored form of a slide.
    pub fn of(s: &Scene) -> Self {
        let image = match s.image.as_ref().and_then(|m| m.location.as_ref()) {
            Some(Location::BlobKey(k)) => k.clone(),
            _ => String::new(),
        };
        Self {
            kind: s.kind,
            title: s.title.clone(),
            items: s.items.clone(),
            code: s.code.clone(),
            language: s.language.clone(),
            author: s.author.clone(),
            answer: s.answer,
            accent: s.accent.clone(),
            image,
        }
    }

    /// The slide.
    pub fn to_proto(&self) -> Scene {
        Scene {
            kind: self.kind,
            title: self.title.clone(),
            items: self.items.clone(),
            code: self.code.clone(),
            language: self.language.clone(),
            author: self.author.clone(),
            answer: self.answer,
            accent: self.accent.clone(),
            image: (!self.image.is_empty()).then(|| MediaRef {
                location: Some(Location::BlobKey(self.image.clone())),
            }),
        }
    }
}

/// Most paragraphs a script of this task may have.
pub fn max_paragraphs(document: bool) -> usize {
    if document { MAX_SCENES } else { MAX_PARAGRAPHS }
}

/// Checks paragraphs against the task's clips (at most `max` of them);
/// errors name the paragraph and field.
pub fn check(
    paragraphs: &[StoredParagraph],
    videos: &[VideoRow],
    max: usize,
) -> Result<(), TasksError> {
    if paragraphs.is_empty() || paragraphs.len() > max {
        return Err(TasksError::invalid(
            "paragraphs",
            format!(
                "a script has 1 to {max} paragraphs (got {})",
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
        // A slide needs no footage (a topic short without pictures).
        let slide = p.shot_id == 0 && p.scene.is_some();
        let shot = videos.iter().find(|v| v.id == p.shot_id);
        if shot.is_some_and(|v| crate::recipes::Kind::parse(&v.kind) == crate::recipes::Kind::Audio)
        {
            return Err(TasksError::invalid(
                format!("paragraphs[{i}].shot_id"),
                format!("paragraph {n} points at the backing track; choose a clip or picture"),
            ));
        }
        if !slide && shot.is_none() {
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
    let old_paragraphs = parse(&old);
    let old_ids: Vec<String> = old_paragraphs.iter().map(|p| p.id.clone()).collect();
    let document = crate::recipes::recipe_of(state, task_id)
        .await?
        .is_document();
    let mut next_id = old_ids
        .iter()
        .filter_map(|id| id.strip_prefix("para_")?.parse::<u32>().ok())
        .max()
        .unwrap_or(0);
    let rate = crate::speech::rate(state, &task).await;
    let mut paragraphs = Vec::with_capacity(edits.len());
    let mut seen = Vec::new();
    for (i, e) in edits.iter().enumerate() {
        let id = if !e.id.is_empty() && old_ids.contains(&e.id) && !seen.contains(&e.id) {
            e.id.clone()
        } else if document {
            // A document's paragraphs are its slides: words change, slides
            // come only from the document.
            return Err(TasksError::invalid(
                format!("paragraphs[{i}].id"),
                "a document explainer's paragraphs are its slides: edit their words or remove them (new slides come from the document)",
            ));
        } else {
            next_id += 1;
            format!("para_{next_id}")
        };
        let scene = old_paragraphs
            .iter()
            .find(|p| p.id == id)
            .and_then(|p| p.scene.clone());
        seen.push(id.clone());
        paragraphs.push(StoredParagraph {
            id,
            section: e.section.clone(),
            shot_id: e.shot_id,
            text: e.text.clone(),
            estimated_duration: speech::paragraph_seconds(&e.text, &rate),
            scene,
        });
    }
    check(&paragraphs, &videos, max_paragraphs(document))?;
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
            scene: p.scene.as_ref().map(StoredScene::to_proto),
        });
    }
    let total =
        (paragraphs.iter().map(|p| p.estimated_duration).sum::<f64>() * 10.0).round() / 10.0;
    // An explainer is as long as its document needs: the short-video limit
    // is not its own.
    let slides = paragraphs.iter().any(|p| p.scene.is_some());
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
        length: Some(if slides {
            ScriptLength {
                estimated_seconds: total,
                ..ScriptLength::default()
            }
        } else {
            length(total, target_of(state, task).await)
        }),
    }
}

/// The length a task's script aims at: a topic short's own, else the
/// product's 60 s.
async fn target_of(state: &State, task: &TaskRow) -> f64 {
    match crate::recipes::of(state, task.id).await {
        Ok(Some(r))
            if crate::recipes::Recipe::of(Some(&r)).is_topic() && r.target_seconds > 0.0 =>
        {
            r.target_seconds
        }
        _ => speech::TARGET_SECONDS,
    }
}

/// Stores a generated script (a writer's report, or a document read) as
/// the next version and moves the task from ANALYZING to SCRIPT_READY, if
/// it still waits for `job_id`. False when it does not (a redelivery, an
/// old attempt): nothing changes.
#[allow(clippy::too_many_arguments)]
pub async fn store_generated(
    state: &State,
    task: &TaskRow,
    job_id: &str,
    paragraphs: &[Paragraph],
    provider: &str,
    provider_note: &str,
    usage: Option<&JobUsage>,
) -> Result<bool, TasksError> {
    let waits = |t: &TaskRow, job: &str| {
        t.status() == machine::Status::Analyzing && t.current_job_id.as_deref() == Some(job)
    };
    if !waits(task, job_id) {
        return Ok(false);
    }
    let task_id = task.id;
    let (videos, recipe) = state
        .db
        .run(move |c| Ok((store::videos_of(c, task_id)?, store::recipe_of(c, task_id)?)))
        .await?;
    let document = crate::recipes::Recipe::of(recipe.as_ref()).is_document();
    let rate = crate::speech::rate(state, task).await;
    let stored: Vec<StoredParagraph> = paragraphs
        .iter()
        .enumerate()
        .map(|(i, p)| StoredParagraph {
            id: if p.id.is_empty() {
                format!("para_{}", i + 1)
            } else {
                p.id.clone()
            },
            section: p.section.clone(),
            shot_id: p.shot_id,
            text: p.text.clone(),
            // Estimated here, with the voice's measured rate, whatever
            // the writer guessed.
            estimated_duration: speech::paragraph_seconds(&p.text, &rate),
            scene: p.scene.as_ref().map(StoredScene::of),
        })
        .collect();
    // A writer must never reference a clip that does not exist.
    check(&stored, &videos, max_paragraphs(document))?;
    let content = serde_json::to_string(&stored)
        .map_err(|e| ApiError::internal(format!("cannot encode the script: {e}")))?;
    let sum = total(&stored);
    let used = usage.map(|u| crate::usage::row(task_id, u));
    let (job, provider, note) = (
        job_id.to_string(),
        provider.to_string(),
        provider_note.chars().take(200).collect::<String>(),
    );
    let started = task.job_started_at;
    let applied = state
        .db
        .transaction(move |c| {
            // Decided again inside the transaction: two deliveries of one
            // job may race here; the loser changes nothing.
            match store::task_by_id(c, task_id)? {
                Some(t) if waits(&t, &job) => {}
                _ => return Ok(false),
            }
            store::save_script(c, task_id, &content, sum, false, &provider, Some(&job))?;
            let done = store::finish_job(
                c,
                task_id,
                machine::Status::Analyzing,
                machine::Status::ScriptReady,
                Some(&note),
            )?;
            if done && let Some(u) = &used {
                store::add_usage(c, u)?;
            }
            Ok(done)
        })
        .await?;
    if applied && let Some(at) = started {
        let took = chrono::Utc::now().naive_utc() - at;
        scout_common::telemetry::record_task_phase("analyze", took.as_seconds_f64());
    }
    Ok(applied)
}

/// How `seconds` of video compare with a short aiming at `target` seconds
/// (the product's 60 s: at most 66).
pub fn length(seconds: f64, target: f64) -> ScriptLength {
    let limit = target * speech::LIMIT_SECONDS / speech::TARGET_SECONDS;
    let over_limit = seconds > limit;
    ScriptLength {
        estimated_seconds: seconds,
        target_seconds: target,
        limit_seconds: limit,
        over_limit,
        warning: if over_limit {
            format!(
                "the video will run about {seconds:.0} s: longer than the {limit:.0} s the short-video platforms take for this format (aim for about {target:.0} s); shorten or remove a paragraph"
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
        let fine = length(61.0, speech::TARGET_SECONDS);
        assert!(!fine.over_limit && fine.warning.is_empty());
        assert_eq!((fine.target_seconds, fine.limit_seconds), (60.0, 66.0));
        let long = length(75.4, speech::TARGET_SECONDS);
        assert!(long.over_limit);
        assert!(long.warning.contains("about 75 s"), "{}", long.warning);
    }
}
