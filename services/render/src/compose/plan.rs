//! From a timeline to a render plan: the output spec with its defaults,
//! each segment's source window, speed and fit, exact frame ranges, and
//! every input checked before a single frame is encoded.

use std::path::PathBuf;

use scout_proto::scout::render::v1::{
    Branding, Corner, FitMode, MediaInfo, OutputSpec, ShortSourcePolicy, Timeline, TransitionKind,
    segment::Source,
};
use serde::Serialize;

use crate::error::RenderError;

/// Slowest a short clip is slowed to before it is held.
pub const MIN_SPEED: f64 = 0.5;
/// A transition's length when the caller gives none, seconds.
pub const DEFAULT_TRANSITION: f64 = 0.5;
/// The longest transition, seconds (and at most half its segment's slot).
pub const MAX_TRANSITION: f64 = 2.0;
/// Longest output accepted, in seconds (memory stays bounded regardless;
/// this guards against a timeline that is plainly a mistake).
pub const MAX_DURATION: f64 = 30.0 * 60.0;

/// The encoded output, with product defaults filled in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Output {
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// Constant frame rate.
    pub fps: u32,
    /// Target video bit rate, bits/s.
    pub video_bitrate: u64,
    /// VBV max rate, bits/s.
    pub video_maxrate: u64,
    /// Audio bit rate, bits/s.
    pub audio_bitrate: u64,
    /// Audio sample rate.
    pub sample_rate: u32,
    /// x264 preset.
    pub preset: String,
    /// A draft (the preview): sources are decoded without deblocking and
    /// without their non-reference frames, which a low frame rate drops
    /// anyway.
    pub draft: bool,
}

impl Output {
    /// The spec with zero fields replaced by the product defaults.
    pub fn from_spec(spec: Option<&OutputSpec>, default_preset: &str) -> Result<Self, RenderError> {
        let s = spec.cloned().unwrap_or_default();
        let pick = |v: i32, d: u32| if v > 0 { v as u32 } else { d };
        let out = Self {
            width: pick(s.width, 1080),
            height: pick(s.height, 1920),
            fps: pick(s.fps, 30),
            video_bitrate: u64::from(pick(s.video_bitrate_kbps, 4000)) * 1000,
            video_maxrate: 0,
            audio_bitrate: u64::from(pick(s.audio_bitrate_kbps, 128)) * 1000,
            sample_rate: pick(s.audio_sample_rate, 48_000),
            preset: if s.preset.is_empty() {
                default_preset.to_string()
            } else {
                s.preset.clone()
            },
            draft: false,
        };
        let maxrate = if s.video_maxrate_kbps > 0 {
            u64::from(s.video_maxrate_kbps as u32) * 1000
        } else {
            out.video_bitrate * 3 / 2
        };
        let out = Self {
            video_maxrate: maxrate,
            ..out
        };
        if !out.width.is_multiple_of(2)
            || !out.height.is_multiple_of(2)
            || out.width > 4096
            || out.height > 4096
            || out.width < 64
            || out.height < 64
        {
            return Err(RenderError::InvalidArgument(format!(
                "output size {}x{} must be even and between 64 and 4096",
                out.width, out.height
            )));
        }
        if !(1..=60).contains(&out.fps) {
            return Err(RenderError::InvalidArgument(format!(
                "output fps {} must be 1-60",
                out.fps
            )));
        }
        if out.sample_rate != 48_000 {
            return Err(RenderError::InvalidArgument(
                "audio is always 48 kHz".into(),
            ));
        }
        const PRESETS: [&str; 9] = [
            "ultrafast",
            "superfast",
            "veryfast",
            "faster",
            "fast",
            "medium",
            "slow",
            "slower",
            "veryslow",
        ];
        if !PRESETS.contains(&out.preset.as_str()) {
            return Err(RenderError::InvalidArgument(format!(
                "x264 preset {:?} is not one of {}",
                out.preset,
                PRESETS.join(", ")
            )));
        }
        Ok(out)
    }
}

