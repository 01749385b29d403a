//! Compose: a general timeline in, `final.mp4`, `subtitle.ass`, a cover
//! JPEG, `assets.zip` and the editable `jianying-draft.zip` (`draft`) out. Each segment is decoded, filtered and encoded
//! once, on its own, into a piece that is kept under the output prefix
//! (`pieces`); the pieces are joined with the mixed audio without
//! re-encoding, so a re-compose encodes only what changed. When most of
//! the video is new, a low-resolution preview comes first.
//!
//! Every input is fetched and probed first, so a corrupt or truncated clip
//! fails the job before any encoding, naming the clip. Outputs are built in
//! a scratch directory and published only when all of them exist: a failed
//! job leaves no outputs behind (the pieces it kept and a preview it
//! published stay for the next attempt, which reuses or replaces them), and
//! a repeated job (same job id) overwrites its outputs instead of adding
//! more.

pub mod aigc;
pub mod audio;
pub mod crop;
pub mod decode;
pub mod draft;
pub mod encode;
pub mod montage;
pub mod narration;
pub mod pieces;
pub mod plan;
pub mod preview;
pub mod run;
pub mod scenes;
pub mod segment;
pub mod stills;
pub mod subtitles;
#[cfg(test)]
mod test_picture;
pub mod transition;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use futures::{Stream, StreamExt};
use scout_common::config::MediaConfig;
use scout_proto::scout::common::v1::SubtitleStyle;
use scout_proto::scout::render::v1::{
    ComposeProgress, ComposeRequest, ComposeResponse, ComposeResult, Corner, MediaInfo, MediaRef,
    Scene, Timeline, compose_response::Event, segment::Source,
};
use tokio::sync::{Semaphore, mpsc};
use tonic::Status;

use crate::error::RenderError;
use crate::store::{MediaSource, Scratch};
use pieces::PieceStore;
use plan::{Plan, Resolved};

/// File names inside the output prefix.
pub const FINAL: &str = "final.mp4";
/// Subtitle file name.
pub const SUBTITLE: &str = "subtitle.ass";
/// Cover file name.
pub const COVER: &str = "cover.jpg";
/// Assets pack file name.
pub const ASSETS: &str = "assets.zip";
/// Low-resolution preview file name.
pub const PREVIEW: &str = "preview.mp4";
/// The timeline as an editable 剪映/CapCut draft folder, zipped.
pub const EDITOR_DRAFT: &str = "jianying-draft.zip";

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
    /// jianying-draft.zip; `None` when it could not be made (the video
    /// and the other outputs are kept all the same).
    pub editor_draft: Option<PathBuf>,
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
    /// Pieces of the video kept from an earlier compose, not encoded again.
    pub reused_pieces: usize,
    /// Pieces in all (one per segment).
    pub pieces: usize,
}

fn media_of(m: &Option<MediaRef>, what: &str) -> Result<MediaRef, RenderError> {
    m.clone()
        .ok_or_else(|| RenderError::InvalidArgument(format!("{what} has no media")))
}

/// Every input fetched and probed.
struct Inputs {
    segments: Vec<Resolved>,
    voice: Vec<Resolved>,
    music: Option<Resolved>,
    logo: Option<Resolved>,
}

impl Inputs {
    /// The plan of `timeline` over these inputs.
    fn plan(&self, timeline: &Timeline, preset: &str) -> Result<Plan, RenderError> {
        let mut p = plan::plan(
            timeline,
            preset,
            &self.segments,
            &self.voice,
            self.music.as_ref(),
        )?;
        p.logo = plan::logo(timeline.branding.as_ref(), self.logo.as_ref())?;
        Ok(p)
    }
}

/// Fetches and probes every input.
async fn prepare(
    source: &MediaSource,
    timeline: &Timeline,
    scratch: &Path,
) -> Result<Inputs, RenderError> {
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
            Some(Source::Scene(s)) => {
                let scene = s.scene.clone().unwrap_or_default();
                segments.push(slide(source, &scene, scratch).await?);
                continue;
            }
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
    let logo = match timeline.branding.as_ref().and_then(|b| b.logo.clone()) {
        Some(m) => Some(resolve(source, m, scratch).await?),
        None => None,
    };
    Ok(Inputs {
        segments,
        voice,
        music,
        logo,
    })
}

