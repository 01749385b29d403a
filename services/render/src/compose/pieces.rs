//! The output in pieces. Each segment of the timeline is encoded on its
//! own, opening on a keyframe, and kept under the task, addressed by a hash
//! of everything that goes into its pictures: the source (its name, size
//! and a digest of its ends), the window, speed, fit and crop path, the
//! captions and mark burned over it (the piece's own ASS file, in times
//! relative to the piece), the output spec and the encoder with its own
//! headers. A compose encodes only the pieces it does not have and joins
//! all of them, with the freshly mixed audio, into `final.mp4` without
//! re-encoding (`run::join`): a re-compose after a one-paragraph edit
//! encodes one piece, and the file is the one a from-scratch compose makes,
//! piece for piece.

use std::collections::HashSet;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use scout_common::adapters::blob::BlobStore;
use scout_proto::scout::render::v1::{AigcMark, SubtitleEvent, WordTiming};
use sha2::Digest as _;

use super::plan::{Output, PlannedSegment};
use crate::error::RenderError;

/// Bumped whenever what a piece's pictures are made of changes in a way
/// its key does not capture (a filter, the fit, the crop path's smoothing).
const VERSION: &str = "pieces-1";

/// Frame times inside a piece start here (seconds): captions that began
/// before the piece keep a time in its subtitle file.
pub const LEAD: f64 = 600.0;

/// Bytes read from each end of a source for its identity.
const ENDS: u64 = 1 << 20;

/// What a source is, for keys: its name, size and a SHA-256 of its first
/// and last MiB (where an mp4 keeps its index, which changes with any
/// change to its samples), without reading the whole clip.
pub fn source_identity(path: &Path, name: &str) -> Result<String, RenderError> {
    let mut file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    let mut h = sha2::Sha256::new();
    h.update(name.as_bytes());
    h.update(size.to_le_bytes());
    let mut buf = vec![0u8; ENDS.min(size) as usize];
    file.read_exact(&mut buf)?;
    h.update(&buf);
    if size > ENDS {
        let tail = ENDS.min(size - ENDS);
        file.seek(SeekFrom::Start(size - tail))?;
        buf.resize(tail as usize, 0);
        file.read_exact(&mut buf)?;
        h.update(&buf);
    }
    Ok(hex::encode(h.finalize()))
}

/// Seconds relative to a piece starting at `t0`, on a millisecond grid
/// (so the same caption over the same shot gives the same file wherever
/// the piece falls), moved to [`LEAD`].
fn local(t: f64, t0: f64) -> f64 {
    LEAD + ((t - t0) * 1000.0).round() / 1000.0
}

/// Where a piece sits in the output, in seconds: from its first frame to
/// the end of its last.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Start, seconds (a frame time).
    pub from: f64,
    /// End, seconds.
    pub to: f64,
}

impl Window {
    /// The window of `seg` at `fps`.
    pub fn of(seg: &PlannedSegment, fps: u32) -> Self {
        let fps = f64::from(fps);
        Self {
            from: seg.first_frame as f64 / fps,
            to: (seg.first_frame + seg.frames) as f64 / fps,
        }
    }
}

/// What is burned over the whole output: the captions, their style and
/// font, and the AI-generated mark with when it shows.
#[derive(Debug, Clone)]
pub struct Burn {
    /// Caption events, output times.
    pub events: Vec<SubtitleEvent>,
    /// Caption look: the style, in the brand's colours where it has them.
    pub look: crate::subtitles::StyleDef,
    /// Font family.
    pub font: String,
    /// The visible mark and its span, output seconds.
    pub mark: Option<(AigcMark, (f64, f64))>,
    /// The brand's intro and outro cards, spans in output seconds.
    pub cards: Vec<crate::subtitles::Card>,
}