/// How a segment's source is played.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Play {
    /// A window of a video clip.
    Clip {
        /// Window start in the source, seconds.
        from: f64,
        /// Window end in the source, seconds.
        to: f64,
        /// Playback speed (1 normal, < 1 slowed).
        speed: f64,
        /// Loop the window instead of holding its last frame.
        looped: bool,
        /// Display rotation of the source.
        rotation: i32,
        /// Mix the clip's audio (only at normal speed).
        audio_gain: Option<f64>,
    },
    /// A still image.
    Still {
        /// Slow zoom.
        ken_burns: bool,
    },
}

/// One planned segment.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedSegment {
    /// Caller's id.
    pub id: String,
    /// The source as the caller named it.
    pub source: String,
    /// The local file.
    #[serde(skip)]
    pub path: PathBuf,
    /// First output frame.
    pub first_frame: u64,
    /// Output frames.
    pub frames: u64,
    /// Start in the output, seconds.
    pub start: f64,
    /// Length in the output, seconds.
    pub duration: f64,
    /// Source display size after rotation.
    pub source_size: (u32, u32),
    /// Fit.
    #[serde(serialize_with = "fit_name")]
    pub fit: FitMode,
    /// How it plays.
    pub play: Play,
    /// Seconds of the slot filled by holding the last frame (0 if none).
    pub held_seconds: f64,
    /// Where the subject is (clip seconds, x 0-1, y 0-1), for CROP_FACE.
    #[serde(skip)]
    pub focus: Vec<(f64, f64, f64)>,
    /// How it comes in over the segment before it (none: a cut).
    pub transition: Option<PlannedTransition>,
}

/// How a segment comes in: over its first `frames` frames the segment
/// before it plays on under it (`under`: that segment continued past its
/// slot) and the two are blended by `kind`.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedTransition {
    /// The blend.
    pub kind: TransitionStyle,
    /// Output frames it takes, from the segment's first.
    pub frames: u64,
    /// The segment before, continued over those frames.
    pub under: Box<PlannedSegment>,
}

/// How two pictures are blended over a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransitionStyle {
    /// One fades into the other.
    Crossfade,
    /// The first fades to black, the second fades in.
    FadeBlack,
    /// The second slides in from the right over the first.
    Slide,
}

impl PlannedSegment {
    /// This segment continued past its slot for `frames` frames from
    /// `first_frame`: a clip plays on past its window (holding its last
    /// frame where the file ends), a loop keeps looping, a still stays.
    fn continued(&self, first_frame: u64, frames: u64, fps: f64, source_end: f64) -> Self {
        let mut next = self.clone();
        next.transition = None;
        next.first_frame = first_frame;
        next.frames = frames;
        next.start = first_frame as f64 / fps;
        next.duration = frames as f64 / fps;
        next.held_seconds = 0.0;
        if let Play::Clip {
            from,
            to,
            speed,
            looped,
            ..
        } = &mut next.play
        {
            let played = self.frames as f64 / fps * *speed;
            if *looped {
                // Where the loop is when the slot ends.
                let window = (*to - *from).max(1e-3);
                *from += played % window;
            } else {
                let last_frame = (source_end - 1.0 / fps).max(0.0);
                let at = (*from + played).min(last_frame);
                let until = (at + frames as f64 / fps * *speed).min(source_end);
                *from = at;
                *to = until.max(at + 1.0 / fps);
            }
        }
        if let Play::Still { ken_burns } = &mut next.play {
            // The zoom is timed by the slot: a still goes on as it ended.
            *ken_burns = false;
        }
        next
    }
}

fn fit_name<S: serde::Serializer>(fit: &FitMode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(
        fit.as_str_name()
            .trim_start_matches("FIT_MODE_")
            .to_ascii_lowercase()
            .as_str(),
    )
}

/// One planned voice track.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedAudio {
    /// Caller's id.
    pub id: String,
    /// The source as the caller named it.
    pub source: String,
    /// The local file.
    #[serde(skip)]
    pub path: PathBuf,
    /// Start in the output, seconds.
    pub offset: f64,
    /// Its own length, seconds.
    pub duration: f64,
    /// Linear gain.
    pub gain: f64,
}

