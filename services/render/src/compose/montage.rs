//! The timeline of a music video or an ad creative (seed 004): product
//! images, one scene each (cycled when the video is long), slowly pushed
//! in, cut on the backing track's beats; the track looped or trimmed to
//! the video's length; the tagline over the images; an ad ends on a card
//! with the product's name and call to action, over a held last scene.
//! Animated (seed 004's generative video), each scene plays its image's
//! moving clip instead.

use scout_proto::scout::common::v1::SubtitleStyle;
use scout_proto::scout::jobs::v1::Montage;
use scout_proto::scout::render::v1::segment::Source;
use scout_proto::scout::render::v1::{
    Branding, ClipSource, FitMode, MediaRef, MusicTrack, OutputSpec, Segment, SegmentAudio,
    ShortSourcePolicy, StillSource, SubtitleEvent, Subtitles, Timeline,
};

/// A music video's length when none is asked for: the track's, up to this.
pub const DEFAULT_MAX_SECONDS: f64 = 60.0;
/// A scene holds at most this long before the next image comes in.
pub const LONGEST_SCENE: f64 = 4.0;
/// A scene holds at least this long.
pub const SHORTEST_SCENE: f64 = 0.75;
/// The track fades in and out over this long.
pub const MUSIC_FADE: f64 = 0.5;

/// The video's length: the target when given, else the track's up to
/// [`DEFAULT_MAX_SECONDS`].
pub fn length(target: f64, track_seconds: f64) -> f64 {
    if target > 0.0 {
        target
    } else {
        track_seconds.min(DEFAULT_MAX_SECONDS)
    }
}

/// The track's beats over a video of `length` seconds: those of the track,
/// then again for every time it loops.
pub fn looped_beats(beats: &[f64], track_seconds: f64, length: f64) -> Vec<f64> {
    let mut out = Vec::new();
    if track_seconds <= 0.0 {
        return out;
    }
    let mut offset = 0.0;
    while offset < length {
        out.extend(
            beats
                .iter()
                .map(|b| b + offset)
                .filter(|t| *t < length && *t < offset + track_seconds),
        );
        offset += track_seconds;
    }
    out
}

/// How many scenes `images` images make over `body` seconds: one each,
/// cycled so none holds past [`LONGEST_SCENE`], fewer when they would pass
/// faster than [`SHORTEST_SCENE`].
pub fn scene_count(body: f64, images: usize) -> usize {
    let most = (body / SHORTEST_SCENE).floor().max(1.0) as usize;
    let least = (body / LONGEST_SCENE).ceil().max(1.0) as usize;
    images.max(least).min(most).max(1)
}

/// The scene boundaries as output frames, from 0 to `frames`: `count`
/// even scenes, each cut moved to the nearest beat within half a scene
/// (never closer than [`SHORTEST_SCENE`] to its neighbours), then put on
/// the frame grid.
pub fn cuts(frames: u64, fps: u32, count: usize, beats: &[f64]) -> Vec<u64> {
    let fps_f = f64::from(fps);
    let body = frames as f64 / fps_f;
    let scene = body / count.max(1) as f64;
    let mut bounds = vec![0u64];
    let mut last = 0.0f64;
    for i in 1..count {
        let even = scene * i as f64;
        let remaining = count - i;
        let latest = body - SHORTEST_SCENE * remaining as f64;
        let snapped = beats
            .iter()
            .copied()
            .filter(|b| (b - even).abs() <= scene / 2.0)
            .filter(|b| *b >= last + SHORTEST_SCENE && *b <= latest)
            .min_by(|a, b| (a - even).abs().total_cmp(&(b - even).abs()))
            .unwrap_or(even.clamp(last + SHORTEST_SCENE, latest.max(last + SHORTEST_SCENE)));
        let frame =
            ((snapped * fps_f).round() as u64).clamp(bounds[i - 1] + 1, frames.saturating_sub(1));
        bounds.push(frame);
        last = frame as f64 / fps_f;
    }
    bounds.push(frames);
    bounds.dedup();
    bounds
}

