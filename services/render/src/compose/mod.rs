//! Compose: a general timeline in, `final.mp4`, `subtitle.ass`, a cover
//! JPEG and `assets.zip` out, in one decode → filter → encode pass.
//!
//! Every input is fetched and probed first, so a corrupt or truncated clip
//! fails the job before any encoding, naming the clip. Outputs are built in
//! a scratch directory and published only when all of them exist: a failed
//! job leaves nothing behind, and a repeated job (same job id) overwrites
//! its outputs instead of adding more.

pub mod aigc;
pub mod audio;
pub mod crop;
pub mod decode;
pub mod encode;
pub mod narration;
pub mod plan;
pub mod preview;
pub mod run;
pub mod segment;
pub mod stills;
pub mod subtitles;
#[cfg(test)]
mod test_picture;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::Stream;
use scout_common::config::MediaConfig;
use scout_proto::scout::common::v1::SubtitleStyle;
use scout_proto::scout::render::v1::{
    ComposeProgress, ComposeRequest, ComposeResponse, ComposeResult, MediaRef, Timeline,
    compose_response::Event, segment::Source,
};
use tokio::sync::{Semaphore, mpsc};
use tonic::Status;

use crate::error::RenderError;
use crate::store::{MediaSource, Scratch};
use plan::{Plan, Resolved};

/// File names inside the output prefix.
pub const FINAL: &str = "final.mp4";
/// Subtitle file name.
pub const SUBTITLE: &str = "subtitle.ass";
/// Cover file name.
pub const COVER: &str = "cover.jpg";
/// Assets pack file name.
pub const ASSETS: &str = "assets.zip";

/// Where a compose stands, for progress reports.
#[derive(Debug, Clone)]
pub struct Progress {
    /// Percent, 0-100.
    pub percent: i32,
    /// Output seconds encoded.
    pub encoded_seconds: f64,
    /// prepare, encode or package.
    pub phase: &'static str,
}

/// Local results of a compose, in a directory.
#[derive(Debug, Clone)]
pub struct LocalOutputs {
    /// final.mp4.
    pub video: PathBuf,
    /// subtitle.ass, when the timeline has subtitles.
    pub subtitle: Option<PathBuf>,
    /// cover.jpg.
    pub cover: PathBuf,
    /// assets.zip.
    pub assets: PathBuf,
    /// Seconds of output.
    pub duration: f64,
    /// Bytes of final.mp4.
    pub size: u64,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// Source frames decoded.
    pub decoded_frames: u64,
    /// Output frames.
    pub frames: u64,
    /// The H.264 encoder that ran (e.g. `libx264`, `h264_nvenc`, `nvenc`).
    pub encoder: &'static str,
}

fn media_of(m: &Option<MediaRef>, what: &str) -> Result<MediaRef, RenderError> {
    m.clone()
        .ok_or_else(|| RenderError::InvalidArgument(format!("{what} has no media")))
}

/// Fetches and probes every input, then plans.
async fn prepare(
    source: &MediaSource,
    timeline: &Timeline,
    media: &MediaConfig,
    scratch: &Path,
) -> Result<Plan, RenderError> {
    async fn resolve(
        source: &MediaSource,
        m: MediaRef,
        scratch: &Path,
    ) -> Result<Resolved, RenderError> {
        let (path, name) = source.fetch(Some(&m), scratch).await?;
        let (p, n) = (path.clone(), name.clone());
        let info = crate::runtime::blocking(move || crate::media::probe::probe(&p, &n)).await?;
        Ok(Resolved { path, name, info })
    }
    let mut segments = Vec::with_capacity(timeline.segments.len());
    for (i, seg) in timeline.segments.iter().enumerate() {
        let m = match &seg.source {
            Some(Source::Clip(c)) => media_of(&c.media, &format!("segment {}", i + 1))?,
            Some(Source::Still(s)) => media_of(&s.media, &format!("segment {}", i + 1))?,
            None => {
                return Err(RenderError::InvalidArgument(format!(
                    "segment {} has no source",
                    i + 1
                )));
            }
        };
        segments.push(resolve(source, m, scratch).await?);
    }
    let mut voice = Vec::with_capacity(timeline.voice.len());
    for (i, track) in timeline.voice.iter().enumerate() {
        voice.push(
            resolve(
                source,
                media_of(&track.media, &format!("voice track {}", i + 1))?,
                scratch,
            )
            .await?,
        );
    }
    let music = match &timeline.music {
        Some(m) => Some(resolve(source, media_of(&m.media, "music")?, scratch).await?),
        None => None,
    };
    plan::plan(
        timeline,
        &media.x264_preset,
        &segments,
        &voice,
        music.as_ref(),
    )
}