/// Background music.
#[derive(Debug, Clone)]
pub struct PlannedMusic {
    /// The local file.
    pub path: PathBuf,
    /// The source as named.
    pub source: String,
    /// Linear gain.
    pub gain: f64,
    /// Duck under voice.
    pub duck: bool,
    /// Fade length, seconds.
    pub fade: f64,
}

/// The logo drawn over every frame.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedLogo {
    /// The local image.
    pub path: PathBuf,
    /// The source as named.
    pub source: String,
    /// Its size as probed (upright).
    pub size: (u32, u32),
    /// Its corner.
    pub corner: Corner,
    /// Its width as a share of the frame's width.
    pub scale: f64,
    /// Its opacity, 0–1.
    pub opacity: f64,
}

impl PlannedLogo {
    /// Its size and top-left corner on a `w`x`h` frame, in pixels: the
    /// width `scale` of the frame's (even), clear of the platforms' bars
    /// by the AI mark's margins (scaled to the frame).
    pub fn placement(&self, w: u32, h: u32) -> (u32, u32, u32, u32) {
        let lw = ((f64::from(w) * self.scale / 2.0).round() as u32).max(1) * 2;
        let (sw, sh) = (f64::from(self.size.0.max(1)), f64::from(self.size.1.max(1)));
        let lh = ((f64::from(lw) * sh / sw / 2.0).round() as u32).max(1) * 2;
        let mx = (f64::from(w) * f64::from(crate::subtitles::MARK_MARGIN_X)
            / f64::from(crate::subtitles::PLAY_RES_X))
        .round() as u32;
        let my = (f64::from(h) * f64::from(crate::subtitles::MARK_MARGIN_V)
            / f64::from(crate::subtitles::PLAY_RES_Y))
        .round() as u32;
        let right = w.saturating_sub(lw + mx);
        let bottom = h.saturating_sub(lh + my);
        let (x, y) = match self.corner {
            Corner::TopLeft => (mx, my),
            Corner::BottomLeft => (mx, bottom),
            Corner::BottomRight => (right, bottom),
            Corner::TopRight | Corner::Unspecified => (right, my),
        };
        (lw, lh, x, y)
    }
}

/// The logo of `branding` over `image` (its probe), checked.
pub fn logo(
    branding: Option<&Branding>,
    image: Option<&Resolved>,
) -> Result<Option<PlannedLogo>, RenderError> {
    let (Some(b), Some(src)) = (branding, image) else {
        return Ok(None);
    };
    let scale = if b.logo_scale == 0.0 {
        0.18
    } else {
        b.logo_scale
    };
    if !(0.05..=0.5).contains(&scale) {
        return Err(RenderError::InvalidArgument(format!(
            "branding.logo_scale must be 0.05–0.5 of the frame's width, got {}",
            b.logo_scale
        )));
    }
    let opacity = if b.logo_opacity == 0.0 {
        0.85
    } else {
        b.logo_opacity
    };
    if !(opacity > 0.0 && opacity <= 1.0) {
        return Err(RenderError::InvalidArgument(format!(
            "branding.logo_opacity must be above 0 and at most 1, got {}",
            b.logo_opacity
        )));
    }
    let (w, h) = (
        u32::try_from(src.info.display_width.max(src.info.width)).unwrap_or(0),
        u32::try_from(src.info.display_height.max(src.info.height)).unwrap_or(0),
    );
    if w == 0 || h == 0 || src.info.duration_seconds > 0.5 {
        return Err(RenderError::media(
            &src.name,
            "is not a still image (branding logo)",
        ));
    }
    Ok(Some(PlannedLogo {
        path: src.path.clone(),
        source: src.name.clone(),
        size: (w, h),
        corner: Corner::try_from(b.logo_corner).unwrap_or(Corner::TopRight),
        scale,
        opacity,
    }))
}

