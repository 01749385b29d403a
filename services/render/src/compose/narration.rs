//! The seed 000 rule for narrated shop videos, as a timeline: each
//! paragraph's shot lasts its measured speech plus half a second, cut from
//! the middle of the shot; the speech starts with the shot; its caption
//! shows while it is spoken.

use scout_proto::scout::common::v1::{SpeechRate, SubtitleStyle};
use scout_proto::scout::render::v1::{
    AudioTrack, ClipSource, FitMode, MediaRef, MusicTrack, OutputSpec, Segment, SegmentAudio,
    ShortSourcePolicy, SubtitleEvent, Subtitles, Timeline, segment::Source,
};

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
    let mut t = 0.0;
    for p in paragraphs {
        let slot = p.voice_seconds + PARAGRAPH_GAP;
        segments.push(Segment {
            id: p.id.clone(),
            source: Some(Source::Clip(ClipSource {
                media: Some(p.clip.clone()),
                in_seconds: 0.0,
                out_seconds: 0.0,
            })),
            duration_seconds: slot,
            fit: FitMode::BlurPad as i32,
            short_source: ShortSourcePolicy::SlowThenHold as i32,
            audio: Some(SegmentAudio {
                mix: false,
                volume: 0.0,
            }),
        });
        voice.push(AudioTrack {
            media: Some(p.voice.clone()),
            offset_seconds: t,
            volume: 1.0,
            id: p.id.clone(),
        });
        events.push(SubtitleEvent {
            start_seconds: t,
            end_seconds: t + p.voice_seconds,
            text: p.text.clone(),
        });
        t += slot;
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
    }
}