/// The montage's timeline over `track_seconds` of backing track with
/// `beats` (the track's own, from its start). The cuts it placed are the
/// segments' starts.
pub fn timeline(
    m: &Montage,
    track_seconds: f64,
    beats: &[f64],
    style: Option<SubtitleStyle>,
    output: Option<OutputSpec>,
) -> Timeline {
    let fps = output
        .as_ref()
        .map(|o| o.fps)
        .filter(|f| *f > 0)
        .unwrap_or(30)
        .max(1) as u32;
    let fps_f = f64::from(fps);
    let total = (length(m.target_seconds, track_seconds) * fps_f)
        .round()
        .max(1.0) as u64;
    let card_frames = m
        .end_card
        .as_ref()
        .map(|c| ((if c.seconds > 0.0 { c.seconds } else { 2.0 }) * fps_f).round() as u64)
        .unwrap_or(0)
        .min(total / 2);
    let body = total - card_frames;
    let looped = looped_beats(beats, track_seconds, body as f64 / fps_f);
    let count = scene_count(body as f64 / fps_f, m.images.len());
    let bounds = cuts(body, fps, count, &looped);
    let still = |i: usize, ken_burns: bool, frames: u64, id: String| Segment {
        id,
        source: Some(Source::Still(StillSource {
            media: m.images.get(i % m.images.len().max(1)).cloned(),
            ken_burns,
        })),
        duration_seconds: frames as f64 / fps_f,
        fit: FitMode::BlurPad as i32,
        short_source: ShortSourcePolicy::Hold as i32,
        audio: None,
        transition_in: None,
    };
    let mut segments: Vec<Segment> = bounds
        .windows(2)
        .enumerate()
        .map(|(i, w)| still(i, true, w[1] - w[0], format!("scene_{:03}", i + 1)))
        .collect();
    if card_frames > 0 {
        segments.push(still(
            segments.len().saturating_sub(1),
            false,
            card_frames,
            "end_card".to_string(),
        ));
    }
    let subtitles = style
        .filter(|_| !m.tagline.trim().is_empty())
        .map(|s| Subtitles {
            style: s as i32,
            events: vec![SubtitleEvent {
                start_seconds: 0.0,
                end_seconds: body as f64 / fps_f,
                text: m.tagline.trim().to_string(),
                words: Vec::new(),
            }],
            font_family: String::new(),
        });
    Timeline {
        segments,
        voice: Vec::new(),
        music: m.track.clone().map(|media| MusicTrack {
            media: Some(media),
            volume: 1.0,
            duck_under_voice: false,
            fade_seconds: MUSIC_FADE,
        }),
        subtitles,
        output,
        aigc: None,
        title: String::new(),
        branding: m.end_card.clone().map(|card| Branding {
            outro: Some(card),
            ..Branding::default()
        }),
    }
}

/// An animated montage (seed 004): each scene of image `i` plays
/// `clips[i]`, the image made to move, looped should the scene outlast it;
/// the end card keeps its still. `clips` in the images' order, one each
/// (else nothing changes).
pub fn with_clips(timeline: &mut Timeline, images: &[MediaRef], clips: &[MediaRef]) {
    if clips.len() != images.len() || clips.is_empty() {
        return;
    }
    for s in timeline.segments.iter_mut() {
        let Some(Source::Still(still)) = &s.source else {
            continue;
        };
        if !still.ken_burns {
            continue;
        }
        let Some(i) = images.iter().position(|m| Some(m) == still.media.as_ref()) else {
            continue;
        };
        s.source = Some(Source::Clip(ClipSource {
            media: Some(clips[i].clone()),
            in_seconds: 0.0,
            out_seconds: 0.0,
            focus: Vec::new(),
        }));
        s.short_source = ShortSourcePolicy::Loop as i32;
        s.audio = Some(SegmentAudio {
            mix: false,
            volume: 0.0,
        });
    }
}

/// The samples of the track (mono at `rate`, looped as the mix loops it)
/// under `seconds` of video from `start`: what a lip-synced scene sings.
pub fn track_slice(
    samples: &[f32],
    rate: f64,
    track_seconds: f64,
    start: f64,
    seconds: f64,
) -> Vec<f32> {
    let track = ((track_seconds * rate) as usize).min(samples.len()).max(1);
    let from = (start * rate).round() as usize;
    let n = (seconds * rate).round() as usize;
    (from..from + n)
        .map(|i| samples.get(i % track).copied().unwrap_or(0.0))
        .collect()
}

/// The brand's look over a montage's own end card: the card keeps the
/// product's words, in the brand's card colour when it has one.
pub fn with_brand(timeline: &mut Timeline, brand: Option<Branding>) {
    let Some(mut brand) = brand else { return };
    if let Some(card) = timeline.branding.as_ref().and_then(|b| b.outro.clone()) {
        let colour = brand
            .outro
            .as_ref()
            .map(|c| c.background_colour.clone())
            .unwrap_or_default();
        brand.outro = Some(scout_proto::scout::render::v1::Card {
            background_colour: if card.background_colour.is_empty() {
                colour
            } else {
                card.background_colour
            },
            ..card
        });
    }
    timeline.branding = Some(brand);
}

