//! The seed 000 rule for narrated shop videos, as a timeline: each
//! paragraph's shot lasts its measured speech plus half a second, cut from
//! the middle of the shot; the speech starts with the shot; its captions
//! follow the voice: one per phrase (phrases joined up to a line's worth),
//! each shown from its first word to the next caption, with every word's
//! time for the karaoke style.

use scout_proto::scout::common::v1::{FocusPoint, ShotCategory, SpeechRate, SubtitleStyle};
use scout_proto::scout::render::v1::{
    AudioTrack, ClipSource, FitMode, MediaRef, MusicTrack, OutputSpec, Scene, SceneSource, Segment,
    SegmentAudio, ShortSourcePolicy, StillSource, SubtitleEvent, Subtitles, Timeline, Transition,
    WordTiming, segment::Source,
};

use crate::voice::align::{self, Word};

/// Pause after each paragraph, seconds.
pub const PARAGRAPH_GAP: f64 = 0.5;

/// How long a paragraph spoken at `voice` lasts in the video: the voice's
/// own lead-in and tail plus the pause after it.
pub fn in_video(voice: SpeechRate) -> SpeechRate {
    SpeechRate {
        paragraph_seconds: ((voice.paragraph_seconds + PARAGRAPH_GAP) * 1000.0).round() / 1000.0,
        ..voice
    }
}

/// One narrated paragraph.
#[derive(Debug, Clone)]
pub struct Paragraph {
    /// Paragraph id, e.g. para_1.
    pub id: String,
    /// The shot.
    pub clip: MediaRef,
    /// The speech.
    pub voice: MediaRef,
    /// Measured speech length, seconds.
    pub voice_seconds: f64,
    /// The words, for the caption.
    pub text: String,
    /// When each word is spoken, from the start of its speech (empty when
    /// unknown: one caption for the paragraph).
    pub words: Vec<Word>,
    /// How the shot fills the frame: BLUR_PAD, or CROP_FACE for a person
    /// shot with faces found (then `focus` is where they are).
    pub fit: FitMode,
    /// Where the shot's subject is (shot analysis).
    pub focus: Vec<FocusPoint>,
    /// A slide shown instead of the shot (doc_explainer).
    pub scene: Option<Scene>,
    /// The shot is a picture: shown still with a slow zoom, filling the
    /// frame (topic_short's generated pictures).
    pub still: bool,
}

impl Paragraph {
    /// The fit for a shot of `category` whose subject is at `focus`: a
    /// person shot where faces were found is cropped around them; anything
    /// else is blur-padded.
    pub fn fit_for(category: ShotCategory, focus: &[FocusPoint]) -> FitMode {
        if category == ShotCategory::Person && focus.iter().any(|p| p.face) {
            FitMode::CropFace
        } else {
            FitMode::BlurPad
        }
    }
}

/// Most spoken weight (CJK characters, a Latin word counting 1.5) in one
/// caption: about a line.
pub const CAPTION_WEIGHT: f64 = 13.0;

/// The paragraph's captions, starting `offset` seconds into the video.
fn captions(p: &Paragraph, offset: f64) -> Vec<SubtitleEvent> {
    let whole = || {
        vec![SubtitleEvent {
            start_seconds: offset,
            end_seconds: offset + p.voice_seconds,
            text: p.text.clone(),
            words: Vec::new(),
        }]
    };
    let weights = align::words(&p.text);
    if p.words.is_empty() || weights.len() != p.words.len() {
        return whole();
    }
    // Phrases (word ranges) joined while they fit a caption.
    let mut groups: Vec<(usize, usize)> = Vec::new();
    let (mut from, mut weight) = (0, 0.0);
    let mut phrase_start = 0;
    let mut phrase_weight = 0.0;
    for (i, w) in weights.iter().enumerate() {
        phrase_weight += w.1;
        let ends = w.2 || i + 1 == weights.len();
        if !ends {
            continue;
        }
        if weight > 0.0 && weight + phrase_weight > CAPTION_WEIGHT {
            groups.push((from, phrase_start));
            from = phrase_start;
            weight = 0.0;
        }
        weight += phrase_weight;
        phrase_start = i + 1;
        phrase_weight = 0.0;
    }
    groups.push((from, weights.len()));
    let end_of_speech = offset + p.voice_seconds;
    let mut events: Vec<SubtitleEvent> = groups
        .iter()
        .filter(|(a, b)| b > a)
        .map(|&(a, b)| SubtitleEvent {
            start_seconds: offset + p.words[a].start,
            end_seconds: end_of_speech.min(offset + p.words[b - 1].end + 0.3),
            text: p.words[a..b].iter().map(|w| w.text.as_str()).collect(),
            words: p.words[a..b]
                .iter()
                .map(|w| WordTiming {
                    text: w.text.clone(),
                    start_seconds: offset + w.start,
                    end_seconds: offset + w.end,
                })
                .collect(),
        })
        .collect();
    // Each caption stays until the next one starts (no flicker between).
    for i in 1..events.len() {
        let next = events[i].start_seconds;
        events[i - 1].end_seconds = next.max(events[i - 1].start_seconds + 0.1);
    }
    events
}

