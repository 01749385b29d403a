//! Serving publish assists: made once per task from its shop info and
//! script, stored in `publish_assists`, cached (`publish:assist:{task}`,
//! 24 h) and made again when the script changes (a newer version) or the
//! user regenerates them (five times per task, seed 000).

use std::time::Duration;

use scout_common::chat::{self, ChatClient, ChatError};
use scout_common::config::{AiConfig, WriterKind};
use scout_proto::scout::common::v1::{ShopType, VideoStyle};
use scout_proto::scout::publish::v1::PublishAssist;
use scout_proto::scout::tasks::v1::{GetTaskContextResponse, Recipe};
use serde::{Deserialize, Serialize};

use crate::State;
use crate::assist::{self, Assist, Input, Subject};
use crate::error::PublishError;
use crate::store::{self, AssistRow};

/// Regenerations per task (seed 000).
pub const MAX_REGENERATIONS: i32 = 5;
/// How long a served assist stays cached.
pub const CACHE_TTL: Duration = Duration::from_secs(24 * 3600);

/// The configured writer of topics and titles.
pub struct Writer {
    remote: Option<ChatClient>,
    fallback: bool,
}

impl Writer {
    /// From config; a remote writer without endpoint, model or key is an
    /// error naming the key.
    pub fn from_config(ai: &AiConfig) -> Result<Self, ChatError> {
        let remote = match ai.writer {
            WriterKind::Template => None,
            WriterKind::Remote => Some(ChatClient::new(
                &ai.text_model,
                ai,
                "ai.text_model",
                chat::in_flight_limit(ai),
            )?),
        };
        Ok(Self {
            remote,
            fallback: ai.fallback_to_local,
        })
    }