/// A slide drawn into a JPEG in `scratch`, named by what is on it (so an
/// unchanged slide makes the same piece again), with its probe.
async fn slide(
    source: &MediaSource,
    scene: &Scene,
    scratch: &Path,
) -> Result<Resolved, RenderError> {
    use prost::Message as _;
    use sha2::Digest as _;
    let picture = match &scene.image {
        Some(m) if m.location.is_some() => Some(source.fetch(Some(m), scratch).await?),
        _ => None,
    };
    let mut h = sha2::Sha256::new();
    h.update(scene.encode_to_vec());
    if let Some((path, _)) = &picture {
        h.update(
            std::fs::read(path)
                .map_err(|e| RenderError::Io(format!("the slide's picture: {e}")))?,
        );
    }
    let name = format!("slide-{}.jpg", &hex::encode(h.finalize())[..24]);
    let path = scratch.join(&name);
    let (scene, dir, out, n) = (
        scene.clone(),
        scratch.to_path_buf(),
        path.clone(),
        name.clone(),
    );
    let info = crate::runtime::blocking(move || {
        scenes::draw(
            &scene,
            picture.as_ref().map(|(p, _)| p.as_path()),
            &dir,
            &out,
        )?;
        crate::media::probe::probe(&out, &n)
    })
    .await?;
    Ok(Resolved { path, name, info })
}

/// Called with the low-resolution preview once it exists.
pub type PreviewSink =
    Arc<dyn Fn(PathBuf) -> futures::future::BoxFuture<'static, ()> + Send + Sync>;

/// How a compose runs besides its inputs and outputs.
#[derive(Clone)]
pub struct Options {
    /// Called as the compose goes.
    pub progress: Arc<dyn Fn(Progress) + Send + Sync>,
    /// Set to stop the compose.
    pub cancel: Arc<AtomicBool>,
    /// Where encoded pieces are kept between composes; `None`: nowhere,
    /// every piece is encoded.
    pub pieces: Option<PieceStore>,
    /// Where the low-resolution preview goes; `None`: none is made.
    pub preview: Option<PreviewSink>,
}

/// The preview's frame rate; it is half the output's width and height
/// (540x960 for the 1080x1920 default), encoded as fast as libx264 goes.
pub const PREVIEW_FPS: i32 = 15;

/// Renders `timeline` into `out_dir` (which must exist): every piece is
/// encoded, nothing is kept, no preview is made. Blocking parts run on the
/// blocking pool.
pub async fn compose_to_dir(
    source: &MediaSource,
    timeline: &Timeline,
    media: &MediaConfig,
    scratch: &Path,
    out_dir: &Path,
    progress: Arc<dyn Fn(Progress) + Send + Sync>,
    cancel: Arc<AtomicBool>,
) -> Result<LocalOutputs, RenderError> {
    let opts = Options {
        progress,
        cancel,
        pieces: None,
        preview: None,
    };
    compose(source, timeline, media, scratch, out_dir, &opts).await
}