/// The scene starts of a timeline, seconds (its cuts).
pub fn cut_times(timeline: &Timeline) -> Vec<f64> {
    let mut t = 0.0;
    let mut out = Vec::new();
    for s in &timeline.segments {
        out.push(t);
        t += s.duration_seconds;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use scout_proto::scout::render::v1::{Card, MediaRef};

    fn montage(images: usize, target: f64, card: bool) -> Montage {
        Montage {
            images: (0..images).map(|_| MediaRef::default()).collect(),
            track: Some(MediaRef::default()),
            target_seconds: target,
            tagline: "好茶".into(),
            end_card: card.then(|| Card {
                title: "茶".into(),
                line: "立即购买".into(),
                seconds: 3.0,
                background_colour: String::new(),
            }),
            ..Montage::default()
        }
    }

    #[test]
    fn a_scenes_slice_of_the_track_loops_as_the_mix_does() {
        let samples: Vec<f32> = (0..10).map(|i| i as f32).collect();
        // A 10-sample track at 2 samples a second: 5 s long.
        assert_eq!(track_slice(&samples, 2.0, 5.0, 1.0, 1.5), [2.0, 3.0, 4.0]);
        assert_eq!(
            track_slice(&samples, 2.0, 5.0, 4.0, 2.0),
            [8.0, 9.0, 0.0, 1.0]
        );
    }

    #[test]
    fn an_animated_montage_plays_each_images_clip_and_keeps_the_card_still() {
        let blob = |k: &str| MediaRef {
            location: Some(scout_proto::scout::render::v1::media_ref::Location::BlobKey(k.into())),
        };
        let mut m = montage(0, 9.0, true);
        m.images = vec![blob("a.png"), blob("b.png")];
        let beats: Vec<f64> = (0..20).map(|i| 0.25 + 0.5 * f64::from(i)).collect();
        let mut t = timeline(&m, 10.0, &beats, None, None);
        with_clips(&mut t, &m.images, &[blob("a.mp4"), blob("b.mp4")]);
        let sources: Vec<String> = t
            .segments
            .iter()
            .map(|s| match &s.source {
                Some(Source::Clip(c)) => format!("clip {:?}", c.media),
                Some(Source::Still(_)) => "still".into(),
                _ => "other".into(),
            })
            .collect();
        let (clips, stills) = (
            sources.iter().filter(|s| s.starts_with("clip")).count(),
            sources.iter().filter(|s| *s == "still").count(),
        );
        assert_eq!((clips, stills), (t.segments.len() - 1, 1), "{sources:?}");
        assert!(
            sources[0].contains("a.mp4") && sources[1].contains("b.mp4"),
            "{sources:?}"
        );
        assert!(
            t.segments[..t.segments.len() - 1]
                .iter()
                .all(|s| s.short_source == ShortSourcePolicy::Loop as i32)
        );
    }

    #[test]
    fn cuts_land_on_beats_on_the_frame_grid() {
        // 120 BPM from 0.25 s; 4 images over 10 s.
        let beats: Vec<f64> = (0..20).map(|i| 0.25 + 0.5 * f64::from(i)).collect();
        let t = timeline(&montage(4, 10.0, false), 10.0, &beats, None, None);
        let cuts = cut_times(&t);
        assert_eq!(cuts.len(), 4);
        for c in &cuts[1..] {
            let off = beats.iter().map(|b| (b - c).abs()).fold(f64::MAX, f64::min);
            assert!(off <= 0.5 / 30.0 + 1e-9, "cut {c} is {off} s from a beat");
        }
        let total: f64 = t.segments.iter().map(|s| s.duration_seconds).sum();
        assert!((total - 10.0).abs() < 1e-9);
    }

    #[test]
    fn images_cycle_on_a_long_video_and_an_ad_ends_on_its_card() {
        let t = timeline(
            &montage(2, 20.0, true),
            7.0,
            &[],
            Some(SubtitleStyle::SimpleWhite),
            None,
        );
        // 17 s of scenes at most 4 s each: 5 scenes, then the card.
        assert_eq!(t.segments.len(), 6);
        assert_eq!(t.segments[5].id, "end_card");
        assert!((t.segments[5].duration_seconds - 3.0).abs() < 1e-9);
        assert!(
            t.segments
                .iter()
                .all(|s| s.duration_seconds <= LONGEST_SCENE + 1e-9)
        );
        let total: f64 = t.segments.iter().map(|s| s.duration_seconds).sum();
        assert!((total - 20.0).abs() < 1e-9);
        let outro = t.branding.and_then(|b| b.outro).expect("end card");
        assert_eq!(outro.line, "立即购买");
        let subs = t.subtitles.expect("tagline");
        assert!((subs.events[0].end_seconds - 17.0).abs() < 1e-9);
    }

    #[test]
    fn a_track_loops_its_beats_and_sets_the_default_length() {
        assert_eq!(length(0.0, 200.0), 60.0);
        assert_eq!(length(0.0, 12.0), 12.0);
        assert_eq!(length(30.0, 12.0), 30.0);
        let b = looped_beats(&[0.5, 1.5], 2.0, 5.0);
        assert_eq!(b, vec![0.5, 1.5, 2.5, 3.5, 4.5]);
        assert_eq!(scene_count(10.0, 40), 13);
        assert_eq!(scene_count(1.0, 3), 1);
    }
}
