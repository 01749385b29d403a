//! The compose worker: consumes compose jobs from the bus, speaks each
//! paragraph, renders the narrated timeline under `output/{task}/` and
//! reports the result to tasks. At least once: the job is committed only
//! after tasks has the result; a redelivered job renders again to the same
//! keys (exactly one `final.mp4` per task) and its repeated report changes
//! nothing. Progress goes to tasks as it happens.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::StreamExt as _;
use prost::Message as _;
use scout_common::ErrorCode;
use scout_common::adapters::blob::{BlobStore, PresignOptions};
use scout_common::auth::MeshAuth;
use scout_common::jobs::{Job, JobError, JobHandler};
use scout_common::report::TaskReporter;
use scout_proto::scout::common::v1::{ShotCategory, SubtitleStyle};
use scout_proto::scout::jobs::v1::{BackgroundMusic, ComposeJob, Montage};
use scout_proto::scout::render::v1::compose_response::Event;
use scout_proto::scout::render::v1::media_ref::Location;
use scout_proto::scout::render::v1::{ComposeRequest, MediaRef, MusicTrack, Timeline};
use scout_proto::scout::render::v1::{ShortSourcePolicy, segment};
use scout_proto::scout::tasks::v1::{
    ComposeOutput, JobUsage, ReportComposeResultRequest, ReportProgressRequest, SceneCounts,
    ShotUsed, WorkStep,
};

use crate::compose::Composer;
use crate::compose::montage;
use crate::compose::narration::{self, PARAGRAPH_GAP};
use crate::generative::{GenError, VideoGenerator};
use crate::store::Scratch;
use crate::voice::VoiceProvider;

/// A paragraph's speech as kept next to its WAV (`{key}.json`).
#[derive(serde::Serialize, serde::Deserialize)]
struct KeptSpeech {
    seconds: f64,
    words: Vec<crate::voice::align::Word>,
}

/// Where a paragraph's speech is kept: under the task, named by a hash of
/// the provider, the voice and the words (no extension).
fn speech_key(
    task_id: i64,
    provider: &str,
    voice: &scout_proto::scout::render::v1::VoiceSpec,
    text: &str,
) -> String {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    for part in [
        provider,
        &voice.voice,
        if voice.cloned { "cloned" } else { "standard" },
        &format!("{:.3}", if voice.speed > 0.0 { voice.speed } else { 1.0 }),
        &voice.language,
        text.trim(),
    ] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    format!("audio/{task_id}/tts_{}", &hex::encode(h.finalize())[..32])
}

/// Handles compose jobs.
pub struct ComposeWorker {
    voice: Arc<dyn VoiceProvider>,
    composer: Composer,
    store: Arc<dyn BlobStore>,
    work_dir: std::path::PathBuf,
    reporter: TaskReporter,
    /// Makes a montage's images move, when configured.
    generator: Option<Arc<dyn VideoGenerator>>,
}

