//! The task's voice and how fast it speaks.
//!
//! The voice a compose job speaks with ([`voice_spec`]) is the voice whose
//! speaking rate sizes the script (the analyze job carries it to the
//! writer) and estimates every edit. The render node measures a rate once
//! per voice and speed; this service keeps the answer a while, and uses the
//! built-in defaults, saying so, when no render node answers.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use scout_common::speech;
use scout_proto::scout::common::v1::SpeechRate;
use scout_proto::scout::identity::v1::{GetVoiceSampleRequest, VoiceSampleStatus};
use scout_proto::scout::render::v1::{MeasureSpeechRateRequest, VoiceSpec};
use tokio::sync::Mutex;

use crate::State;
use crate::error::TasksError;
use crate::store::TaskRow;

/// How long a measured rate is kept here (render keeps it for its life).
const KEEP: Duration = Duration::from_secs(600);
/// How long the render node may take to measure (three short syntheses).
const MEASURE_TIMEOUT: Duration = Duration::from_secs(30);
/// The voice of a task that has not chosen one (seed 000's default).
pub const DEFAULT_VOICE: &str = "xiaomei";

/// Rates asked of render, by voice.
#[derive(Default)]
pub struct Rates {
    kept: Mutex<HashMap<String, (Instant, SpeechRate)>>,
}

/// The user's cloned voice id for a sample, or why it cannot be used.
pub async fn cloned_voice(
    state: &State,
    user_id: i64,
    sample_id: i64,
) -> Result<String, TasksError> {
    let mut identity = state.identity.clone();
    let mut req = state
        .ctx
        .auth
        .internal(GetVoiceSampleRequest { user_id, sample_id });
    req.set_timeout(Duration::from_secs(5));
    let sample = match identity.get_voice_sample(req).await {
        Ok(r) => r.into_inner().sample.unwrap_or_default(),
        Err(s) if s.code() == tonic::Code::NotFound => {
            return Err(TasksError::UnknownVoiceSample(sample_id));
        }
        Err(s) => {
            return Err(TasksError::Unavailable(format!(
                "the voice sample could not be checked now: {}",
                s.message()
            )));
        }
    };
    if sample.status != VoiceSampleStatus::Completed as i32 || sample.clone_voice_id.is_empty() {
        return Err(TasksError::VoiceNotCloned(sample_id));
    }
    Ok(sample.clone_voice_id)
}

/// The name of the task's voice: its standard voice, or `cloned` (the
/// clone's id is the provider's business).
pub fn voice_name(task: &TaskRow) -> String {
    if task.voice_sample_id.is_some() {
        "cloned".into()
    } else if task.voice_type.is_empty() {
        DEFAULT_VOICE.into()
    } else {
        task.voice_type.clone()
    }
}

/// The voice the task's video is spoken with: its cloned voice when it
/// chose one, else its standard voice (the default until it chooses).
pub async fn voice_spec(state: &State, task: &TaskRow) -> Result<VoiceSpec, TasksError> {
    Ok(match task.voice_sample_id {
        Some(id) => VoiceSpec {
            voice: cloned_voice(state, task.user_id, id).await?,
            cloned: true,
            speed: task.voice_speed,
            language: "zh-CN".into(),
        },
        None => VoiceSpec {
            voice: voice_name(task),
            cloned: false,
            speed: task.voice_speed,
            language: "zh-CN".into(),
        },
    })
}

/// How the task's voice speaks, in the video (each paragraph's pause
/// included). Never fails: without an answer from render (or a cloned
/// voice that cannot be resolved) it is the built-in default, with an empty
/// `provider` saying so.
pub async fn rate(state: &State, task: &TaskRow) -> SpeechRate {
    let voice = match voice_spec(state, task).await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(task_id = task.id, error = %e, "the task's voice is unknown; estimating with the default rate");
            return speech::default_rate();
        }
    };
    let key = format!(
        "{}|{}|{:.2}",
        voice.voice,
        voice.cloned,
        if voice.speed > 0.0 { voice.speed } else { 1.0 }
    );
    if let Some((at, rate)) = state.rates.kept.lock().await.get(&key)
        && at.elapsed() < KEEP
    {
        return rate.clone();
    }
    let mut render = state.render.clone();
    let mut req = state.ctx.auth.internal(MeasureSpeechRateRequest {
        voice: Some(voice.clone()),
    });
    req.set_timeout(MEASURE_TIMEOUT);
    match render.measure_speech_rate(req).await {
        Ok(r) => {
            let rate = speech::usable(r.into_inner().rate.as_ref());
            state
                .rates
                .kept
                .lock()
                .await
                .insert(key, (Instant::now(), rate.clone()));
            rate
        }
        Err(s) => {
            tracing::warn!(task_id = task.id, voice = %voice.voice, error = %s.message(), "render did not measure the voice; estimating with the default rate");
            speech::default_rate()
        }
    }
}
