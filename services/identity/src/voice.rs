//! Voice samples: a presigned upload, a confirm that takes the owner's
//! consent, checks the audio (type, size, 5-60 s through render's probe,
//! enough speech through render's speech detection) and queues a clone job
//! (render's clone worker reports back through [`report_clone`]), and
//! list / delete. Every lookup is scoped to the caller, so another user's
//! sample id is simply not found.

use std::time::Duration;

use prost::Message as _;
use scout_common::adapters::blob::PresignOptions;
use scout_common::jobs;
use scout_proto::scout::identity::v1::{ReportVoiceCloneRequest, VoiceSample, VoiceSampleStatus};
use scout_proto::scout::jobs::v1::VoiceCloneJob;
use scout_proto::scout::render::v1::media_ref::Location;
use scout_proto::scout::render::v1::{DetectSpeechRequest, MediaRef, ProbeRequest};

use crate::State;
use crate::error::IdentityError;
use crate::store::{self, NewSample, SampleRow};

/// Largest sample (seed 000: 20 MB).
pub const MAX_SAMPLE_BYTES: i64 = 20 * 1024 * 1024;
/// Shortest usable recording.
pub const MIN_SECONDS: f64 = 5.0;
/// Longest usable recording.
pub const MAX_SECONDS: f64 = 60.0;
/// Least voiced speech a sample must hold (seed 000: a 5 s sample is
/// enough to clone from, so most of it must be talking).
pub const MIN_SPEECH_SECONDS: f64 = 2.0;
/// Fewest voiced bursts (syllables, words): a held tone is one.
pub const MIN_SPEECH_BURSTS: i32 = 4;
/// Longest sample name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// How long an upload URL is valid.
pub const UPLOAD_URL_TTL: Duration = Duration::from_secs(15 * 60);

/// Accepted audio types and the extension stored with each.
const AUDIO_TYPES: [(&str, &str); 12] = [
    ("audio/mpeg", "mp3"),
    ("audio/mp3", "mp3"),
    ("audio/mp4", "m4a"),
    ("audio/x-m4a", "m4a"),
    ("audio/m4a", "m4a"),
    ("audio/aac", "aac"),
    ("audio/wav", "wav"),
    ("audio/x-wav", "wav"),
    ("audio/wave", "wav"),
    ("audio/ogg", "ogg"),
    ("audio/flac", "flac"),
    ("audio/webm", "webm"),
];

fn extension_for(content_type: &str) -> Option<&'static str> {
    let base = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    AUDIO_TYPES
        .iter()
        .find(|(t, _)| *t == base)
        .map(|(_, ext)| *ext)
}

fn user_prefix(user_id: i64) -> String {
    format!("voice/{user_id}/")
}

/// A presigned PUT for one sample.
pub struct UploadUrl {
    /// Where to PUT.
    pub url: String,
    /// Key to confirm.
    pub key: String,
    /// Headers the PUT must carry.
    pub headers: Vec<(String, String)>,
}

/// Checks the declared upload and signs a PUT under `voice/{user}/`.
pub async fn upload_url(
    state: &State,
    user_id: i64,
    content_type: &str,
    file_size: i64,
) -> Result<UploadUrl, IdentityError> {
    let ext = extension_for(content_type).ok_or_else(|| IdentityError::NotAudio {
        allowed: AUDIO_TYPES
            .iter()
            .map(|(t, _)| *t)
            .collect::<Vec<_>>()
            .join(", "),
    })?;
    if file_size <= 0 {
        return Err(IdentityError::invalid(
            "file_size",
            "must be the size in bytes, above 0",
        ));
    }
    if file_size > MAX_SAMPLE_BYTES {
        return Err(IdentityError::SampleTooLarge {
            max_mb: MAX_SAMPLE_BYTES / 1024 / 1024,
        });
    }
    let key = format!(
        "{}{}.{ext}",
        user_prefix(user_id),
        uuid::Uuid::new_v4().simple()
    );
    let signed = state
        .ctx
        .adapters
        .blobs
        .presign_put(&key, PresignOptions::expires_in(UPLOAD_URL_TTL))
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "cannot presign a voice upload");
            IdentityError::StorageDown
        })?;
    Ok(UploadUrl {
        url: signed.url,
        key,
        headers: signed.headers,
    })
}

fn check_name(name: &str) -> Result<String, IdentityError> {
    let n = name.chars().count();
    if n > MAX_NAME_CHARS {
        return Err(IdentityError::invalid(
            "name",
            format!("at most {MAX_NAME_CHARS} characters (got {n})"),
        ));
    }
    if name.chars().any(|c| c.is_control()) {
        return Err(IdentityError::invalid(
            "name",
            "must not contain control characters",
        ));
    }
    Ok(if name.trim().is_empty() {
        "我的声音".to_string()
    } else {
        name.to_string()
    })
}