impl ComposeWorker {
    /// A worker reporting to the tasks service at `tasks_url`.
    pub fn new(
        voice: Arc<dyn VoiceProvider>,
        composer: Composer,
        store: Arc<dyn BlobStore>,
        work_dir: std::path::PathBuf,
        auth: MeshAuth,
        tasks_url: &str,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            voice,
            composer,
            store,
            work_dir,
            reporter: TaskReporter::new(&auth, tasks_url)?,
            generator: None,
        })
    }

    /// The worker making a montage's images move with `generator`.
    pub fn with_generator(mut self, generator: Option<Box<dyn VideoGenerator>>) -> Self {
        self.generator = generator.map(Arc::from);
        self
    }

    /// Each image of an animated montage as a moving clip (seed 004's
    /// scenes): every scene its own prediction, two at a time, each clip
    /// kept under `clips/{task}/animated-{hash}.mp4` (by image, model and
    /// prompt), so a retry makes only the scenes still missing; the compose
    /// waits for all of them. A scene that fails for good fails the job
    /// naming it; a throttled or slow one is retried with the job.
    async fn animated(&self, cj: &ComposeJob, m: &Montage) -> Result<Vec<MediaRef>, JobError> {
        let generator = self.generator.clone().ok_or_else(|| {
            JobError::permanent(
                ErrorCode::FailedPrecondition,
                "this montage asks for moving images, but no generative video provider is configured on the render nodes (generative.provider)",
            )
        })?;
        let total = m.images.len();
        self.reporter
            .progress(cj, WorkStep::GenerateVisuals, 0.0, 0)
            .await;
        let scenes: Vec<(usize, String)> = m
            .images
            .iter()
            .enumerate()
            .filter_map(|(i, r)| match &r.location {
                Some(Location::BlobKey(k)) => Some((i, k.clone())),
                _ => None,
            })
            .collect();
        if scenes.len() != total {
            return Err(JobError::permanent(
                ErrorCode::InvalidArgument,
                "an animated montage's images must be stored objects",
            ));
        }
        let (store, task_id, prompt) = (self.store.clone(), cj.task_id, m.prompt.clone());
        let mut made = futures::stream::iter(scenes.into_iter().map(move |(i, image)| {
            let (store, generator, prompt) = (store.clone(), generator.clone(), prompt.clone());
            async move {
                let model = generator.name();
                let key = clip_key(
                    task_id,
                    "animated",
                    &[image.as_bytes(), model.as_bytes(), prompt.as_bytes()],
                );
                (
                    i,
                    animate_scene(store.as_ref(), generator.as_ref(), &image, &key, &prompt)
                        .await
                        .map(|_| key),
                )
            }
        }))
        .buffer_unordered(2);
        let mut clips: Vec<Option<MediaRef>> = vec![None; total];
        let mut counts = SceneCounts {
            total: total as i32,
            ..SceneCounts::default()
        };
        // Half the step when the clips are lip-synced after.
        let share = (0.0, if m.lip_sync { 0.5 } else { 1.0 });
        let mut failed = None;
        while let Some((i, clip)) = made.next().await {
            match clip {
                Ok(key) => {
                    clips[i] = Some(blob(&key));
                    counts.done += 1;
                }
                Err(e) => {
                    tracing::warn!(task_id, scene = i + 1, error = %e, "scene not animated");
                    counts.failed += 1;
                    failed.get_or_insert(e);
                }
            }
            self.reporter
                .scenes(cj, WorkStep::GenerateVisuals, share, counts)
                .await;
        }
        if let Some(e) = failed {
            return Err(e);
        }
        Ok(clips.into_iter().flatten().collect())
    }

    /// A narrated video's timeline: every paragraph spoken (speech kept per
    /// task, so a re-compose speaks only what changed), over its shot.
    async fn narrated_timeline(
        &self,
        cj: &ComposeJob,
        started: Instant,
    ) -> Result<(Timeline, Vec<ShotUsed>, JobUsage), JobError> {
        if cj.narration.is_empty() {
            return Err(JobError::permanent(
                ErrorCode::FailedPrecondition,
                "the script has no paragraphs",
            ));
        }
        self.reporter
            .progress(cj, WorkStep::SynthesizeSpeech, 0.0, 0)
            .await;

        // 1. Speech, one file per paragraph under audio/{task}/.
        let voice = cj.voice.clone().unwrap_or_default();
        let scratch = Scratch::new(&self.work_dir)
            .map_err(|e| JobError::retryable(ErrorCode::Internal, e.to_string()))?;
        let mut paragraphs = Vec::with_capacity(cj.narration.len());
        let mut usage = JobUsage::default();
        let mut reused = 0;
        for (i, n) in cj.narration.iter().enumerate() {
            // Speech is content-addressed by everything that goes into it:
            // an unchanged paragraph of a re-compose is not spoken again.
            let mut key = speech_key(cj.task_id, self.voice.name(), &voice, &n.text);
            let (seconds, words) = match self.kept_speech(&key).await {
                Some(kept) => {
                    reused += 1;
                    (kept.seconds, kept.words)
                }
                None => {
                    let speech = self.voice.synthesize(&n.text, &voice).await.map_err(|e| {
                        let message = format!("speech for {}: {e}", n.paragraph_id);
                        let code = scout_common::ApiError::from(e.clone()).code;
                        if e.is_transient() {
                            JobError::retryable(code, message)
                        } else {
                            JobError::permanent(code, message)
                        }
                    })?;
                    let spoken = n.text.trim().chars().count() as i64;
                    if speech.provider.starts_with("espeak") {
                        usage.local_tts_characters += spoken;
                    } else {
                        usage.tts_characters += spoken;
                    }
                    let wav = scratch.path().join(format!("tts_{i}.wav"));
                    let text = n.text.clone();
                    let (speech, words) = crate::runtime::blocking(move || {
                        let words = speech.word_times(&text);
                        Ok((speech, words))
                    })
                    .await
                    .map_err(|e| JobError::retryable(ErrorCode::Internal, e.to_string()))?;
                    let (samples, path) = (speech.samples, wav.clone());
                    crate::runtime::blocking(move || {
                        crate::media::audio::write_wav(&path, &samples)
                    })
                    .await
                    .map_err(|e| JobError::retryable(ErrorCode::Internal, e.to_string()))?;
                    let kept = KeptSpeech {
                        seconds: speech.duration,
                        words,
                    };
                    // Spoken by the fallback (the remote voice failing):
                    // kept under the fallback's own key, so the next
                    // compose asks the configured voice again.
                    if speech.provider != self.voice.name() {
                        key = speech_key(cj.task_id, &speech.provider, &voice, &n.text);
                    }
                    self.keep_speech(&key, &wav, &kept).await?;
                    (kept.seconds, kept.words)
                }
            };
            paragraphs.push(narration::Paragraph {
                id: n.paragraph_id.clone(),
                clip: blob(&n.shot_key),
                voice: blob(&format!("{key}.wav")),
                voice_seconds: seconds,
                text: n.text.clone(),
                words,
                fit: narration::Paragraph::fit_for(
                    ShotCategory::try_from(n.shot_category).unwrap_or(ShotCategory::Unspecified),
                    &n.focus,
                ),
                focus: n.focus.clone(),
                scene: n.scene.clone(),
                still: n.still,
            });
            let done = (i + 1) as f64 / cj.narration.len() as f64;
            self.reporter
                .progress(cj, WorkStep::SynthesizeSpeech, done, 0)
                .await;
        }
        drop(scratch);
        tracing::info!(
            task_id = cj.task_id,
            seconds = started.elapsed().as_secs_f64(),
            "compose speech ready"
        );
        if reused > 0 {
            tracing::info!(
                task_id = cj.task_id,
                reused,
                spoken = cj.narration.len() - reused,
                "unchanged paragraphs' speech reused"
            );
        }

        // 2. The narrated timeline.
        let style = cj.subtitles_enabled.then(|| {
            SubtitleStyle::try_from(cj.subtitle_style).unwrap_or(SubtitleStyle::SimpleWhite)
        });
        let music = match &cj.music {
            Some(m) => Some(self.music_bed(m).await?),
            None => None,
        };
        let mut timeline = narration::timeline(&paragraphs, style, music, cj.output.clone());
        timeline.aigc = cj.aigc.clone();
        timeline.title = cj.title.clone();
        timeline.branding = cj.branding.clone();
        if let Some(t) = &cj.transition {
            narration::transitions(&mut timeline, t);
        }
        let shots_used = paragraphs
            .iter()
            .zip(&cj.narration)
            .map(|(p, n)| ShotUsed {
                id: n.shot_id,
                duration_seconds: p.voice_seconds + PARAGRAPH_GAP,
                ..ShotUsed::default()
            })
            .collect();
        Ok((timeline, shots_used, usage))
    }

    /// The music under a narrated video: the task's track, quieter, or
    /// render's own bed (made once per blob store and kept); both lowered
    /// while the voice speaks.
    async fn music_bed(&self, m: &BackgroundMusic) -> Result<MusicTrack, JobError> {
        let (media, volume) = match &m.track {
            Some(track) => (track.clone(), 0.25),
            None => {
                let key = crate::media::bed::KEY;
                if !matches!(self.store.head(key).await, Ok(Some(_))) {
                    let bytes = tokio::task::spawn_blocking(|| {
                        crate::media::audio::wav_bytes(&crate::media::bed::samples())
                    })
                    .await
                    .map_err(|e| JobError::retryable(ErrorCode::Internal, e.to_string()))?;
                    self.store
                        .put(key, bytes.into(), Some("audio/wav"))
                        .await
                        .map_err(|e| {
                            JobError::retryable(
                                ErrorCode::StorageUnavailable,
                                format!("storing the music bed: {e}"),
                            )
                        })?;
                }
                (blob(key), 0.6)
            }
        };
        Ok(MusicTrack {
            media: Some(media),
            volume,
            duck_under_voice: true,
            fade_seconds: 1.0,
        })
    }

    /// A music video's or ad creative's timeline: the backing track's
    /// beats found, the images cut to them.
    async fn montage_timeline(
        &self,
        cj: &ComposeJob,
        m: &Montage,
    ) -> Result<(Timeline, Vec<ShotUsed>, JobUsage), JobError> {
        tracing::info!(task_id = cj.task_id, job_id = %cj.job_id, images = m.images.len(), "montage compose started");
        if m.images.is_empty() {
            return Err(JobError::permanent(
                ErrorCode::FailedPrecondition,
                "the montage has no images",
            ));
        }
        self.reporter
            .progress(cj, WorkStep::DetectBeats, 0.0, 0)
            .await;
        let scratch = Scratch::new(&self.work_dir)
            .map_err(|e| JobError::retryable(ErrorCode::Internal, e.to_string()))?;
        let source = crate::store::MediaSource::blobs(self.store.clone());
        let (path, name) = source
            .fetch(m.track.as_ref(), scratch.path())
            .await
            .map_err(|e| JobError::from_status(&tonic::Status::from(e), "backing track"))?;
        let target = m.target_seconds;
        let found = crate::runtime::blocking(move || {
            let info = crate::media::probe::probe(&path, &name)?;
            let track = info.duration_seconds;
            // Only what the video plays of the track is listened to.
            let listen = crate::compose::montage::length(target, track).min(track) + 1.0;
            let mut reader = crate::media::audio::PcmReader::open(&path, &name, 0.0, 1)?;
            let mut samples = Vec::new();
            reader.read(
                &mut samples,
                (listen * f64::from(crate::media::audio::SAMPLE_RATE)) as usize,
            )?;
            let beats = crate::media::beats::detect(&samples, crate::media::audio::SAMPLE_RATE);
            Ok((track, beats, samples))
        })
        .await;
        drop(scratch);
        let (track, beats, samples) =
            found.map_err(|e| JobError::from_status(&tonic::Status::from(e), "backing track"))?;
        tracing::info!(
            task_id = cj.task_id,
            track_seconds = track,
            bpm = beats.bpm,
            beats = beats.times.len(),
            "backing track's beats found"
        );
        self.reporter
            .progress(cj, WorkStep::DetectBeats, 1.0, 0)
            .await;
        let style = cj.subtitles_enabled.then(|| {
            SubtitleStyle::try_from(cj.subtitle_style).unwrap_or(SubtitleStyle::SimpleWhite)
        });
        let mut timeline = montage::timeline(m, track, &beats.times, style, cj.output.clone());
        // Every scene's clip made (and lip-synced) before the compose:
        // it waits for all (seed 004).
        if m.animate {
            let clips = self.animated(cj, m).await?;
            montage::with_clips(&mut timeline, &m.images, &clips);
            if m.lip_sync {
                self.lip_synced(cj, &mut timeline, &samples, track).await?;
            }
        }
        timeline.title = cj.title.clone();
        montage::with_brand(&mut timeline, cj.branding.clone());
        if let Some(t) = &cj.transition {
            narration::transitions(&mut timeline, t);
        }
        Ok((timeline, Vec::new(), JobUsage::default()))
    }

    /// Speech kept under `key` by an earlier compose, when both its WAV and
    /// its record are there and readable.
    async fn kept_speech(&self, key: &str) -> Option<KeptSpeech> {
        let record = self.store.get(&format!("{key}.json")).await.ok()?;
        let kept: KeptSpeech = serde_json::from_slice(&record).ok()?;
        self.store
            .head(&format!("{key}.wav"))
            .await
            .ok()
            .flatten()
            .map(|_| kept)
    }

    /// Keeps fresh speech: the WAV first, then its record (a record always
    /// has its WAV).
    async fn keep_speech(
        &self,
        key: &str,
        wav: &std::path::Path,
        kept: &KeptSpeech,
    ) -> Result<(), JobError> {
        let failed = |e: scout_common::adapters::blob::BlobError| {
            JobError::retryable(
                ErrorCode::StorageUnavailable,
                format!("cannot store speech: {e}"),
            )
        };
        self.store
            .put_file(&format!("{key}.wav"), wav, Some("audio/wav"))
            .await
            .map_err(failed)?;
        let record = serde_json::to_vec(kept)
            .map_err(|e| JobError::retryable(ErrorCode::Internal, e.to_string()))?;
        self.store
            .put(
                &format!("{key}.json"),
                record.into(),
                Some("application/json"),
            )
            .await
            .map_err(failed)
    }
}