    async fn write(
        &self,
        input: &Input<'_>,
        previous: Option<&Assist>,
    ) -> Result<(Assist, String), PublishError> {
        let Some(client) = &self.remote else {
            return Ok((assist::template(input), "template".into()));
        };
        match assist::remote(client, input, previous).await {
            Ok(a) => Ok((a, format!("remote:{}", client.model()))),
            Err(e) if self.fallback => {
                tracing::warn!(error = %e, "remote topic writer failed; using the template");
                let why = e.short();
                Ok((
                    assist::template(input),
                    format!("template (remote:{} failed: {why})", client.model()),
                ))
            }
            Err(e) => Err(PublishError::Writer(e)),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Cached {
    topics: Vec<String>,
    titles: Vec<String>,
    provider: String,
    regenerate_count: i32,
    script_version: i32,
}

fn cache_key(task_id: i64) -> String {
    format!("publish:assist:{task_id}")
}

fn to_proto(task_id: i64, c: &Cached) -> PublishAssist {
    PublishAssist {
        task_id,
        topics: c.topics.clone(),
        titles: c.titles.clone(),
        regenerate_remaining: (MAX_REGENERATIONS - c.regenerate_count).max(0),
        provider: c.provider.clone(),
    }
}

fn cached_of(row: &AssistRow) -> Cached {
    let a = row.assist();
    Cached {
        topics: a.topics,
        titles: a.titles,
        provider: row.provider.clone(),
        regenerate_count: row.regenerate_count,
        script_version: row.script_version,
    }
}

/// The task's context, if it is this user's and has a script.
async fn context(
    state: &State,
    user_id: i64,
    task_id: i64,
) -> Result<(GetTaskContextResponse, i32), PublishError> {
    let ctx = crate::task_context(state, user_id, task_id).await?;
    // A music video or ad creative has no script: its words are its inputs.
    let montage = ctx.task.as_ref().is_some_and(|t| t.montage.is_some());
    let version = match &ctx.script {
        Some(s) if !s.paragraphs.is_empty() => s.version,
        _ if montage => 0,
        _ => return Err(PublishError::NoScript(task_id)),
    };
    Ok((ctx, version))
}

async fn write(
    state: &State,
    ctx: &GetTaskContextResponse,
    seed: u64,
    previous: Option<&Assist>,
) -> Result<(Assist, String), PublishError> {
    let task = ctx.task.clone().unwrap_or_default();
    let shop = task.shop.unwrap_or_default();
    let mut script: Vec<String> = ctx
        .script
        .iter()
        .flat_map(|s| s.paragraphs.iter().map(|p| p.text.clone()))
        .collect();
    // A montage's lines stand for its script.
    if let Some(m) = &task.montage {
        script.extend(
            [&m.tagline, &m.call_to_action]
                .into_iter()
                .filter(|l| !l.trim().is_empty())
                .cloned(),
        );
    }
    let input = Input {
        name: &shop.name,
        shop_type: ShopType::try_from(shop.r#type).unwrap_or(ShopType::Other),
        style: VideoStyle::try_from(shop.style).unwrap_or(VideoStyle::Recommend),
        promotion: &shop.promotion_text,
        script: &script,
        seed,
        subject: if task.montage.is_some() {
            Subject::Product
        } else if task.recipe == Recipe::DocExplainer as i32
            || task.recipe == Recipe::TopicShort as i32
        {
            Subject::Lesson
        } else {
            Subject::Shop
        },
    };
    state.writer.write(&input, previous).await
}

async fn remember(state: &State, task_id: i64, c: &Cached) {
    if let Ok(bytes) = serde_json::to_vec(c)
        && let Err(e) = state
            .ctx
            .adapters
            .cache
            .set(&cache_key(task_id), &bytes, Some(CACHE_TTL))
            .await
    {
        tracing::warn!(task_id, error = %e, "publish assist not cached");
    }
}

/// The stored row for the current script, made (or remade) when missing
/// or stale.
async fn current_row(
    state: &State,
    ctx: &GetTaskContextResponse,
    user_id: i64,
    task_id: i64,
    version: i32,
) -> Result<AssistRow, PublishError> {
    let row = state.db.run(move |c| store::get(c, task_id)).await?;
    match row {
        Some(row) if row.script_version == version => Ok(row),
        Some(row) => {
            let previous = row.assist();
            let (a, provider) =
                write(state, ctx, row.regenerate_count as u64, Some(&previous)).await?;
            let count = row.regenerate_count;
            state
                .db
                .run(move |c| {
                    store::replace(c, task_id, count, false, &a, &provider, version)?;
                    store::get(c, task_id)
                })
                .await?
                .ok_or(PublishError::Vanished)
        }
        None => {
            let (a, provider) = write(state, ctx, 0, None).await?;
            Ok(state
                .db
                .run(move |c| store::insert(c, task_id, user_id, &a, &provider, version))
                .await?)
        }
    }
}

/// `GetPublishAssist`.
pub async fn get(state: &State, user_id: i64, task_id: i64) -> Result<PublishAssist, PublishError> {
    let (ctx, version) = context(state, user_id, task_id).await?;
    match state.ctx.adapters.cache.get(&cache_key(task_id)).await {
        Ok(Some(bytes)) => {
            if let Ok(c) = serde_json::from_slice::<Cached>(&bytes)
                && c.script_version == version
            {
                return Ok(to_proto(task_id, &c));
            }
        }
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(task_id, error = %e, "publish assist cache unreadable; using the database")
        }
    }
    let row = current_row(state, &ctx, user_id, task_id, version).await?;
    let c = cached_of(&row);
    remember(state, task_id, &c).await;
    Ok(to_proto(task_id, &c))
}

/// `RegeneratePublishAssist`: new suggestions, five times per task.
pub async fn regenerate(
    state: &State,
    user_id: i64,
    task_id: i64,
) -> Result<PublishAssist, PublishError> {
    let (ctx, version) = context(state, user_id, task_id).await?;
    let row = current_row(state, &ctx, user_id, task_id, version).await?;
    let count = row.regenerate_count;
    if count >= MAX_REGENERATIONS {
        return Err(PublishError::NoRegenerationsLeft {
            max: MAX_REGENERATIONS,
        });
    }
    let previous = row.assist();
    let (a, provider) = write(state, &ctx, (count + 1) as u64, Some(&previous)).await?;
    let updated = state
        .db
        .run(move |c| {
            if store::replace(c, task_id, count, true, &a, &provider, version)? {
                store::get(c, task_id)
            } else {
                Ok(None)
            }
        })
        .await?;
    let Some(row) = updated else {
        return Err(PublishError::Raced);
    };
    let c = cached_of(&row);
    remember(state, task_id, &c).await;
    Ok(to_proto(task_id, &c))
}