impl Burn {
    /// The ASS file of what shows over `w`, in piece times (frame `i` of
    /// the piece is at [`LEAD`] + i/fps); `None` when nothing does.
    pub fn piece_ass(&self, w: Window) -> Result<Option<String>, RenderError> {
        let events: Vec<SubtitleEvent> = self
            .events
            .iter()
            .filter(|e| e.start_seconds < w.to && e.end_seconds > w.from)
            .map(|e| SubtitleEvent {
                start_seconds: local(e.start_seconds, w.from),
                end_seconds: local(e.end_seconds, w.from),
                text: e.text.clone(),
                words: e
                    .words
                    .iter()
                    .map(|t| WordTiming {
                        text: t.text.clone(),
                        start_seconds: local(t.start_seconds, w.from),
                        end_seconds: local(t.end_seconds, w.from),
                    })
                    .collect(),
            })
            .collect();
        // The mark does not move: only the part inside the piece counts.
        let mark = self
            .mark
            .as_ref()
            .filter(|(_, (a, b))| *a < w.to && *b > w.from)
            .map(|(m, (a, b))| {
                (
                    m,
                    (local(a.max(w.from), w.from), local(b.min(w.to), w.from)),
                )
            });
        // A card too: the part inside the piece, in piece times.
        let cards: Vec<crate::subtitles::Card> = self
            .cards
            .iter()
            .filter(|c| c.span.0 < w.to && c.span.1 > w.from)
            .map(|c| crate::subtitles::Card {
                span: (
                    local(c.span.0.max(w.from), w.from),
                    local(c.span.1.min(w.to), w.from),
                ),
                // It fades where it starts and ends, not at a piece's edge.
                fade_ms: (
                    if c.span.0 >= w.from { c.fade_ms.0 } else { 0 },
                    if c.span.1 <= w.to { c.fade_ms.1 } else { 0 },
                ),
                ..c.clone()
            })
            .collect();
        if events.is_empty() && mark.is_none() && cards.is_empty() {
            return Ok(None);
        }
        crate::subtitles::write_ass_in(&events, &self.look, &self.font, mark, &cards).map(Some)
    }
}

/// A piece's key: everything that goes into its pictures. `encoder` names
/// the encoder that will make it with its headers (the SPS/PPS every piece
/// of one file must share); `logo` the brand's logo drawn over it (its
/// image's identity and placement).
#[allow(clippy::too_many_arguments)]
pub fn key(
    seg: &PlannedSegment,
    source: &str,
    under: Option<&str>,
    out: &Output,
    encoder: &str,
    ass: Option<&str>,
    logo: Option<&str>,
) -> Result<String, RenderError> {
    let mut shape = serde_json::to_value(seg).map_err(|e| RenderError::Io(e.to_string()))?;
    if let Some(o) = shape.as_object_mut() {
        // Where the piece falls, what the caller calls it, its length in
        // seconds (its frames say it) and its sound change nothing in its
        // pictures.
        for moved in ["id", "first_frame", "start", "duration"] {
            o.remove(moved);
        }
        // Likewise for the segment a transition plays on under this one.
        if let Some(u) = o
            .get_mut("transition")
            .and_then(|t| t.get_mut("under"))
            .and_then(|u| u.as_object_mut())
        {
            for moved in ["id", "first_frame", "start", "duration"] {
                u.remove(moved);
            }
        }
        if let Some(clip) = o
            .get_mut("play")
            .and_then(|p| p.get_mut("Clip"))
            .and_then(|c| c.as_object_mut())
        {
            clip.remove("audio_gain");
        }
    }
    let mut picture = serde_json::to_value(out).map_err(|e| RenderError::Io(e.to_string()))?;
    if let Some(o) = picture.as_object_mut() {
        for sound in ["audio_bitrate", "sample_rate"] {
            o.remove(sound);
        }
    }
    let mut h = sha2::Sha256::new();
    for part in [
        VERSION,
        source,
        &shape.to_string(),
        &format!("{:?}", seg.focus),
        &picture.to_string(),
        // Decoding and fitting on the device or on the CPU differ slightly.
        if crate::media::hw::hardware().enabled && crate::media::hw::hardware().probe.present {
            "device"
        } else {
            "cpu"
        },
        encoder,
        ass.unwrap_or(""),
        logo.unwrap_or(""),
        under.unwrap_or(""),
    ] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    Ok(hex::encode(h.finalize())[..40].to_string())
}

/// A piece on local disk: the video and the JPEG of its middle frame
/// (before captions; the first piece's is the cover).
#[derive(Debug, Clone)]
pub struct LocalPiece {
    /// The encoded piece (mp4, video only).
    pub video: PathBuf,
    /// Its middle frame.
    pub still: PathBuf,
}

impl LocalPiece {
    /// The files of piece `key` in `dir`.
    pub fn in_dir(dir: &Path, key: &str) -> Self {
        Self {
            video: dir.join(format!("{key}.mp4")),
            still: dir.join(format!("{key}.jpg")),
        }
    }
}

/// Where a task's pieces are kept: `{output prefix}pieces/` in the blob
/// store, so any render node can reuse them and deleting the task removes
/// them.
#[derive(Clone)]
pub struct PieceStore {
    store: Arc<dyn BlobStore>,
    prefix: String,
}

impl PieceStore {
    /// Pieces under `{output_prefix}pieces/`.
    pub fn new(store: Arc<dyn BlobStore>, output_prefix: &str) -> Self {
        Self {
            store,
            prefix: format!("{output_prefix}pieces/"),
        }
    }