/// Renders `timeline` into `out_dir` (which must exist). Blocking parts run
/// on the blocking pool.
pub async fn compose_to_dir(
    source: &MediaSource,
    timeline: &Timeline,
    media: &MediaConfig,
    scratch: &Path,
    out_dir: &Path,
    progress: Arc<dyn Fn(Progress) + Send + Sync>,
    cancel: Arc<AtomicBool>,
) -> Result<LocalOutputs, RenderError> {
    progress(Progress {
        percent: 0,
        encoded_seconds: 0.0,
        phase: "prepare",
    });
    let plan = prepare(source, timeline, media, scratch).await?;
    let subs = timeline.subtitles.as_ref().filter(|s| !s.events.is_empty());
    let style = subs
        .and_then(|s| SubtitleStyle::try_from(s.style).ok())
        .unwrap_or(SubtitleStyle::SimpleWhite);
    let font = match subs {
        Some(s) if !s.font_family.is_empty() => s.font_family.clone(),
        _ => media.subtitle_font.clone(),
    };
    let events = subs.map(|s| s.events.clone()).unwrap_or_default();
    // subtitle.ass, for the user: the captions alone.
    let subtitle = if events.is_empty() {
        None
    } else {
        let (events, font) = (events.clone(), font.clone());
        let text =
            crate::runtime::blocking(move || crate::subtitles::write_ass(&events, style, &font))
                .await?;
        let path = out_dir.join(SUBTITLE);
        std::fs::write(&path, text)?;
        Some(path)
    };
    // What is burned in: the captions and the visible AI-generated mark.
    let burn = match timeline.aigc.as_ref().and_then(|a| a.mark.clone()) {
        Some(mark) => {
            let until = plan.duration;
            let text = crate::runtime::blocking(move || {
                crate::subtitles::write_ass_with_mark(&events, style, &font, Some((&mark, until)))
            })
            .await?;
            let path = scratch.join("burn.ass");
            std::fs::write(&path, text)?;
            Some(path)
        }
        None => subtitle.clone(),
    };
    progress(Progress {
        percent: 3,
        encoded_seconds: 0.0,
        phase: "encode",
    });
    let video = out_dir.join(FINAL);
    let voice_wav = out_dir.join("voice.wav");
    let (plan_c, sub_c, video_c, voice_c, cancel_c, progress_c) = (
        plan.clone(),
        burn.clone(),
        video.clone(),
        voice_wav.clone(),
        cancel.clone(),
        progress.clone(),
    );
    let fps = f64::from(plan.output.fps);
    let result = crate::runtime::blocking(move || {
        run::run(
            &plan_c,
            sub_c.as_deref(),
            &video_c,
            Some(&voice_c),
            &mut |t: run::Tick| {
                let pct = 3 + (t.frames as f64 / t.total.max(1) as f64 * 92.0) as i32;
                progress_c(Progress {
                    percent: pct.min(95),
                    encoded_seconds: t.frames as f64 / fps,
                    phase: "encode",
                });
            },
            &cancel_c,
        )
    })
    .await?;
    if cancel.load(Ordering::Relaxed) {
        return Err(RenderError::Cancelled);
    }
    progress(Progress {
        percent: 96,
        encoded_seconds: result.duration,
        phase: "package",
    });
    let cover = out_dir.join(COVER);
    std::fs::write(&cover, &result.cover_jpeg)?;
    let assets = out_dir.join(ASSETS);
    let segments_json = serde_json::to_vec_pretty(&serde_json::json!({
        "duration_seconds": plan.duration,
        "fps": plan.output.fps,
        "segments": plan.segments,
        "voice": plan.voice,
    }))
    .map_err(|e| RenderError::Io(e.to_string()))?;
    let (v, s, w, a) = (
        video.clone(),
        subtitle.clone(),
        voice_wav.clone(),
        assets.clone(),
    );
    crate::runtime::blocking(move || write_assets(&a, &v, s.as_deref(), &w, &segments_json))
        .await?;
    let _ = std::fs::remove_file(&voice_wav);
    let size = std::fs::metadata(&video)?.len();
    progress(Progress {
        percent: 100,
        encoded_seconds: result.duration,
        phase: "package",
    });
    Ok(LocalOutputs {
        video,
        subtitle,
        cover,
        assets,
        duration: result.duration,
        size,
        width: plan.output.width,
        height: plan.output.height,
        decoded_frames: result.decoded,
        frames: result.frames,
        encoder: result.encoder,
    })
}