/// Where compose's own progress falls in the job's steps: preparing (the
/// subtitles are written then), encoding, packaging.
fn compose_step(phase: &str, percent: i32) -> (WorkStep, f64) {
    let p = f64::from(percent.clamp(0, 100));
    match phase {
        "prepare" => (WorkStep::WriteSubtitles, p / 3.0),
        "package" => (WorkStep::StoreOutputs, (p - 96.0) / 4.0),
        _ => (WorkStep::RenderVideo, (p - 3.0) / 92.0),
    }
}

impl ComposeWorker {
    /// Each scene of an animated montage lip-synced to the part of the
    /// track it plays over (seed 004's needsLipSync): the scene's slice of
    /// the track (looped as the mix loops it) stored as a WAV, the clip and
    /// the slice given to the lipsync model by presigned URL, the result
    /// kept under `clips/{task}/lipsynced-{hash}.mp4` (by clip and slice)
    /// and played in the scene's place; two at a time, as the animation.
    async fn lip_synced(
        &self,
        cj: &ComposeJob,
        timeline: &mut Timeline,
        samples: &[f32],
        track_seconds: f64,
    ) -> Result<(), JobError> {
        let generator = self.generator.clone().ok_or_else(|| {
            JobError::permanent(
                ErrorCode::FailedPrecondition,
                "no generative video provider is configured on the render nodes (generative.provider)",
            )
        })?;
        let rate = f64::from(crate::media::audio::SAMPLE_RATE);
        let mut work = Vec::new();
        let mut at = 0.0;
        for (i, s) in timeline.segments.iter().enumerate() {
            if let Some(segment::Source::Clip(c)) = &s.source
                && let Some(Location::BlobKey(clip)) =
                    c.media.as_ref().and_then(|m| m.location.clone())
            {
                let slice =
                    montage::track_slice(samples, rate, track_seconds, at, s.duration_seconds);
                work.push((i, clip, slice));
            }
            at += s.duration_seconds;
        }
        let total = work.len();
        let (store, task_id) = (self.store.clone(), cj.task_id);
        let mut made = futures::stream::iter(work.into_iter().map(move |(i, clip, slice)| {
            let (store, generator) = (store.clone(), generator.clone());
            async move {
                let wav = crate::media::audio::wav_bytes(&slice);
                let model = generator.name();
                let key = clip_key(
                    task_id,
                    "lipsynced",
                    &[clip.as_bytes(), &wav, b"lipsync", model.as_bytes()],
                );
                let made =
                    lipsync_scene(store.as_ref(), generator.as_ref(), &clip, &wav, &key).await;
                (i, made.map(|_| key))
            }
        }))
        .buffer_unordered(2);
        let mut counts = SceneCounts {
            total: total as i32,
            ..SceneCounts::default()
        };
        let mut failed = None;
        while let Some((i, synced)) = made.next().await {
            match synced {
                Ok(key) => {
                    counts.done += 1;
                    if let Some(s) = timeline.segments.get_mut(i)
                        && let Some(segment::Source::Clip(c)) = s.source.as_mut()
                    {
                        c.media = Some(blob(&key));
                        s.short_source = ShortSourcePolicy::Hold as i32;
                    }
                }
                Err(e) => {
                    tracing::warn!(task_id, segment = i, error = %e, "scene not lip-synced");
                    counts.failed += 1;
                    failed.get_or_insert(e);
                }
            }
            self.reporter
                .scenes(cj, WorkStep::GenerateVisuals, (0.5, 1.0), counts)
                .await;
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// One scene's lip-synced clip at `key`: kept from before, or made from
/// `clip` and the sound `wav` (stored beside it) and stored.
async fn lipsync_scene(
    store: &dyn BlobStore,
    generator: &dyn VideoGenerator,
    clip: &str,
    wav: &[u8],
    key: &str,
) -> Result<(), JobError> {
    if matches!(store.head(key).await, Ok(Some(_))) {
        return Ok(());
    }
    let storage = |e: scout_common::adapters::blob::BlobError| {
        JobError::retryable(ErrorCode::StorageUnavailable, e.to_string())
    };
    let audio = key
        .replace("lipsynced-", "lipsync-audio-")
        .replace(".mp4", ".wav");
    store
        .put(&audio, wav.to_vec().into(), Some("audio/wav"))
        .await
        .map_err(storage)?;
    let expires = || PresignOptions::expires_in(Duration::from_secs(3600));
    let video_url = store.presign_get(clip, expires()).await.map_err(storage)?;
    let audio_url = store
        .presign_get(&audio, expires())
        .await
        .map_err(storage)?;
    let bytes = generator
        .lipsync(&video_url.url, &audio_url.url)
        .await
        .map_err(|e| generation_failed(&e, format!("lip sync for {clip}: {e}")))?;
    store
        .put(key, bytes.into(), Some("video/mp4"))
        .await
        .map_err(storage)?;
    Ok(())
}

/// Where a made clip is kept: `clips/{task}/{kind}-{hash}.mp4`, by all
/// that makes it (the image or clip, the sound, the model, the prompt), so
/// a retry finds what an earlier attempt made.
fn clip_key(task_id: i64, kind: &str, parts: &[&[u8]]) -> String {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    for part in parts {
        h.update(part);
        h.update([0u8]);
    }
    format!(
        "clips/{task_id}/{kind}-{}.mp4",
        &hex::encode(h.finalize())[..32]
    )
}

/// A generative provider's failure as a job error: throttling, outages
/// and slow predictions are retried with the job; refusals are final.
fn generation_failed(e: &GenError, message: String) -> JobError {
    if e.is_transient() {
        JobError::retryable(ErrorCode::ProviderFailed, message)
    } else {
        JobError::permanent(ErrorCode::ProviderFailed, message)
    }
}

/// One scene's clip at `key`: kept from before, or made from `image` (a
/// presigned URL the provider fetches) and stored.
async fn animate_scene(
    store: &dyn BlobStore,
    generator: &dyn VideoGenerator,
    image: &str,
    key: &str,
    prompt: &str,
) -> Result<(), JobError> {
    if matches!(store.head(key).await, Ok(Some(_))) {
        return Ok(());
    }
    let url = store
        .presign_get(image, PresignOptions::expires_in(Duration::from_secs(3600)))
        .await
        .map_err(|e| JobError::retryable(ErrorCode::StorageUnavailable, e.to_string()))?;
    let bytes = generator
        .animate(&url.url, prompt, 5.0)
        .await
        .map_err(|e| generation_failed(&e, format!("moving image for {image}: {e}")))?;
    store
        .put(key, bytes.into(), Some("video/mp4"))
        .await
        .map_err(|e| JobError::retryable(ErrorCode::StorageUnavailable, e.to_string()))?;
    Ok(())
}

fn blob(key: &str) -> MediaRef {
    MediaRef {
        location: Some(Location::BlobKey(key.to_string())),
    }
}

#[async_trait]
impl JobHandler for ComposeWorker {
    async fn handle(&self, job: &Job) -> Result<(), JobError> {
        let cj = ComposeJob::decode(job.payload.clone()).map_err(|e| {
            JobError::permanent(
                ErrorCode::InvalidArgument,
                format!("undecodable compose job: {e}"),
            )
        })?;
        if crate::media::faults::compose_fails() {
            return Err(JobError::retryable(
                ErrorCode::Internal,
                "injected compose failure (faults.compose_fail_attempts)",
            ));
        }
        let started = Instant::now();
        tracing::info!(task_id = cj.task_id, job_id = %cj.job_id, attempt = job.attempt, paragraphs = cj.narration.len(), montage = cj.montage.is_some(), "compose job started");
        let (timeline, shots_used, usage) = match &cj.montage {
            Some(m) => self.montage_timeline(&cj, m).await?,
            None => self.narrated_timeline(&cj, started).await?,
        };
        self.reporter
            .progress(&cj, WorkStep::WriteSubtitles, 0.0, 0)
            .await;
        let mut stream = self
            .composer
            .start(ComposeRequest {
                job_id: cj.job_id.clone(),
                timeline: Some(timeline),
                output_prefix: format!("output/{}/", cj.task_id),
            })
            .map_err(|e| JobError::from_status(&tonic::Status::from(e), "compose"))?;
        let mut result = None;
        let mut last_reported = -10;
        // Once there is a preview, every report names it.
        let mut preview_key = String::new();
        while let Some(msg) = stream.next().await {
            match msg.map_err(|s| JobError::from_status(&s, "compose"))?.event {
                // Every 5 % of compose's own progress is enough to show.
                Some(Event::Progress(p))
                    if p.percent - last_reported >= 5
                        || p.phase == "package"
                        || !p.preview_key.is_empty() =>
                {
                    last_reported = p.percent;
                    if !p.preview_key.is_empty() {
                        tracing::info!(task_id = cj.task_id, key = %p.preview_key, seconds = started.elapsed().as_secs_f64(), "compose preview ready");
                        preview_key = p.preview_key;
                    }
                    let (step, fraction) = compose_step(&p.phase, p.percent);
                    self.reporter
                        .report_progress(
                            &cj,
                            ReportProgressRequest {
                                step: step as i32,
                                fraction,
                                preview_key: preview_key.clone(),
                                ..ReportProgressRequest::default()
                            },
                        )
                        .await;
                }
                Some(Event::Result(r)) => result = Some(r),
                Some(Event::Progress(_)) | None => {}
            }
        }
        // Whatever this or an earlier, killed job left behind goes now.
        let work_dir = self.work_dir.clone();
        let _ = tokio::task::spawn_blocking(move || crate::store::sweep(&work_dir)).await;
        let r = result.ok_or_else(|| {
            JobError::retryable(ErrorCode::Internal, "compose ended without a result")
        })?;
        let (pieces, reused_pieces) = (r.pieces, r.reused_pieces);

        // 3. Report; only then is the job done.
        let req = self.reporter.request(
            ReportComposeResultRequest {
                job_id: cj.job_id.clone(),
                task_id: cj.task_id,
                output: Some(ComposeOutput {
                    video_key: r.video_key,
                    subtitle_key: r.subtitle_key,
                    cover_key: r.cover_key,
                    assets_key: r.assets_key,
                    duration_seconds: r.duration_seconds,
                    file_size: r.file_size,
                    width: r.width,
                    height: r.height,
                    shots_used,
                    usage: Some(JobUsage {
                        work_seconds: started.elapsed().as_secs_f64(),
                        ..usage
                    }),
                }),
            },
            Duration::from_secs(10),
        );
        match self.reporter.client().report_compose_result(req).await {
            Ok(resp) => {
                tracing::info!(
                    task_id = cj.task_id,
                    job_id = %cj.job_id,
                    applied = resp.into_inner().applied,
                    seconds = started.elapsed().as_secs_f64(),
                    pieces,
                    reused_pieces,
                    "compose job done"
                );
                Ok(())
            }
            // The task was deleted meanwhile: nothing to report to.
            Err(s) if s.code() == tonic::Code::NotFound => Ok(()),
            Err(s) => Err(JobError::retryable(
                ErrorCode::ServiceUnavailable,
                format!("cannot report the result to tasks: {}", s.message()),
            )),
        }
    }

    async fn on_retry(&self, job: &Job, error: &JobError, delay: Duration) {
        tracing::warn!(
            attempt = job.attempt,
            error = %error,
            retry_in_s = delay.as_secs(),
            "compose attempt failed"
        );
        let _ = self.reporter.failure::<ComposeJob>(job, error, false).await;
    }

    async fn on_dead_letter(&self, job: &Job, error: &JobError) -> Result<(), JobError> {
        self.reporter.failure::<ComposeJob>(job, error, true).await
    }
}