/// Every shot after the first comes in with `transition`, shortened to
/// half its slot where the slot is short (the timeline's rule); a cut stays
/// a cut.
pub fn transitions(timeline: &mut Timeline, transition: &Transition) {
    let wanted = if transition.duration_seconds > 0.0 {
        transition.duration_seconds
    } else {
        0.5
    };
    for s in timeline.segments.iter_mut().skip(1) {
        s.transition_in = Some(Transition {
            kind: transition.kind,
            duration_seconds: wanted.min(s.duration_seconds / 2.0),
        });
    }
}

/// The timeline for `paragraphs`; captions in `style` when given.
pub fn timeline(
    paragraphs: &[Paragraph],
    style: Option<SubtitleStyle>,
    music: Option<MusicTrack>,
    output: Option<OutputSpec>,
) -> Timeline {
    let mut segments = Vec::with_capacity(paragraphs.len());
    let mut voice = Vec::with_capacity(paragraphs.len());
    let mut events = Vec::with_capacity(paragraphs.len());
    // Every slot is a whole number of frames, so each paragraph starts on a
    // frame and its shot's frames depend on its own length alone: an edit
    // elsewhere moves a paragraph without changing its pictures (and the
    // encoded piece of it is reused, see `compose::pieces`).
    let fps = f64::from(
        output
            .as_ref()
            .map(|o| o.fps)
            .filter(|f| *f > 0)
            .unwrap_or(30),
    );
    let mut frame = 0u64;
    for p in paragraphs {
        let frames = ((p.voice_seconds + PARAGRAPH_GAP) * fps).round().max(1.0) as u64;
        let slot = frames as f64 / fps;
        let t = frame as f64 / fps;
        let source = match &p.scene {
            Some(scene) => Source::Scene(SceneSource {
                scene: Some(scene.clone()),
            }),
            None if p.still => Source::Still(StillSource {
                media: Some(p.clip.clone()),
                ken_burns: true,
            }),
            None => Source::Clip(ClipSource {
                media: Some(p.clip.clone()),
                in_seconds: 0.0,
                out_seconds: 0.0,
                focus: p.focus.clone(),
            }),
        };
        segments.push(Segment {
            id: p.id.clone(),
            source: Some(source),
            duration_seconds: slot,
            fit: match p.fit {
                _ if p.still && p.scene.is_none() => FitMode::CropCenter,
                FitMode::CropFace if !p.focus.is_empty() => FitMode::CropFace,
                FitMode::Unspecified | FitMode::CropFace => FitMode::BlurPad,
                other => other,
            } as i32,
            short_source: ShortSourcePolicy::SlowThenHold as i32,
            audio: Some(SegmentAudio {
                mix: false,
                volume: 0.0,
            }),
            transition_in: None,
        });
        voice.push(AudioTrack {
            media: Some(p.voice.clone()),
            offset_seconds: t,
            volume: 1.0,
            id: p.id.clone(),
        });
        events.extend(captions(p, t));
        frame += frames;
    }
    Timeline {
        segments,
        voice,
        music,
        subtitles: style.map(|s| Subtitles {
            style: s as i32,
            events,
            font_family: String::new(),
        }),
        output,
        aigc: None,
        title: String::new(),
        branding: None,
    }
}