/// assets.zip: the video (stored, it is already compressed), the subtitle,
/// the voice track and the list of segments used.
fn write_assets(
    zip_path: &Path,
    video: &Path,
    subtitle: Option<&Path>,
    voice: &Path,
    segments_json: &[u8],
) -> Result<(), RenderError> {
    let file = std::fs::File::create(zip_path)?;
    let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(file));
    let stored = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true);
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let zerr = |e: zip::result::ZipError| RenderError::Io(format!("assets.zip: {e}"));
    zip.start_file(FINAL, stored).map_err(zerr)?;
    std::io::copy(&mut std::fs::File::open(video)?, &mut zip)?;
    if let Some(sub) = subtitle {
        zip.start_file(SUBTITLE, deflated).map_err(zerr)?;
        std::io::copy(&mut std::fs::File::open(sub)?, &mut zip)?;
    }
    zip.start_file("voice.wav", deflated).map_err(zerr)?;
    std::io::copy(&mut std::fs::File::open(voice)?, &mut zip)?;
    zip.start_file("segments.json", deflated).map_err(zerr)?;
    zip.write_all(segments_json)?;
    zip.finish().map_err(zerr)?;
    Ok(())
}

type ComposeStream = Pin<Box<dyn Stream<Item = Result<ComposeResponse, Status>> + Send + 'static>>;

/// The service side of compose: one job at a time per slot, progress as a
/// stream, outputs published to the blob store when all are ready.
#[derive(Clone)]
pub struct Composer {
    source: MediaSource,
    media: MediaConfig,
    slots: Arc<Semaphore>,
}

impl Composer {
    /// A composer reading media from `source`.
    pub fn new(source: MediaSource, media: &MediaConfig) -> Self {
        Self {
            source,
            media: media.clone(),
            slots: Arc::new(Semaphore::new(media.max_concurrent_composes.max(1))),
        }
    }

    /// Composes running now.
    pub fn active(&self) -> usize {
        self.media
            .max_concurrent_composes
            .max(1)
            .saturating_sub(self.slots.available_permits())
    }

