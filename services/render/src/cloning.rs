//! The voice-clone worker: consumes the clone jobs identity queues when a
//! user confirms a voice sample, trains a speaker from the recording with
//! the clone provider (Seed-ICL) and reports the speaker id, or why not,
//! to identity, which records it on the sample (processing → completed /
//! failed). Seed 000's policy: three retries at 60, 120 and 300 s
//! (`bus.clone_retry_delays`), then the dead-letter topic with the sample
//! failed and the last cause shown. At least once: a job is committed only
//! after identity has the result; a redelivered job asks the vendor for the
//! speaker's state before uploading, so nothing is trained twice.

use std::sync::Arc;

use async_trait::async_trait;
use prost::Message as _;
use scout_common::ErrorCode;
use scout_common::adapters::blob::{BlobError, BlobStore};
use scout_common::auth::{InternalChannel, MeshAuth};
use scout_common::jobs::{Job, JobError, JobHandler};
use scout_proto::scout::identity::v1::ReportVoiceCloneRequest;
use scout_proto::scout::identity::v1::identity_internal_service_client::IdentityInternalServiceClient;
use scout_proto::scout::jobs::v1::VoiceCloneJob;

use crate::store::Scratch;
use crate::voice::{CloneError, VoiceCloner};

/// Longest failure message identity stores.
const MAX_MESSAGE_CHARS: usize = 500;

/// Handles voice-clone jobs.
pub struct CloneWorker {
    cloner: Option<Arc<dyn VoiceCloner>>,
    store: Arc<dyn BlobStore>,
    work_dir: std::path::PathBuf,
    speaker_prefix: String,
    identity: IdentityInternalServiceClient<InternalChannel>,
}

/// The vendor's name for a sample's speaker: starts with a letter, letters
/// and digits only (the vendor's rule), unique per deployment (`prefix`),
/// user and sample, and the same on every delivery of the job.
pub fn speaker_id(prefix: &str, user_id: i64, sample_id: i64) -> String {
    let clean: String = prefix.chars().filter(char::is_ascii_alphanumeric).collect();
    let clean = if clean.starts_with(|c: char| c.is_ascii_alphabetic()) {
        clean
    } else {
        format!("scout{clean}")
    };
    format!("{clean}u{user_id}s{sample_id}")
}

fn to_job_error(e: CloneError) -> JobError {
    let message = e.to_string();
    if e.is_transient() {
        JobError::retryable(e.code(), message)
    } else {
        JobError::permanent(e.code(), message)
    }
}

impl CloneWorker {
    /// A worker training with `cloner` (none: every job fails, saying the
    /// node cannot clone) and reporting to identity at `identity_url`.
    pub fn new(
        cloner: Option<Arc<dyn VoiceCloner>>,
        store: Arc<dyn BlobStore>,
        work_dir: std::path::PathBuf,
        speaker_prefix: &str,
        auth: &MeshAuth,
        identity_url: &str,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            cloner,
            store,
            work_dir,
            speaker_prefix: speaker_prefix.to_string(),
            identity: IdentityInternalServiceClient::new(
                auth.internal_channel(scout_common::grpc::channel(identity_url)?),
            ),
        })
    }

    /// The recording as 48 kHz mono 16-bit WAV, whatever it was uploaded
    /// as (browsers record WebM, phones M4A; the vendor takes WAV).
    async fn wav(&self, key: &str) -> Result<Vec<u8>, JobError> {
        let bytes = self.store.get(key).await.map_err(|e| match e {
            BlobError::NotFound(_) => JobError::permanent(
                ErrorCode::NotFound,
                "the recording is no longer stored (the sample was deleted)",
            ),
            other => JobError::retryable(
                ErrorCode::StorageUnavailable,
                format!("cannot read the recording: {other}"),
            ),
        })?;
        let scratch = Scratch::new(&self.work_dir)
            .map_err(|e| JobError::retryable(ErrorCode::Internal, e.to_string()))?;
        let ext = key.rsplit('.').next().unwrap_or("audio").to_string();
        let (src, out) = (
            scratch.path().join(format!("sample.{ext}")),
            scratch.path().join("sample.wav"),
        );
        let wav = crate::runtime::blocking(move || {
            std::fs::write(&src, &bytes)
                .map_err(|e| crate::RenderError::Io(format!("scratch: {e}")))?;
            let samples = crate::media::audio::decode_mono(&src, "the voice sample")?;
            crate::media::audio::write_wav(&out, &samples)?;
            std::fs::read(&out).map_err(|e| crate::RenderError::Io(format!("scratch: {e}")))
        })
        .await
        .map_err(|e| match e {
            crate::RenderError::InvalidMedia { .. } => {
                JobError::permanent(ErrorCode::InvalidMedia, e.to_string())
            }
            other => JobError::retryable(ErrorCode::Internal, other.to_string()),
        });
        drop(scratch);
        wav
    }

    /// Tells identity how the job ended; an error keeps the job uncommitted.
    async fn report(
        &self,
        job: &VoiceCloneJob,
        voice_id: &str,
        error: &str,
    ) -> Result<(), JobError> {
        let mut req = tonic::Request::new(ReportVoiceCloneRequest {
            job_id: job.job_id.clone(),
            sample_id: job.sample_id,
            clone_voice_id: voice_id.to_string(),
            error_message: error.chars().take(MAX_MESSAGE_CHARS).collect(),
        });
        req.set_timeout(std::time::Duration::from_secs(10));
        let mut identity = self.identity.clone();
        match identity.report_voice_clone(req).await {
            Ok(r) => {
                if !r.into_inner().applied {
                    tracing::info!(sample_id = job.sample_id, job_id = %job.job_id, "clone result already recorded");
                }
                Ok(())
            }
            // The sample was deleted meanwhile: nothing left to record.
            Err(s) if s.code() == tonic::Code::NotFound => Ok(()),
            Err(s) => Err(JobError::retryable(
                ErrorCode::ServiceUnavailable,
                format!("identity did not take the clone result: {}", s.message()),
            )),
        }
    }
}