/// Deletes a rejected upload, logging (not failing) if that fails too.
async fn discard(state: &State, key: &str) {
    if let Err(e) = state.ctx.adapters.blobs.delete(key).await {
        tracing::warn!(key, error = %e, "cannot delete a rejected voice upload");
    }
}

/// Confirms an uploaded sample: checks it, records it in `processing` and
/// queues its clone job. Confirming the same object twice returns the same sample.
pub async fn create(
    state: &State,
    user_id: i64,
    oss_key: &str,
    name: &str,
    consent: bool,
) -> Result<SampleRow, IdentityError> {
    if !consent {
        return Err(IdentityError::NoConsent);
    }
    let name = check_name(name)?;
    let prefix = user_prefix(user_id);
    let file = oss_key.strip_prefix(&prefix).unwrap_or_default();
    let well_formed = !file.is_empty()
        && file.len() <= 64
        && file.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.')
        && extension_for(&format!(
            "audio/{}",
            file.rsplit('.').next().unwrap_or_default()
        ))
        .is_some();
    if !well_formed {
        // Not a key this user was given: answer as if it does not exist.
        return Err(IdentityError::UnknownUpload);
    }
    let key = oss_key.to_string();
    if let Some(existing) = state
        .db
        .run(move |c| store::sample_by_key(c, user_id, &key))
        .await?
    {
        return Ok(existing);
    }
    let meta = state.ctx.adapters.blobs.head(oss_key).await.map_err(|e| {
        tracing::warn!(error = %e, "cannot stat a voice upload");
        IdentityError::StorageDown
    })?;
    let Some(meta) = meta else {
        return Err(IdentityError::NotUploaded);
    };
    if meta.size as i64 > MAX_SAMPLE_BYTES {
        discard(state, oss_key).await;
        return Err(IdentityError::UploadTooLarge {
            size: meta.size,
            max_mb: MAX_SAMPLE_BYTES / 1024 / 1024,
        });
    }
    let duration = probe_audio(state, oss_key).await?;
    if !(MIN_SECONDS..=MAX_SECONDS).contains(&duration) {
        discard(state, oss_key).await;
        return Err(IdentityError::BadDuration {
            seconds: duration,
            min: MIN_SECONDS,
            max: MAX_SECONDS,
        });
    }
    let speech_seconds = check_speech(state, oss_key).await?;

    let job_id = uuid::Uuid::new_v4().to_string();
    let new_key = oss_key.to_string();
    let job = job_id.clone();
    let row = state
        .db
        .run(move |c| {
            store::insert_sample(
                c,
                &NewSample {
                    user_id,
                    name: &name,
                    oss_key: &new_key,
                    duration_seconds: duration,
                    speech_seconds,
                    clone_job_id: &job,
                },
            )
        })
        .await?;
    let payload = VoiceCloneJob {
        job_id,
        user_id,
        sample_id: row.id,
        sample_key: oss_key.to_string(),
        requested_at: Some(scout_common::proto_json::timestamp(
            chrono::Utc::now().naive_utc(),
        )),
    }
    .encode_to_vec();
    if let Err(e) = jobs::enqueue(
        state.ctx.adapters.bus.as_ref(),
        &state.clone_jobs,
        &user_id.to_string(),
        payload.into(),
    )
    .await
    {
        tracing::warn!(error = %e, sample_id = row.id, "cannot queue a voice-clone job");
        let id = row.id;
        // The audio stays: confirming again retries.
        let _ = state
            .db
            .run(move |c| store::delete_sample(c, user_id, id))
            .await;
        return Err(IdentityError::QueueDown);
    }
    Ok(row)
}

/// The recording's length in seconds, through render's probe.
async fn probe_audio(state: &State, key: &str) -> Result<f64, IdentityError> {
    let mut req = state.ctx.auth.internal(ProbeRequest {
        media: Some(MediaRef {
            location: Some(Location::BlobKey(key.to_string())),
        }),
        thumbnail_key: String::new(),
    });
    req.set_timeout(Duration::from_secs(30));
    let mut render = state.render.clone();
    match render.probe(req).await {
        Ok(resp) => {
            let info = resp.into_inner().info.unwrap_or_default();
            if !info.has_audio {
                discard(state, key).await;
                return Err(IdentityError::NoAudio);
            }
            Ok(info.duration_seconds)
        }
        Err(s) if s.code() == tonic::Code::InvalidArgument => {
            discard(state, key).await;
            Err(IdentityError::UnreadableAudio(s.message().to_string()))
        }
        Err(s) => {
            tracing::warn!(status = %s, "render probe failed");
            Err(IdentityError::ProbeUnavailable(s.message().to_string()))
        }
    }
}