/// The whole plan.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Output spec.
    pub output: Output,
    /// Segments in order.
    pub segments: Vec<PlannedSegment>,
    /// Voice tracks.
    pub voice: Vec<PlannedAudio>,
    /// Music.
    pub music: Option<PlannedMusic>,
    /// Total output frames.
    pub total_frames: u64,
    /// Total output seconds (total_frames / fps).
    pub duration: f64,
    /// Container metadata to write (the implicit AI-generated label).
    pub metadata: Vec<(String, String)>,
    /// The brand's logo over every frame.
    pub logo: Option<PlannedLogo>,
}

/// A source resolved to a local file, with its probe.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Local file.
    pub path: PathBuf,
    /// Name used in errors.
    pub name: String,
    /// Probe result.
    pub info: MediaInfo,
}

/// The planned transition into a segment of `frames` frames that follows
/// `before` (whose source is `before_info`); `None` for a cut.
fn transition(
    tr: &scout_proto::scout::render::v1::Transition,
    label: &str,
    frames: u64,
    fps: f64,
    before: &PlannedSegment,
    before_info: &MediaInfo,
) -> Result<Option<PlannedTransition>, RenderError> {
    let kind = match TransitionKind::try_from(tr.kind) {
        Ok(TransitionKind::Unspecified | TransitionKind::Cut) => return Ok(None),
        Ok(TransitionKind::Crossfade) => TransitionStyle::Crossfade,
        Ok(TransitionKind::FadeBlack) => TransitionStyle::FadeBlack,
        Ok(TransitionKind::Slide) => TransitionStyle::Slide,
        Err(_) => {
            return Err(RenderError::InvalidArgument(format!(
                "{label}: unknown transition kind {}",
                tr.kind
            )));
        }
    };
    let seconds = match tr.duration_seconds {
        0.0 => DEFAULT_TRANSITION,
        d if d.is_finite() && d > 0.0 && d <= MAX_TRANSITION => d,
        d => {
            return Err(RenderError::InvalidArgument(format!(
                "{label}: a transition lasts more than 0 and at most {MAX_TRANSITION} s, got {d}"
            )));
        }
    };
    // At most half the slot, at least one frame.
    let frames_in = ((seconds * fps).round() as u64).clamp(1, (frames / 2).max(1));
    let under = before.continued(
        before.first_frame + before.frames,
        frames_in,
        fps,
        before_info.duration_seconds,
    );
    Ok(Some(PlannedTransition {
        kind,
        frames: frames_in,
        under: Box::new(under),
    }))
}