    /// Starts a compose and returns its progress stream, ending with the result.
    pub fn start(&self, req: ComposeRequest) -> Result<ComposeStream, RenderError> {
        let timeline = req
            .timeline
            .clone()
            .ok_or_else(|| RenderError::InvalidArgument("timeline is required".into()))?;
        if req.output_prefix.is_empty() {
            return Err(RenderError::InvalidArgument(
                "output_prefix is required, e.g. output/{task_id}/".into(),
            ));
        }
        let prefix = if req.output_prefix.ends_with('/') {
            req.output_prefix.clone()
        } else {
            format!("{}/", req.output_prefix)
        };
        let (tx, rx) = mpsc::channel::<Result<ComposeResponse, Status>>(16);
        let this = self.clone();
        let job_id = req.job_id.clone();
        tokio::spawn(async move {
            let cancel = Arc::new(AtomicBool::new(false));
            let result = this
                .run_job(&timeline, &prefix, tx.clone(), cancel.clone())
                .await;
            let message = match result {
                Ok(r) => Ok(ComposeResponse {
                    event: Some(Event::Result(r)),
                }),
                Err(e) => {
                    tracing::warn!(job_id = %job_id, error = %e, "compose failed");
                    Err(Status::from(e))
                }
            };
            let _ = tx.send(message).await;
        });
        Ok(Box::pin(tokio_stream_from(rx)))
    }

    async fn run_job(
        &self,
        timeline: &Timeline,
        prefix: &str,
        tx: mpsc::Sender<Result<ComposeResponse, Status>>,
        cancel: Arc<AtomicBool>,
    ) -> Result<ComposeResult, RenderError> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| RenderError::Cancelled)?;
        let scratch = Scratch::new(&self.media.work_dir)?;
        let out_dir = scratch.path().join("out");
        std::fs::create_dir_all(&out_dir)?;
        let progress_tx = tx.clone();
        let cancel_on_drop = cancel.clone();
        let progress: Arc<dyn Fn(Progress) + Send + Sync> = Arc::new(move |p: Progress| {
            let msg = ComposeResponse {
                event: Some(Event::Progress(ComposeProgress {
                    percent: p.percent,
                    encoded_seconds: p.encoded_seconds,
                    phase: p.phase.into(),
                })),
            };
            // A caller that went away cancels the job.
            if let Err(mpsc::error::TrySendError::Closed(_)) = progress_tx.try_send(Ok(msg)) {
                cancel_on_drop.store(true, Ordering::Relaxed);
            }
        });
        let outputs = compose_to_dir(
            &self.source,
            timeline,
            &self.media,
            scratch.path(),
            &out_dir,
            progress,
            cancel,
        )
        .await?;
        let store = self
            .source
            .store()
            .ok_or_else(|| RenderError::Io("no blob store".into()))?;
        let keys = [
            (
                Some(&outputs.video),
                format!("{prefix}{FINAL}"),
                "video/mp4",
            ),
            (
                outputs.subtitle.as_ref(),
                format!("{prefix}{SUBTITLE}"),
                "text/x-ssa; charset=utf-8",
            ),
            (
                Some(&outputs.cover),
                format!("{prefix}{COVER}"),
                "image/jpeg",
            ),
            (
                Some(&outputs.assets),
                format!("{prefix}{ASSETS}"),
                "application/zip",
            ),
        ];
        let mut written: Vec<String> = Vec::new();
        for (path, key, ct) in &keys {
            let Some(path) = path else { continue };
            if let Err(e) = store.put_file(key, path, Some(ct)).await {
                // Publish all or nothing.
                for k in &written {
                    let _ = store.delete(k).await;
                }
                return Err(e.into());
            }
            written.push(key.to_string());
        }
        if outputs.subtitle.is_none() {
            // A re-run without subtitles must not leave an old subtitle behind.
            let _ = store.delete(&format!("{prefix}{SUBTITLE}")).await;
        }
        Ok(ComposeResult {
            video_key: format!("{prefix}{FINAL}"),
            subtitle_key: if outputs.subtitle.is_some() {
                format!("{prefix}{SUBTITLE}")
            } else {
                String::new()
            },
            cover_key: format!("{prefix}{COVER}"),
            assets_key: format!("{prefix}{ASSETS}"),
            duration_seconds: outputs.duration,
            file_size: outputs.size as i64,
            width: outputs.width as i32,
            height: outputs.height as i32,
            encoder: outputs.encoder.into(),
        })
    }
}

/// A stream over an mpsc receiver.
fn tokio_stream_from<T: Send + 'static>(mut rx: mpsc::Receiver<T>) -> impl Stream<Item = T> + Send {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