/// Seconds of speech in the recording, through render's speech detection;
/// a recording without enough is refused (and deleted).
async fn check_speech(state: &State, key: &str) -> Result<f64, IdentityError> {
    let mut req = state.ctx.auth.internal(DetectSpeechRequest {
        media: Some(MediaRef {
            location: Some(Location::BlobKey(key.to_string())),
        }),
    });
    req.set_timeout(Duration::from_secs(30));
    let mut render = state.render.clone();
    let heard = match render.detect_speech(req).await {
        Ok(resp) => resp.into_inner(),
        Err(s) if s.code() == tonic::Code::InvalidArgument => {
            discard(state, key).await;
            return Err(IdentityError::UnreadableAudio(s.message().to_string()));
        }
        Err(s) => {
            tracing::warn!(status = %s, "render speech detection failed");
            return Err(IdentityError::ProbeUnavailable(s.message().to_string()));
        }
    };
    if heard.speech_seconds < MIN_SPEECH_SECONDS || heard.bursts < MIN_SPEECH_BURSTS {
        discard(state, key).await;
        return Err(IdentityError::NotSpeech {
            speech: heard.speech_seconds,
            seconds: heard.duration_seconds,
            bursts: heard.bursts,
            min_speech: MIN_SPEECH_SECONDS,
        });
    }
    Ok(heard.speech_seconds)
}

/// The caller's samples, newest first.
pub async fn list(state: &State, user_id: i64) -> Result<Vec<SampleRow>, IdentityError> {
    Ok(state.db.run(move |c| store::samples_of(c, user_id)).await?)
}

/// One of a user's samples.
pub async fn get(state: &State, user_id: i64, sample_id: i64) -> Result<SampleRow, IdentityError> {
    state
        .db
        .run(move |c| store::sample_of(c, user_id, sample_id))
        .await?
        .ok_or_else(|| IdentityError::NotFound(format!("voice sample {sample_id}")))
}

/// Records how a clone job ended: the cloned voice, or the vendor's error.
/// Returns false when this report had already been applied.
pub async fn report_clone(
    state: &State,
    r: ReportVoiceCloneRequest,
) -> Result<bool, IdentityError> {
    if r.job_id.is_empty() {
        return Err(IdentityError::invalid("job_id", "required"));
    }
    let sample_id = r.sample_id;
    let exists = state
        .db
        .run(move |c| store::sample_by_id(c, sample_id))
        .await?
        .is_some();
    if !exists {
        return Err(IdentityError::NotFound(format!("voice sample {sample_id}")));
    }
    let (voice_id, error) = if r.error_message.is_empty() {
        if r.clone_voice_id.is_empty() {
            return Err(IdentityError::invalid(
                "clone_voice_id",
                "required when error_message is empty",
            ));
        }
        (Some(r.clone_voice_id), None)
    } else {
        (None, Some(r.error_message))
    };
    let job = r.job_id;
    Ok(state
        .db
        .run(move |c| {
            store::finish_clone(c, sample_id, &job, voice_id.as_deref(), error.as_deref())
        })
        .await?)
}

/// Deletes one of the caller's samples and its audio.
pub async fn delete(state: &State, user_id: i64, sample_id: i64) -> Result<(), IdentityError> {
    let row = state
        .db
        .run(move |c| store::sample_of(c, user_id, sample_id))
        .await?
        .ok_or_else(|| IdentityError::NotFound(format!("voice sample {sample_id}")))?;
    state
        .db
        .run(move |c| store::delete_sample(c, user_id, sample_id))
        .await?;
    discard(state, &row.oss_key).await;
    Ok(())
}

/// The API form of a row.
pub fn to_proto(row: &SampleRow) -> VoiceSample {
    let status = match row.status.as_str() {
        "uploading" => VoiceSampleStatus::Uploading,
        "processing" => VoiceSampleStatus::Processing,
        "completed" => VoiceSampleStatus::Completed,
        "failed" => VoiceSampleStatus::Failed,
        _ => VoiceSampleStatus::Unspecified,
    };
    VoiceSample {
        id: row.id,
        name: row.name.clone(),
        duration_seconds: row.duration_seconds,
        status: status as i32,
        clone_voice_id: row.clone_voice_id.clone().unwrap_or_default(),
        error_message: row.error_message.clone().unwrap_or_default(),
        created_at: Some(scout_common::proto_json::timestamp(row.created_at)),
        consented_at: row.consented_at.map(scout_common::proto_json::timestamp),
        speech_seconds: row.speech_seconds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_audio_types_are_accepted() {
        assert_eq!(extension_for("audio/mpeg"), Some("mp3"));
        assert_eq!(extension_for("Audio/WAV; codecs=1"), Some("wav"));
        assert_eq!(extension_for("video/mp4"), None);
        assert_eq!(extension_for("application/octet-stream"), None);
    }

    #[test]
    fn names_are_kept_verbatim_or_refused_naming_the_field() {
        for keep in ["店长的声音 🎙️", "صوتي", "'); DROP TABLE voice_samples;--"] {
            assert_eq!(check_name(keep).expect(keep), keep);
        }
        let long = "x".repeat(10_000);
        let e = scout_common::ApiError::from(check_name(&long).expect_err("too long"));
        assert_eq!(e.metadata.get("field").map(String::as_str), Some("name"));
    }
}