    fn keys(&self, key: &str) -> (String, String) {
        (
            format!("{}{key}.mp4", self.prefix),
            format!("{}{key}.jpg", self.prefix),
        )
    }

    /// Fetches piece `key` into `dir`; `None` when it is not kept (or cannot
    /// be read: it is then encoded again).
    pub async fn fetch(&self, key: &str, dir: &Path) -> Option<LocalPiece> {
        let (video, still) = self.keys(key);
        let local = LocalPiece::in_dir(dir, key);
        // The still is kept last: a piece whose still is there is whole.
        self.store.get_to_file(&still, &local.still).await.ok()?;
        self.store.get_to_file(&video, &local.video).await.ok()?;
        Some(local)
    }

    /// Keeps a freshly encoded piece: the video first, then its still.
    pub async fn keep(&self, key: &str, piece: &LocalPiece) -> Result<(), RenderError> {
        let (video, still) = self.keys(key);
        self.store
            .put_file(&video, &piece.video, Some("video/mp4"))
            .await?;
        self.store
            .put_file(&still, &piece.still, Some("image/jpeg"))
            .await?;
        Ok(())
    }

    /// Removes the kept pieces not in `used` (the last compose's set is all
    /// a task keeps). Fails soft: a leftover piece costs only space.
    pub async fn prune(&self, used: &HashSet<String>) {
        let Ok(all) = self.store.list(&self.prefix).await else {
            return;
        };
        for k in all {
            let name = k.trim_start_matches(&self.prefix);
            let stem = name.split('.').next().unwrap_or(name);
            if !used.contains(stem) {
                let _ = self.store.delete(&k).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn burn(events: Vec<SubtitleEvent>) -> Burn {
        Burn {
            events,
            look: crate::subtitles::style(
                scout_proto::scout::common::v1::SubtitleStyle::SimpleWhite,
            ),
            font: "Noto Sans CJK SC".into(),
            mark: Some((
                AigcMark {
                    text: "AI生成".into(),
                    corner: 0,
                    seconds: 0.0,
                },
                (0.0, 30.0),
            )),
            cards: Vec::new(),
        }
    }

    fn caption(start: f64, end: f64, text: &str) -> SubtitleEvent {
        SubtitleEvent {
            start_seconds: start,
            end_seconds: end,
            text: text.into(),
            words: vec![WordTiming {
                text: text.into(),
                start_seconds: start,
                end_seconds: end,
            }],
        }
    }

    /// The same caption over a piece gives the same file wherever the
    /// piece falls (an edit before it moves it), and a piece with nothing
    /// over it has no file.
    #[test]
    fn a_piece_s_subtitles_do_not_depend_on_where_it_falls() {
        let a = burn(vec![
            caption(5.1, 7.2, "好吃"),
            caption(12.0, 13.0, "下一段"),
        ]);
        let b = burn(vec![caption(8.4337, 10.5337, "好吃")]);
        let at_5 = a.piece_ass(Window { from: 5.0, to: 9.0 }).expect("ass");
        let at_8 = b
            .piece_ass(Window {
                from: 8.3337,
                to: 12.3337,
            })
            .expect("ass");
        assert_eq!(at_5, at_8);
        let text = at_5.expect("captions");
        assert!(text.contains("0:10:00.10"), "{text}");
        assert!(
            !text.contains("下一段"),
            "a caption of another piece: {text}"
        );
        let bare = Burn {
            mark: None,
            ..burn(Vec::new())
        };
        assert!(
            bare.piece_ass(Window { from: 0.0, to: 1.0 })
                .expect("ass")
                .is_none()
        );
    }

    #[test]
    fn a_card_across_pieces_fades_only_where_it_starts_and_ends() {
        let mut b = burn(Vec::new());
        b.mark = None;
        b.cards = vec![crate::subtitles::Card::new(
            "海底捞火锅".into(),
            "望京店".into(),
            "&H00202020".into(),
            (0.0, 2.0),
        )];
        let window = |from: f64, to: f64| Window { from, to };
        let first = b.piece_ass(window(0.0, 1.0)).expect("ass").expect("a card");
        let second = b.piece_ass(window(1.0, 3.0)).expect("ass").expect("a card");
        assert!(first.contains("\\fad(250,0)"), "{first}");
        assert!(second.contains("\\fad(0,250)"), "{second}");
        assert!(first.contains("海底捞火锅") && second.contains("望京店"));
        assert!(
            b.piece_ass(window(2.0, 3.0)).expect("ass").is_none(),
            "past the card"
        );
    }
}