/// Builds the plan. `resolve(i)` gives segment `i`'s probed source;
/// `voice(i)` voice track `i`'s; `music()` the music's.
pub fn plan(
    timeline: &Timeline,
    default_preset: &str,
    segments: &[Resolved],
    voice: &[Resolved],
    music: Option<&Resolved>,
) -> Result<Plan, RenderError> {
    let output = Output::from_spec(timeline.output.as_ref(), default_preset)?;
    if timeline.segments.is_empty() {
        return Err(RenderError::InvalidArgument(
            "the timeline has no segments".into(),
        ));
    }
    let fps = f64::from(output.fps);
    let mut planned = Vec::with_capacity(timeline.segments.len());
    let mut t = 0.0f64;
    for (i, (seg, src)) in timeline.segments.iter().zip(segments).enumerate() {
        let label = if seg.id.is_empty() {
            format!("segment {}", i + 1)
        } else {
            format!("segment {:?}", seg.id)
        };
        if !(seg.duration_seconds.is_finite() && seg.duration_seconds > 0.0) {
            return Err(RenderError::InvalidArgument(format!(
                "{label}: duration_seconds must be positive, got {}",
                seg.duration_seconds
            )));
        }
        let fit = FitMode::try_from(seg.fit).unwrap_or(FitMode::Unspecified);
        let fit = match fit {
            FitMode::Unspecified => FitMode::BlurPad,
            FitMode::CropFace => match &seg.source {
                Some(Source::Clip(c)) if !c.focus.is_empty() => FitMode::CropFace,
                _ => {
                    return Err(RenderError::InvalidArgument(format!(
                        "{label}: fit CROP_FACE needs the clip's focus points from shot analysis (source.clip.focus); use BLUR_PAD, LETTERBOX or CROP_CENTER without them"
                    )));
                }
            },
            other => other,
        };
        let mut focus: Vec<(f64, f64, f64)> = match &seg.source {
            Some(Source::Clip(c)) => c
                .focus
                .iter()
                .filter(|p| p.time_seconds.is_finite())
                .map(|p| (p.time_seconds, p.x.clamp(0.0, 1.0), p.y.clamp(0.0, 1.0)))
                .collect(),
            _ => Vec::new(),
        };
        focus.sort_by(|a, b| a.0.total_cmp(&b.0));
        let start = t;
        let end = t + seg.duration_seconds;
        let first_frame = (start * fps).round() as u64;
        let frames = ((end * fps).round() as u64)
            .saturating_sub(first_frame)
            .max(1);
        let info = &src.info;
        let size = (
            info.display_width.max(0) as u32,
            info.display_height.max(0) as u32,
        );
        let (play, held) = match &seg.source {
            Some(Source::Clip(clip)) => {
                if info.video_codec.is_empty() {
                    return Err(RenderError::media(&src.name, "has no video stream"));
                }
                let d = seg.duration_seconds;
                let s = info.duration_seconds;
                let (mut from, mut to) = if clip.in_seconds == 0.0 && clip.out_seconds == 0.0 {
                    (0.0, s)
                } else {
                    (
                        clip.in_seconds.clamp(0.0, s),
                        clip.out_seconds.clamp(0.0, s),
                    )
                };
                if to <= from {
                    return Err(RenderError::InvalidArgument(format!(
                        "{label}: the window {:.2}-{:.2} s is empty for a {s:.2} s clip",
                        clip.in_seconds, clip.out_seconds
                    )));
                }
                let window = to - from;
                let policy = ShortSourcePolicy::try_from(seg.short_source)
                    .unwrap_or(ShortSourcePolicy::Unspecified);
                let (speed, looped, held) = if window >= d {
                    // Centre the slot in the window: the middle of a shot is its best part.
                    let mid = (from + to) / 2.0;
                    from = mid - d / 2.0;
                    to = mid + d / 2.0;
                    (1.0, false, 0.0)
                } else {
                    match policy {
                        ShortSourcePolicy::Loop => (1.0, true, 0.0),
                        ShortSourcePolicy::Hold => (1.0, false, d - window),
                        ShortSourcePolicy::SlowThenHold | ShortSourcePolicy::Unspecified => {
                            let speed = (window / d).max(MIN_SPEED);
                            (speed, false, (d - window / speed).max(0.0))
                        }
                    }
                };
                let audio_gain = seg
                    .audio
                    .as_ref()
                    .filter(|a| a.mix && info.has_audio && (speed - 1.0).abs() < 1e-9)
                    .map(|a| {
                        if a.volume > 0.0 {
                            a.volume.min(2.0)
                        } else {
                            1.0
                        }
                    });
                (
                    Play::Clip {
                        from,
                        to,
                        speed,
                        looped,
                        rotation: info.rotation,
                        audio_gain,
                    },
                    held,
                )
            }
            Some(Source::Still(still)) => (
                Play::Still {
                    ken_burns: still.ken_burns,
                },
                0.0,
            ),
            // A slide: drawn into a picture before planning, held still.
            Some(Source::Scene(_)) => (Play::Still { ken_burns: false }, 0.0),
            None => return Err(RenderError::InvalidArgument(format!("{label}: no source"))),
        };
        let transition = match (&seg.transition_in, planned.last()) {
            (Some(tr), Some(before)) => {
                transition(tr, &label, frames, fps, before, &segments[i - 1].info)?
            }
            _ => None,
        };
        planned.push(PlannedSegment {
            id: seg.id.clone(),
            source: src.name.clone(),
            path: src.path.clone(),
            first_frame,
            frames,
            start,
            duration: seg.duration_seconds,
            source_size: size,
            fit,
            play,
            held_seconds: held,
            focus,
            transition,
        });
        t = end;
    }
    let total_frames = planned
        .last()
        .map(|s| s.first_frame + s.frames)
        .unwrap_or(0);
    let duration = total_frames as f64 / fps;
    if duration > MAX_DURATION {
        return Err(RenderError::InvalidArgument(format!(
            "the timeline is {duration:.0} s long; at most {MAX_DURATION:.0} s"
        )));
    }
    let mut planned_voice = Vec::new();
    for (i, (track, src)) in timeline.voice.iter().zip(voice).enumerate() {
        if !src.info.has_audio {
            return Err(RenderError::media(&src.name, "has no audio stream"));
        }
        if track.offset_seconds < 0.0 || !track.offset_seconds.is_finite() {
            return Err(RenderError::InvalidArgument(format!(
                "voice track {}: offset must be 0 or more",
                i + 1
            )));
        }
        planned_voice.push(PlannedAudio {
            id: track.id.clone(),
            source: src.name.clone(),
            path: src.path.clone(),
            offset: track.offset_seconds,
            duration: src.info.duration_seconds,
            gain: if track.volume > 0.0 {
                track.volume.min(2.0)
            } else {
                1.0
            },
        });
    }
    let planned_music = match (timeline.music.as_ref(), music) {
        (Some(m), Some(src)) => {
            if !src.info.has_audio {
                return Err(RenderError::media(&src.name, "has no audio stream"));
            }
            Some(PlannedMusic {
                path: src.path.clone(),
                source: src.name.clone(),
                gain: if m.volume > 0.0 {
                    m.volume.min(2.0)
                } else {
                    0.3
                },
                duck: m.duck_under_voice,
                fade: m.fade_seconds.clamp(0.0, 10.0),
            })
        }
        _ => None,
    };
    Ok(Plan {
        output,
        segments: planned,
        voice: planned_voice,
        music: planned_music,
        total_frames,
        duration,
        metadata: timeline
            .aigc
            .as_ref()
            .map(super::aigc::metadata)
            .unwrap_or_default(),
        logo: None,
    })
}