/// Renders `timeline` into `out_dir` (which must exist), reusing the
/// pieces kept in `opts.pieces` and keeping the ones it encodes, and
/// handing a preview to `opts.preview` first when most of the video is
/// new. Blocking parts run on the blocking pool.
pub async fn compose(
    source: &MediaSource,
    timeline: &Timeline,
    media: &MediaConfig,
    scratch: &Path,
    out_dir: &Path,
    opts: &Options,
) -> Result<LocalOutputs, RenderError> {
    // Progress never goes back (a redo after a GPU failure reports again
    // once it passes where the failed attempt had got to).
    let opts = &Options {
        progress: {
            let (inner, reached) = (
                opts.progress.clone(),
                Arc::new(std::sync::atomic::AtomicI32::new(-1)),
            );
            Arc::new(move |p: Progress| {
                if reached.fetch_max(p.percent, Ordering::Relaxed) <= p.percent {
                    inner(p);
                }
            })
        },
        ..opts.clone()
    };
    let progress = &opts.progress;
    progress(Progress {
        percent: 0,
        encoded_seconds: 0.0,
        phase: "prepare",
    });
    let started = std::time::Instant::now();
    let inputs = prepare(source, timeline, scratch).await?;
    let prepared = started.elapsed();
    let plan = inputs.plan(timeline, &media.x264_preset)?;
    let subs = timeline.subtitles.as_ref().filter(|s| !s.events.is_empty());
    let style = subs
        .and_then(|s| SubtitleStyle::try_from(s.style).ok())
        .unwrap_or(SubtitleStyle::SimpleWhite);
    let brand = timeline.branding.as_ref();
    let font = match (subs, brand) {
        (Some(s), _) if !s.font_family.is_empty() => s.font_family.clone(),
        (_, Some(b)) if !b.caption_font.is_empty() => b.caption_font.clone(),
        _ => media.subtitle_font.clone(),
    };
    // The style in the brand's colours, where it has them.
    let look = match brand {
        Some(b) => crate::subtitles::branded(
            crate::subtitles::style(style),
            &b.caption_colour,
            &b.caption_outline_colour,
        )?,
        None => crate::subtitles::style(style),
    };
    let events = subs.map(|s| s.events.clone()).unwrap_or_default();
    // subtitle.ass, for the user: the captions alone.
    let subtitle = if events.is_empty() {
        None
    } else {
        let (events, font, look) = (events.clone(), font.clone(), look.clone());
        let text = crate::runtime::blocking(move || {
            crate::subtitles::write_ass_in(&events, &look, &font, None, &[])
        })
        .await?;
        let path = out_dir.join(SUBTITLE);
        std::fs::write(&path, text)?;
        Some(path)
    };
    // What is burned in: the captions and the visible AI-generated mark.
    let cards = brand_cards(brand, plan.duration)?;
    let burn = pieces::Burn {
        events,
        look,
        font,
        cards,
        mark: timeline
            .aigc
            .as_ref()
            .and_then(|a| a.mark.clone())
            .map(|m| {
                let span = crate::subtitles::mark_span(&m, plan.duration);
                (m, span)
            }),
    };
    let sources = {
        let list: Vec<(PathBuf, String)> = plan
            .segments
            .iter()
            .map(|s| (s.path.clone(), s.source.clone()))
            .collect();
        crate::runtime::blocking(move || {
            list.iter()
                .map(|(p, n)| pieces::source_identity(p, n))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?
    };
    // The logo's part in every piece's key: its image and placement.
    let logo = match plan.logo.clone() {
        Some(l) => Some(
            crate::runtime::blocking(move || {
                let image = pieces::source_identity(&l.path, &l.source)?;
                Ok(format!("{image}|{:?}|{}|{}", l.corner, l.scale, l.opacity))
            })
            .await?,
        ),
        None => None,
    };
    let dir = scratch.join("pieces");
    std::fs::create_dir_all(&dir)?;
    let mut gpu = true;
    let mut previewed = false;
    let voice_wav = out_dir.join("voice.wav");
    let mut audio = AudioTask::new(&plan, voice_wav.clone(), scratch.join("audio.m4a"));
    let pieces_started = std::time::Instant::now();
    let encoded = loop {
        let run = Run {
            plan: &plan,
            burn: &burn,
            sources: &sources,
            logo: logo.as_deref(),
            dir: &dir,
            gpu,
        };
        match run
            .encode(timeline, &inputs, opts, &mut audio, &mut previewed)
            .await
        {
            // A GPU encoder failing mid-way: every piece of this compose
            // is made again with libx264 (pieces of one file share one
            // encoder's headers).
            Err(RenderError::GpuEncode(why)) if gpu => {
                crate::media::hw::fell_back("encode", &why);
                gpu = false;
            }
            other => break other?,
        }
    };
    if opts.cancel.load(Ordering::Relaxed) {
        return Err(RenderError::Cancelled);
    }
    progress(Progress {
        percent: 96,
        encoded_seconds: plan.duration,
        phase: "package",
    });
    let video = out_dir.join(FINAL);
    let audio_file = audio.ready().await?;
    let (plan_c, files, video_c) = (
        plan.clone(),
        encoded
            .pieces
            .iter()
            .map(|p| p.video.clone())
            .collect::<Vec<_>>(),
        video.clone(),
    );
    let pieces_took = pieces_started.elapsed();
    let join_started = std::time::Instant::now();
    let joined =
        crate::runtime::blocking(move || run::join(&plan_c, &files, &audio_file, &video_c)).await?;
    let cover = out_dir.join(COVER);
    if let Some(first) = encoded.pieces.first() {
        std::fs::copy(&first.still, &cover)?;
    }
    if let Some(store) = &opts.pieces {
        store.prune(&encoded.keys.iter().cloned().collect()).await;
    }
    let join_took = join_started.elapsed();
    let package_started = std::time::Instant::now();
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
    let draft_path = out_dir.join(EDITOR_DRAFT);
    let (assets_written, draft_written) = tokio::join!(
        crate::runtime::blocking(move || write_assets(&a, &v, s.as_deref(), &w, &segments_json)),
        write_editor_draft(timeline, &plan, &inputs, &burn, &cover, &draft_path),
    );
    assets_written?;
    // The draft is an extra: a failure to make it loses no video.
    let editor_draft = match draft_written {
        Ok(()) => Some(draft_path),
        Err(e) => {
            tracing::warn!(error = %e, "no editable draft for this video");
            None
        }
    };
    let _ = std::fs::remove_file(&voice_wav);
    let size = std::fs::metadata(&video)?.len();
    tracing::info!(
        pieces = encoded.keys.len(),
        reused = encoded.reused,
        prepare_s = prepared.as_secs_f64(),
        pieces_s = pieces_took.as_secs_f64(),
        join_s = join_took.as_secs_f64(),
        package_s = package_started.elapsed().as_secs_f64(),
        "composed"
    );
    progress(Progress {
        percent: 100,
        encoded_seconds: joined.duration,
        phase: "package",
    });
    Ok(LocalOutputs {
        video,
        subtitle,
        cover,
        assets,
        editor_draft,
        duration: joined.duration,
        size,
        width: plan.output.width,
        height: plan.output.height,
        decoded_frames: encoded.decoded,
        frames: joined.frames,
        encoder: encoded.encoder,
        reused_pieces: encoded.reused,
        pieces: encoded.keys.len(),
    })
}

/// The compose's audio: mixed and encoded to AAC (and the voice-only
/// track written) on the blocking pool, beside the pieces.
struct AudioTask {
    plan: Plan,
    voice_wav: PathBuf,
    file: PathBuf,
    running: Option<tokio::task::JoinHandle<Result<(), RenderError>>>,
    failed: Option<String>,
    done: bool,
    /// Set when the compose is over, whatever its end: the work stops.
    stop: Arc<AtomicBool>,
}

impl Drop for AudioTask {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl AudioTask {
    /// The audio of `plan`, to go into `file` (the voice alone into `voice_wav`).
    fn new(plan: &Plan, voice_wav: PathBuf, file: PathBuf) -> Self {
        Self {
            plan: plan.clone(),
            voice_wav,
            file,
            running: None,
            failed: None,
            done: false,
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Starts the work, unless it was started.
    fn start(&mut self) {
        if self.running.is_some() || self.done || self.failed.is_some() {
            return;
        }
        let (plan, voice, file, stop) = (
            self.plan.clone(),
            self.voice_wav.clone(),
            self.file.clone(),
            self.stop.clone(),
        );
        self.running = Some(tokio::spawn(crate::runtime::blocking(move || {
            run::encode_audio(&plan, Some(&voice), &file, &stop)
        })));
    }

    /// The encoded audio, once it is done (started now if it was not).
    async fn ready(&mut self) -> Result<PathBuf, RenderError> {
        self.start();
        if let Some(handle) = self.running.take() {
            let result = handle
                .await
                .map_err(|e| RenderError::Io(format!("audio task failed: {e}")))
                .and_then(|r| r);
            match result {
                Ok(()) => self.done = true,
                Err(e) => {
                    self.failed = Some(e.to_string());
                    return Err(e);
                }
            }
        }
        match &self.failed {
            Some(why) => Err(RenderError::Io(why.clone())),
            None => Ok(self.file.clone()),
        }
    }
}

/// The pieces of a compose, encoded or kept.
struct Encoded {
    /// One per segment, in order.
    pieces: Vec<pieces::LocalPiece>,
    /// Their keys.
    keys: Vec<String>,
    /// Pieces that were kept from an earlier compose.
    reused: usize,
    /// Source frames decoded.
    decoded: u64,
    /// The encoder of the pieces.
    encoder: &'static str,
}

/// One attempt at the pieces of a compose, on the GPU encoder or not.
struct Run<'a> {
    plan: &'a Plan,
    burn: &'a pieces::Burn,
    sources: &'a [String],
    /// The logo's identity and placement, when there is one.
    logo: Option<&'a str>,
    dir: &'a Path,
    gpu: bool,
}

impl Run<'_> {
    /// Every piece of the plan: kept ones fetched, the others encoded (and
    /// kept), after the preview when most of the video is new.
    async fn encode(
        &self,
        timeline: &Timeline,
        inputs: &Inputs,
        opts: &Options,
        audio: &mut AudioTask,
        previewed: &mut bool,
    ) -> Result<Encoded, RenderError> {
        let plan = self.plan;
        let out = plan.output.clone();
        let (gpu, o) = (self.gpu, out.clone());
        let (encoder, identity) =
            crate::runtime::blocking(move || run::encoder_identity(&o, gpu)).await?;
        let mut keys = Vec::with_capacity(plan.segments.len());
        let mut asses = Vec::with_capacity(plan.segments.len());
        for (i, (seg, source)) in plan.segments.iter().zip(self.sources).enumerate() {
            let ass = self.burn.piece_ass(pieces::Window::of(seg, out.fps))?;
            // A transition shows the segment before too.
            let under = match (&seg.transition, i.checked_sub(1)) {
                (Some(_), Some(before)) => self.sources.get(before).map(String::as_str),
                _ => None,
            };
            keys.push(pieces::key(
                seg,
                source,
                under,
                &out,
                &identity,
                ass.as_deref(),
                self.logo,
            )?);
            asses.push(ass);
        }
        let mut kept = Vec::with_capacity(keys.len());
        for (key, seg) in keys.iter().zip(&plan.segments) {
            let piece = match &opts.pieces {
                Some(store) => store.fetch(key, self.dir).await,
                None => None,
            };
            // A kept piece that does not read back whole (a damaged object,
            // an interrupted upload) is encoded again, not joined.
            let piece = match piece {
                Some(p) => {
                    let (video, frames) = (p.video.clone(), seg.frames);
                    let whole = crate::runtime::blocking(move || run::piece_frames(&video))
                        .await
                        .is_ok_and(|n| n == frames);
                    if !whole {
                        tracing::warn!(key = %key, "a kept piece is damaged; it is encoded again");
                    }
                    whole.then_some(p)
                }
                None => None,
            };
            kept.push(piece);
        }
        let reused = kept.iter().filter(|k| k.is_some()).count();
        let fresh: u64 = plan
            .segments
            .iter()
            .zip(&kept)
            .filter(|(_, k)| k.is_none())
            .map(|(s, _)| s.frames)
            .sum();
        let (from, to) = match &opts.preview {
            // Most of the video is new: a preview first (once), while the
            // rest renders. It is a convenience: failing, it costs nothing.
            Some(sink) if !*previewed && fresh * 2 > plan.total_frames => {
                *previewed = true;
                match self.preview(timeline, inputs, opts).await {
                    Ok(preview) => {
                        sink(preview).await;
                        (15, 95)
                    }
                    Err(RenderError::Cancelled) => return Err(RenderError::Cancelled),
                    Err(e) => {
                        tracing::warn!(error = %e, "no preview; the full render goes on");
                        (3, 95)
                    }
                }
            }
            _ => (3, 95),
        };
        // The audio is mixed and encoded beside the pieces.
        audio.start();
        let fps = f64::from(out.fps);
        let total = fresh.max(1);
        // Frames encoded so far, over every piece running.
        let done = Arc::new(AtomicU64::new(0));
        // Set when the compose is cancelled or a piece failed: the pieces
        // still running stop at their next frame.
        let stop = Arc::new(AtomicBool::new(false));
        let mut jobs = Vec::new();
        for (i, seg) in plan.segments.iter().enumerate() {
            if kept[i].is_some() {
                continue;
            }
            let local = pieces::LocalPiece::in_dir(self.dir, &keys[i]);
            let ass = match &asses[i] {
                Some(text) => {
                    let path = self.dir.join(format!("{}.ass", keys[i]));
                    std::fs::write(&path, text)?;
                    Some(path)
                }
                None => None,
            };
            let (seg_c, out_c, video, cancel, stop, progress, logo, done) = (
                seg.clone(),
                out.clone(),
                local.video.clone(),
                opts.cancel.clone(),
                stop.clone(),
                opts.progress.clone(),
                plan.logo.clone(),
                done.clone(),
            );
            let job = crate::runtime::blocking(move || {
                if cancel.load(Ordering::Relaxed) || stop.load(Ordering::Relaxed) {
                    return Err(RenderError::Cancelled);
                }
                let mut reported = 0u64;
                run::encode_piece(
                    &seg_c,
                    &out_c,
                    subtitles::Overlays {
                        ass: ass.as_deref(),
                        logo: logo.as_ref(),
                    },
                    &video,
                    gpu,
                    &mut |frames| {
                        if cancel.load(Ordering::Relaxed) {
                            stop.store(true, Ordering::Relaxed);
                        }
                        let at = done.fetch_add(frames - reported, Ordering::Relaxed) + frames
                            - reported;
                        reported = frames;
                        let pct = from + (at as f64 / total as f64 * f64::from(to - from)) as i32;
                        progress(Progress {
                            percent: pct.min(to),
                            encoded_seconds: at as f64 / fps,
                            phase: "encode",
                        });
                    },
                    &stop,
                )
            });
            jobs.push(async move { (i, local, job.await) });
        }
        // Pieces whose clips decode on NVDEC run side by side, one NVDEC
        // session each (the node's slots bound them); on the CPU one at a
        // time, the encoder's threads already use every core.
        let at_once = pieces_at_once(inputs, jobs.len());
        let mut running = futures::stream::iter(jobs).buffer_unordered(at_once);
        let mut decoded = 0u64;
        let mut fresh_pieces: Vec<Option<pieces::LocalPiece>> =
            (0..plan.segments.len()).map(|_| None).collect();
        while let Some((i, local, piece)) = running.next().await {
            let piece = match piece {
                Ok(piece) => piece,
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    if opts.cancel.load(Ordering::Relaxed) {
                        return Err(RenderError::Cancelled);
                    }
                    return Err(e);
                }
            };
            // A GPU encoder that did not open for this piece (libx264 in its
            // place) made a piece the others cannot join: the compose is
            // made again on libx264, and this piece is not kept.
            if piece.encoder != encoder {
                stop.store(true, Ordering::Relaxed);
                return Err(RenderError::GpuEncode(format!(
                    "{} encoded piece {} in place of {encoder}",
                    piece.encoder, plan.segments[i].id
                )));
            }
            std::fs::write(&local.still, &piece.still_jpeg)?;
            decoded += piece.decoded;
            if let Some(store) = &opts.pieces {
                // A piece that cannot be kept is encoded again next time.
                if let Err(e) = store.keep(&keys[i], &local).await {
                    tracing::warn!(error = %e, "an encoded piece was not kept");
                }
            }
            fresh_pieces[i] = Some(local);
        }
        if opts.cancel.load(Ordering::Relaxed) {
            return Err(RenderError::Cancelled);
        }
        let mut pieces_out = Vec::with_capacity(keys.len());
        for (i, fresh) in fresh_pieces.into_iter().enumerate() {
            match kept[i].take().or(fresh) {
                Some(piece) => pieces_out.push(piece),
                None => return Err(RenderError::Io(format!("piece {i} was not made"))),
            }
        }
        if reused > 0 {
            tracing::info!(
                reused,
                encoded = keys.len() - reused,
                "unchanged pieces of the video reused"
            );
        }
        Ok(Encoded {
            pieces: pieces_out,
            keys,
            reused,
            decoded,
            encoder,
        })
    }

    /// The low-resolution preview of the whole timeline, captions and mark
    /// burned in, with its audio: the same pieces at half the output's size
    /// and [`PREVIEW_FPS`], joined.
    async fn preview(
        &self,
        timeline: &Timeline,
        inputs: &Inputs,
        opts: &Options,
    ) -> Result<PathBuf, RenderError> {
        let mut small = timeline.clone();
        let spec = small.output.get_or_insert_with(Default::default);
        spec.width = ((self.plan.output.width / 2) & !1).max(64) as i32;
        spec.height = ((self.plan.output.height / 2) & !1).max(64) as i32;
        spec.fps = PREVIEW_FPS;
        spec.video_bitrate_kbps = 1200;
        spec.video_maxrate_kbps = 1800;
        spec.audio_bitrate_kbps = 64;
        spec.preset = "ultrafast".into();
        let mut plan = inputs.plan(&small, "ultrafast")?;
        plan.output.draft = true;
        let dir = self.dir.join("preview");
        std::fs::create_dir_all(&dir)?;
        let mut files = Vec::with_capacity(plan.segments.len());
        for (i, seg) in plan.segments.iter().enumerate() {
            let ass = match self
                .burn
                .piece_ass(pieces::Window::of(seg, plan.output.fps))?
            {
                Some(text) => {
                    let path = dir.join(format!("{i}.ass"));
                    std::fs::write(&path, text)?;
                    Some(path)
                }
                None => None,
            };
            let path = dir.join(format!("{i}.mp4"));
            let (seg_c, out_c, p, cancel, logo) = (
                seg.clone(),
                plan.output.clone(),
                path.clone(),
                opts.cancel.clone(),
                plan.logo.clone(),
            );
            crate::runtime::blocking(move || {
                run::encode_piece(
                    &seg_c,
                    &out_c,
                    subtitles::Overlays {
                        ass: ass.as_deref(),
                        logo: logo.as_ref(),
                    },
                    &p,
                    false,
                    &mut |_| {},
                    &cancel,
                )
            })
            .await?;
            files.push(path);
        }
        let out = dir.join("preview.mp4");
        let (o, a, stop) = (out.clone(), dir.join("audio.m4a"), opts.cancel.clone());
        crate::runtime::blocking(move || {
            run::encode_audio(&plan, None, &a, &stop)?;
            run::join(&plan, &files, &a, &o)
        })
        .await?;
        Ok(out)
    }
}

/// The brand's intro and outro cards over the start and the end of a
/// video of `duration` seconds, checked.
fn brand_cards(
    brand: Option<&scout_proto::scout::render::v1::Branding>,
    duration: f64,
) -> Result<Vec<crate::subtitles::Card>, RenderError> {
    let Some(brand) = brand else {
        return Ok(Vec::new());
    };
    let mut cards = Vec::new();
    for (card, which, at_start) in [
        (&brand.intro, "intro", true),
        (&brand.outro, "outro", false),
    ] {
        let Some(card) = card else { continue };
        let bad = |why: String| RenderError::InvalidArgument(format!("branding.{which}: {why}"));
        let title = card.title.trim();
        if title.is_empty() || title.chars().count() > 40 {
            return Err(bad(format!(
                "the title must be 1-40 characters, got {}",
                title.chars().count()
            )));
        }
        if card.line.chars().count() > 60 {
            return Err(bad("the line must be at most 60 characters".into()));
        }
        let seconds = match card.seconds {
            0.0 => 2.0,
            s if s.is_finite() && s > 0.0 && s <= 5.0 => s,
            s => {
                return Err(bad(format!(
                    "seconds must be above 0 and at most 5, got {s}"
                )));
            }
        };
        if seconds > duration / 2.0 {
            return Err(bad(format!(
                "{seconds} s is more than half of the {duration:.1} s video"
            )));
        }
        let background = if card.background_colour.is_empty() {
            "&H00000000".to_string()
        } else {
            crate::subtitles::ass_colour_of(
                &card.background_colour,
                &format!("branding.{which}.background_colour"),
            )?
        };
        let span = if at_start {
            (0.0, seconds)
        } else {
            (duration - seconds, duration)
        };
        cards.push(crate::subtitles::Card::new(
            title.to_string(),
            card.line.trim().to_string(),
            background,
            span,
        ));
    }
    Ok(cards)
}

/// How many pieces encode at once: where this node decodes the plan's
/// clips on NVDEC, one per NVDEC slot (each piece's window holds one
/// session) and at most one per two cores (the encoders share them);
/// otherwise one, since a software decode and libx264 already use every
/// core.
fn pieces_at_once(inputs: &Inputs, pieces: usize) -> usize {
    let on_nvdec = inputs
        .segments
        .iter()
        .any(|r| crate::media::hw::decodes_on_gpu(&r.info.video_codec, r.info.bit_depth));
    if !on_nvdec || pieces <= 1 {
        return 1;
    }
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    crate::media::hw::nvdec_pool()
        .limit()
        .min((cores / 2).max(1))
        .min(pieces)
        .max(1)
}

/// Writes the editable 剪映/CapCut draft of what was composed: the
/// segments, narration, music, captions as laid out and the mark.
async fn write_editor_draft(
    timeline: &Timeline,
    plan: &Plan,
    inputs: &Inputs,
    burn: &pieces::Burn,
    cover: &Path,
    path: &Path,
) -> Result<(), RenderError> {
    let info: HashMap<PathBuf, MediaInfo> = inputs
        .segments
        .iter()
        .chain(&inputs.voice)
        .chain(inputs.music.iter())
        .map(|r| (r.path.clone(), r.info.clone()))
        .collect();
    let name: String = match timeline.title.trim() {
        "" => "探店宝视频".to_string(),
        t => t.chars().take(40).collect(),
    };
    let (plan, events, look, font, cover, path, burned) = (
        plan.clone(),
        burn.events.clone(),
        burn.look.clone(),
        burn.font.clone(),
        cover.to_path_buf(),
        path.to_path_buf(),
        burn.cards.clone(),
    );
    let mark = burn.mark.as_ref().map(|(m, span)| draft::Mark {
        text: crate::subtitles::mark_text(m),
        corner: Corner::try_from(m.corner).unwrap_or(Corner::TopLeft),
        span: *span,
    });
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    crate::runtime::blocking(move || {
        let captions = if events.is_empty() {
            Vec::new()
        } else {
            let metrics = crate::subtitles::metrics(&font, look.bold)?;
            crate::subtitles::layout(&events, metrics, &look)
        };
        // The cards' pictures live until the zip has them.
        let pictures = tempfile::tempdir()?;
        let mut info = info;
        let canvas = (plan.output.width, plan.output.height);
        let cards = draft::cards(&burned, canvas, pictures.path(), &mut info)?;
        let sources = draft::Sources {
            info: &info,
            captions: &captions,
            style: &look,
            mark: mark.as_ref(),
            cover: Some(&cover),
            cards: &cards,
        };
        draft::write_zip(&draft::build(&plan, &sources, &name, created), &path)
    })
    .await
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
    let mut zip = crate::store::ZipOut::create(zip_path)?;
    zip.add_file(FINAL, video, false)?;
    if let Some(sub) = subtitle {
        zip.add_file(SUBTITLE, sub, true)?;
    }
    zip.add_file("voice.wav", voice, true)?;
    zip.add("segments.json", &mut &segments_json[..], true)?;
    zip.finish()
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
                    preview_key: String::new(),
                })),
            };
            // A caller that went away cancels the job.
            if let Err(mpsc::error::TrySendError::Closed(_)) = progress_tx.try_send(Ok(msg)) {
                cancel_on_drop.store(true, Ordering::Relaxed);
            }
        });
        let store = self
            .source
            .store()
            .ok_or_else(|| RenderError::Io("no blob store".into()))?;
        // The preview is published as soon as it exists and announced on
        // the stream; the full render goes on meanwhile.
        let preview: PreviewSink = {
            let (store, key, tx, gone) = (
                store.clone(),
                format!("{prefix}{PREVIEW}"),
                tx.clone(),
                cancel.clone(),
            );
            Arc::new(move |path: PathBuf| {
                let (store, key, tx, gone) = (store.clone(), key.clone(), tx.clone(), gone.clone());
                Box::pin(async move {
                    if let Err(e) = store.put_file(&key, &path, Some("video/mp4")).await {
                        tracing::warn!(error = %e, "the preview was not stored");
                        return;
                    }
                    let msg = ComposeResponse {
                        event: Some(Event::Progress(ComposeProgress {
                            percent: 15,
                            encoded_seconds: 0.0,
                            phase: "encode".into(),
                            preview_key: key,
                        })),
                    };
                    // A caller that went away cancels the job.
                    if tx.send(Ok(msg)).await.is_err() {
                        gone.store(true, Ordering::Relaxed);
                    }
                })
            })
        };
        let opts = Options {
            progress,
            cancel,
            pieces: Some(PieceStore::new(store.clone(), prefix)),
            preview: Some(preview),
        };
        let outputs = compose(
            &self.source,
            timeline,
            &self.media,
            scratch.path(),
            &out_dir,
            &opts,
        )
        .await?;
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
        // Published side by side; all or nothing.
        let started = std::time::Instant::now();
        let puts = keys.iter().filter_map(|(path, key, ct)| {
            let path = (*path)?;
            let store = store.clone();
            Some(async move { (key, store.put_file(key, path, Some(ct)).await) })
        });
        let (stored, failed): (Vec<_>, Vec<_>) = futures::future::join_all(puts)
            .await
            .into_iter()
            .partition(|(_, r)| r.is_ok());
        if let Some((_, Err(e))) = failed.into_iter().next() {
            for (k, _) in &stored {
                let _ = store.delete(k).await;
            }
            return Err(e.into());
        }
        tracing::info!(
            publish_s = started.elapsed().as_secs_f64(),
            "compose outputs published"
        );
        if outputs.subtitle.is_none() {
            // A re-run without subtitles must not leave an old subtitle behind.
            let _ = store.delete(&format!("{prefix}{SUBTITLE}")).await;
        }
        // The draft is an extra: one that cannot be stored costs no video,
        // and an old draft of another video does not stay behind.
        let draft_key = format!("{prefix}{EDITOR_DRAFT}");
        let draft_stored = match &outputs.editor_draft {
            Some(path) => match store
                .put_file(&draft_key, path, Some("application/zip"))
                .await
            {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(error = %e, "the editable draft was not stored");
                    false
                }
            },
            None => false,
        };
        if !draft_stored {
            let _ = store.delete(&draft_key).await;
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
            reused_pieces: i32::try_from(outputs.reused_pieces).unwrap_or(i32::MAX),
            pieces: i32::try_from(outputs.pieces).unwrap_or(i32::MAX),
            editor_draft_key: if draft_stored {
                draft_key
            } else {
                String::new()
            },
        })
    }
}

/// A stream over an mpsc receiver.
fn tokio_stream_from<T: Send + 'static>(mut rx: mpsc::Receiver<T>) -> impl Stream<Item = T> + Send {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