fn decode(job: &Job) -> Result<VoiceCloneJob, JobError> {
    VoiceCloneJob::decode(job.payload.clone()).map_err(|e| {
        JobError::permanent(
            ErrorCode::InvalidArgument,
            format!("undecodable voice-clone job: {e}"),
        )
    })
}

#[async_trait]
impl JobHandler for CloneWorker {
    async fn handle(&self, job: &Job) -> Result<(), JobError> {
        let cj = decode(job)?;
        let Some(cloner) = &self.cloner else {
            return Err(JobError::permanent(
                ErrorCode::FailedPrecondition,
                "this deployment speaks with espeak-ng, which cannot clone voices; \
                 voice cloning needs voice.provider = \"seed-tts\"",
            ));
        };
        tracing::info!(sample_id = cj.sample_id, user_id = cj.user_id, job_id = %cj.job_id, attempt = job.attempt, "voice-clone job started");
        let wav = self.wav(&cj.sample_key).await?;
        let speaker = speaker_id(&self.speaker_prefix, cj.user_id, cj.sample_id);
        let voice_id = cloner
            .clone_voice(&speaker, &wav, "wav")
            .await
            .map_err(to_job_error)?;
        tracing::info!(sample_id = cj.sample_id, speaker = %voice_id, provider = cloner.name(), "voice cloned");
        self.report(&cj, &voice_id, "").await
    }

    async fn on_retry(&self, job: &Job, error: &JobError, delay: std::time::Duration) {
        tracing::warn!(attempt = job.attempt, error = %error, delay_s = delay.as_secs(), "voice-clone attempt failed; retrying");
    }

    async fn on_dead_letter(&self, job: &Job, error: &JobError) -> Result<(), JobError> {
        // An undecodable payload names no sample: nothing to report.
        let Ok(cj) = decode(job) else { return Ok(()) };
        let why = if job.attempt > 1 {
            format!("{} (after {} attempts)", error.message, job.attempt)
        } else {
            error.message.clone()
        };
        self.report(&cj, "", &why).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speaker_ids_follow_the_vendors_rule() {
        assert_eq!(speaker_id("scout", 7, 42), "scoutu7s42");
        assert_eq!(speaker_id("prod-cn_1", 1, 2), "prodcn1u1s2");
        assert_eq!(speaker_id("", 1, 2), "scoutu1s2");
        assert_eq!(speaker_id("9x", 1, 2), "scout9xu1s2");
        for id in [speaker_id("scout", 1, 1), speaker_id("", 1, 1)] {
            assert!(id.len() >= 8, "{id}");
            assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
        }
    }
}