/// The libavfilter chain that makes a `w`x`h` upright source fill the output.
pub fn fit_chain(fit: FitMode, source: (u32, u32), out: (u32, u32)) -> String {
    let (ow, oh) = out;
    let (sw, sh) = (source.0.max(1), source.1.max(1));
    let same_aspect =
        ((f64::from(sw) / f64::from(sh)) / (f64::from(ow) / f64::from(oh)) - 1.0).abs() < 0.01;
    if same_aspect {
        return format!("scale={ow}:{oh}:flags=bicubic,setsar=1");
    }
    match fit {
        FitMode::Letterbox => format!(
            "scale={ow}:{oh}:force_original_aspect_ratio=decrease:flags=bicubic,pad={ow}:{oh}:(ow-iw)/2:(oh-ih)/2:color=black,setsar=1"
        ),
        FitMode::CropCenter => format!(
            "scale={ow}:{oh}:force_original_aspect_ratio=increase:flags=bicubic,crop={ow}:{oh},setsar=1"
        ),
        // Blurred background: the blur runs at a quarter of the size (16x
        // fewer pixels), then scales up — same look, a fraction of the CPU.
        _ => {
            let (bw, bh) = ((ow / 4) & !1, (oh / 4) & !1);
            format!(
                "split=2[bg][fg];\
                 [bg]scale={bw}:{bh}:force_original_aspect_ratio=increase,crop={bw}:{bh},boxblur=luma_radius=10:luma_power=2:chroma_radius=5,scale={ow}:{oh}:flags=bilinear[bgs];\
                 [fg]scale={ow}:{oh}:force_original_aspect_ratio=decrease:flags=bicubic[fgs];\
                 [bgs][fgs]overlay=(W-w)/2:(H-h)/2:format=yuv420,setsar=1"
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scout_proto::scout::render::v1::{ClipSource, Segment, SegmentAudio};

    fn clip(duration: f64) -> Resolved {
        Resolved {
            path: PathBuf::from("/x.mp4"),
            name: "x.mp4".into(),
            info: MediaInfo {
                video_codec: "h264".into(),
                duration_seconds: duration,
                display_width: 1080,
                display_height: 1920,
                has_audio: true,
                ..Default::default()
            },
        }
    }

    fn seg(d: f64, policy: ShortSourcePolicy) -> Segment {
        Segment {
            id: String::new(),
            source: Some(Source::Clip(ClipSource {
                media: None,
                in_seconds: 0.0,
                out_seconds: 0.0,
                focus: Vec::new(),
            })),
            duration_seconds: d,
            fit: 0,
            short_source: policy as i32,
            audio: Some(SegmentAudio {
                mix: true,
                volume: 0.0,
            }),
            transition_in: None,
        }
    }

    #[test]
    fn windows_are_centred_and_short_clips_slow_then_hold() {
        let tl = Timeline {
            segments: vec![
                seg(4.0, ShortSourcePolicy::Unspecified),
                seg(3.0, ShortSourcePolicy::Unspecified),
                seg(3.0, ShortSourcePolicy::Hold),
            ],
            ..Default::default()
        };
        let p = plan(
            &tl,
            "veryfast",
            &[clip(10.0), clip(1.0), clip(2.0)],
            &[],
            None,
        )
        .expect("plan");
        match &p.segments[0].play {
            Play::Clip {
                from, to, speed, ..
            } => assert_eq!((*from, *to, *speed), (3.0, 7.0, 1.0)),
            other => panic!("{other:?}"),
        }
        match &p.segments[1].play {
            Play::Clip {
                speed, audio_gain, ..
            } => {
                assert_eq!(
                    *speed, MIN_SPEED,
                    "a 1 s clip in a 3 s slot is slowed to half speed"
                );
                assert_eq!(*audio_gain, None, "slowed clips are not mixed");
            }
            other => panic!("{other:?}"),
        }
        assert!(
            (p.segments[1].held_seconds - 1.0).abs() < 1e-9,
            "then held for the last second"
        );
        assert!((p.segments[2].held_seconds - 1.0).abs() < 1e-9);
        assert_eq!(p.total_frames, 300);
        assert_eq!(p.segments.iter().map(|s| s.frames).sum::<u64>(), 300);
        assert_eq!(p.output.width, 1080);
        assert_eq!(p.output.video_maxrate, 6_000_000);
    }

    #[test]
    fn frame_ranges_do_not_drift() {
        let segs: Vec<Segment> = (0..7)
            .map(|_| seg(8.4333, ShortSourcePolicy::Unspecified))
            .collect();
        let tl = Timeline {
            segments: segs,
            ..Default::default()
        };
        let clips: Vec<Resolved> = (0..7).map(|_| clip(20.0)).collect();
        let p = plan(&tl, "veryfast", &clips, &[], None).expect("plan");
        assert_eq!(p.total_frames, (7.0f64 * 8.4333 * 30.0).round() as u64);
        for w in p.segments.windows(2) {
            assert_eq!(w[0].first_frame + w[0].frames, w[1].first_frame);
        }
    }

    #[test]
    fn bad_timelines_are_refused_with_reasons() {
        let empty = Timeline::default();
        assert!(plan(&empty, "veryfast", &[], &[], None).is_err());
        let tl = Timeline {
            segments: vec![seg(0.0, ShortSourcePolicy::Unspecified)],
            ..Default::default()
        };
        let e = plan(&tl, "veryfast", &[clip(5.0)], &[], None).expect_err("zero duration");
        assert!(
            e.to_string().contains("duration_seconds must be positive"),
            "{e}"
        );
        let mut s = seg(2.0, ShortSourcePolicy::Unspecified);
        s.fit = FitMode::CropFace as i32;
        let e = plan(
            &Timeline {
                segments: vec![s],
                ..Default::default()
            },
            "veryfast",
            &[clip(5.0)],
            &[],
            None,
        )
        .expect_err("crop face");
        assert!(e.to_string().contains("CROP_FACE"), "{e}");
        let tl = Timeline {
            segments: vec![seg(2.0, ShortSourcePolicy::Unspecified)],
            output: Some(OutputSpec {
                width: 1081,
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(plan(&tl, "veryfast", &[clip(5.0)], &[], None).is_err());
    }

    #[test]
    fn fit_chains() {
        assert_eq!(
            fit_chain(FitMode::BlurPad, (1080, 1920), (1080, 1920)),
            "scale=1080:1920:flags=bicubic,setsar=1"
        );
        assert!(fit_chain(FitMode::BlurPad, (1920, 1080), (1080, 1920)).contains("boxblur"));
        assert!(
            fit_chain(FitMode::Letterbox, (1920, 1080), (1080, 1920)).contains("pad=1080:1920")
        );
        assert!(
            fit_chain(FitMode::CropCenter, (1920, 1080), (1080, 1920)).contains("crop=1080:1920")
        );
    }

    #[test]
    fn transitions_take_the_incoming_slot_and_the_one_before_plays_on() {
        use scout_proto::scout::render::v1::{Transition, TransitionKind};
        let with = |kind: TransitionKind, seconds: f64| Timeline {
            segments: vec![
                Segment {
                    transition_in: Some(Transition {
                        kind: TransitionKind::Crossfade as i32,
                        duration_seconds: 0.5,
                    }),
                    ..seg(2.0, ShortSourcePolicy::Unspecified)
                },
                Segment {
                    transition_in: Some(Transition {
                        kind: kind as i32,
                        duration_seconds: seconds,
                    }),
                    ..seg(1.0, ShortSourcePolicy::Unspecified)
                },
            ],
            ..Default::default()
        };
        let sources = [clip(2.5), clip(10.0)];
        let p = plan(
            &with(TransitionKind::Slide, 0.0),
            "veryfast",
            &sources,
            &[],
            None,
        )
        .expect("plan");
        assert!(
            p.segments[0].transition.is_none(),
            "nothing comes before the first"
        );
        let t = p.segments[1].transition.as_ref().expect("a transition");
        assert_eq!(t.kind, TransitionStyle::Slide);
        assert_eq!(t.frames, 15, "0 means 0.5 s");
        assert_eq!(
            (p.segments[1].first_frame, p.total_frames),
            (60, 90),
            "nothing moved"
        );
        // The first clip (2.5 s, its 2 s window centred: 0.25-2.25) plays on
        // past its window: from 2.25 s, at most to the end of the file.
        assert_eq!(t.under.first_frame, 60);
        assert_eq!(t.under.frames, 15);
        match t.under.play {
            Play::Clip { from, to, .. } => {
                assert!(
                    (from - 2.25).abs() < 1e-9 && (to - 2.5).abs() < 1e-9,
                    "{from}-{to}"
                )
            }
            _ => panic!("a clip"),
        }
        // At most half the slot; a cut is none; too long or unknown is refused.
        let half = plan(
            &with(TransitionKind::FadeBlack, 2.0),
            "veryfast",
            &sources,
            &[],
            None,
        )
        .expect("plan");
        assert_eq!(
            half.segments[1].transition.as_ref().map(|t| t.frames),
            Some(15)
        );
        let cut = plan(
            &with(TransitionKind::Cut, 1.0),
            "veryfast",
            &sources,
            &[],
            None,
        )
        .expect("plan");
        assert!(cut.segments[1].transition.is_none());
        let long = plan(
            &with(TransitionKind::Crossfade, 2.5),
            "veryfast",
            &sources,
            &[],
            None,
        )
        .expect_err("too long");
        assert!(long.to_string().contains("at most 2 s"), "{long}");
        let mut unknown = with(TransitionKind::Crossfade, 0.5);
        if let Some(t) = unknown.segments[1].transition_in.as_mut() {
            t.kind = 99;
        }
        let e = plan(&unknown, "veryfast", &sources, &[], None).expect_err("unknown");
        assert!(e.to_string().contains("unknown transition kind 99"), "{e}");
    }
}
