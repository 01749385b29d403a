//! ASS subtitles: the five seed 000 styles, timed events, and wrapping
//! measured with the real font so no line ever leaves the frame.
//!
//! Widths are measured with the installed Noto Sans CJK faces (found through
//! fontconfig) and scaled the way libass scales a font: the font size is the
//! face's line height (ascender - descender), not its em. Lines wrap at
//! any CJK character and at spaces between Latin words, keep closing
//! punctuation off a line's start and opening punctuation off its end, and an
//! event holds at most two lines: longer text becomes further events, split
//! at sentence and clause boundaries where it can, with time shared by length.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use scout_proto::scout::common::v1::SubtitleStyle;
use scout_proto::scout::render::v1::{AigcMark, Corner, SubtitleEvent};

use crate::error::RenderError;

/// The frame subtitles are laid out for.
pub const PLAY_RES_X: u32 = 1080;
/// The frame subtitles are laid out for.
pub const PLAY_RES_Y: u32 = 1920;
/// Left and right margins.
pub const MARGIN_X: u32 = 60;
/// Distance of the bottom line from the bottom edge (clear of app controls).
pub const MARGIN_BOTTOM: u32 = 320;
/// Right margin: clear of the column of buttons (like, comment, share) that
/// Douyin and Xiaohongshu draw over the right of the picture.
pub const MARGIN_RIGHT: u32 = 150;
/// Font size in script pixels (line height).
pub const FONT_SIZE: u32 = 72;
/// Lines per event at most.
pub const MAX_LINES: usize = 2;

/// One of the five looks.
#[derive(Debug, Clone, PartialEq)]
pub struct StyleDef {
    /// ASS style name.
    pub name: &'static str,
    /// Bold face.
    pub bold: bool,
    /// Fill colour, `&HAABBGGRR`.
    pub primary: String,
    /// Outline colour.
    pub outline_colour: String,
    /// Shadow colour.
    pub back_colour: String,
    /// Outline width in pixels.
    pub outline: f32,
    /// Shadow depth in pixels.
    pub shadow: f32,
    /// Override tags put in front of every event (blur, glow).
    pub event_prefix: &'static str,
    /// Per-character fill colours cycled across the text (a gradient).
    pub gradient: &'static [&'static str],
    /// Words light up as they are spoken (ASS `\kf`): the fill is
    /// `primary` once spoken, white before.
    pub karaoke: bool,
}

/// The seed 000 subtitle templates.
pub fn style(style: SubtitleStyle) -> StyleDef {
    match style {
        // 活力黄字: bold #FFD700, 2 px black outline, shadow.
        SubtitleStyle::VibrantYellow => StyleDef {
            name: "VibrantYellow",
            bold: true,
            primary: "&H0000D7FF".into(),
            outline_colour: "&H00000000".into(),
            back_colour: "&H80000000".into(),
            outline: 3.0,
            shadow: 2.0,
            event_prefix: "",
            karaoke: false,
            gradient: &[],
        },
        // 小红书风: white, 3 px #FF4757 outline, no shadow.
        SubtitleStyle::Xiaohongshu => StyleDef {
            name: "Xiaohongshu",
            bold: false,
            primary: "&H00FFFFFF".into(),
            outline_colour: "&H005747FF".into(),
            back_colour: "&H00000000".into(),
            outline: 4.0,
            shadow: 0.0,
            event_prefix: "",
            karaoke: false,
            gradient: &[],
        },
        // 抖音热门: bold white, 2 px black outline, blurred shadow.
        SubtitleStyle::DouyinHot => StyleDef {
            name: "DouyinHot",
            bold: true,
            primary: "&H00FFFFFF".into(),
            outline_colour: "&H00000000".into(),
            back_colour: "&H60000000".into(),
            outline: 3.0,
            shadow: 3.0,
            event_prefix: "{\\blur3}",
            karaoke: false,
            gradient: &[],
        },
        // 霓虹炫彩: bold, gradient fill, glowing outline.
        SubtitleStyle::Neon => StyleDef {
            name: "Neon",
            bold: true,
            primary: "&H00FF66FF".into(),
            outline_colour: "&H00FFFF00".into(),
            back_colour: "&H40FF00FF".into(),
            outline: 4.0,
            shadow: 2.0,
            event_prefix: "{\\blur6}",
            karaoke: false,
            gradient: &[
                "&H00FF66FF",
                "&H00FF99CC",
                "&H00FFCC99",
                "&H00FFFF66",
                "&H00CCFF66",
                "&H0099FF99",
            ],
        },
        // 卡拉OK: bold white, each word swept gold as it is spoken.
        SubtitleStyle::Karaoke => StyleDef {
            name: "Karaoke",
            bold: true,
            primary: "&H0000D7FF".into(),
            outline_colour: "&H00000000".into(),
            back_colour: "&H80000000".into(),
            outline: 3.0,
            shadow: 1.5,
            event_prefix: "",
            karaoke: true,
            gradient: &[],
        },
        // 简约白字 (also the default): white, 2 px black outline, shadow.
        SubtitleStyle::SimpleWhite | SubtitleStyle::Unspecified => StyleDef {
            name: "SimpleWhite",
            bold: false,
            primary: "&H00FFFFFF".into(),
            outline_colour: "&H00000000".into(),
            back_colour: "&H80000000".into(),
            outline: 3.0,
            shadow: 1.5,
            event_prefix: "",
            karaoke: false,
            gradient: &[],
        },
    }
}

/// `#RRGGBB` (a brand colour) as an ASS colour, `&H00BBGGRR`.
pub fn ass_colour_of(hex: &str, what: &str) -> Result<String, RenderError> {
    let digits = hex.strip_prefix('#').unwrap_or(hex);
    if digits.len() != 6 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(RenderError::InvalidArgument(format!(
            "{what} must be a colour as #RRGGBB, got {hex:?}"
        )));
    }
    let d = digits.to_ascii_uppercase();
    Ok(format!("&H00{}{}{}", &d[4..6], &d[2..4], &d[0..2]))
}

/// `st` in a brand's colours: the fill (the sung colour in karaoke; a
/// gradient gives way to it) and the outline, where given as `#RRGGBB`.
pub fn branded(mut st: StyleDef, fill: &str, outline: &str) -> Result<StyleDef, RenderError> {
    if !fill.is_empty() {
        st.primary = ass_colour_of(fill, "branding.caption_colour")?;
        st.gradient = &[];
    }
    if !outline.is_empty() {
        st.outline_colour = ass_colour_of(outline, "branding.caption_outline_colour")?;
    }
    Ok(st)
}

/// Glyph advances of one face, scaled to script pixels.
pub struct FontMetrics {
    data: Vec<u8>,
    index: u32,
    /// Script pixels per font unit at [`FONT_SIZE`].
    scale: f32,
}

impl FontMetrics {
    /// Loads face `index` of `path`.
    pub fn load(path: &Path, index: u32) -> Result<Self, RenderError> {
        let data = std::fs::read(path)
            .map_err(|e| RenderError::Io(format!("font {}: {e}", path.display())))?;
        let face = ttf_parser::Face::parse(&data, index)
            .map_err(|e| RenderError::Io(format!("font {}: {e}", path.display())))?;
        // libass sizes a face so that ascender - descender equals the font size.
        let height = f32::from(face.ascender()) - f32::from(face.descender());
        let scale = if height > 0.0 {
            FONT_SIZE as f32 / height
        } else {
            FONT_SIZE as f32 / f32::from(face.units_per_em())
        };
        Ok(Self { data, index, scale })
    }

    /// Width of `text` in script pixels (unknown glyphs count as a full em).
    pub fn width(&self, text: &str) -> f32 {
        let Ok(face) = ttf_parser::Face::parse(&self.data, self.index) else {
            return text.chars().count() as f32 * FONT_SIZE as f32;
        };
        let em = f32::from(face.units_per_em());
        text.chars()
            .map(|c| {
                face.glyph_index(c)
                    .and_then(|g| face.glyph_hor_advance(g))
                    .map(f32::from)
                    .unwrap_or(em)
                    * self.scale
            })
            .sum()
    }

    /// True when the face has a glyph for `c`.
    pub fn has_glyph(&self, c: char) -> bool {
        ttf_parser::Face::parse(&self.data, self.index)
            .ok()
            .and_then(|f| f.glyph_index(c))
            .is_some()
    }
}

/// Where fontconfig finds `family` (file and face index).
pub fn find_font(family: &str, bold: bool) -> Result<(PathBuf, u32), RenderError> {
    let pattern = if bold {
        format!("{family}:bold")
    } else {
        family.to_string()
    };
    let out = std::process::Command::new("fc-match")
        .args(["-f", "%{file}\n%{index}\n%{family}", &pattern])
        .output()
        .map_err(|e| RenderError::Io(format!("fc-match: {e} (install fontconfig)")))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let file = lines.next().unwrap_or_default();
    let index: u32 = lines.next().and_then(|i| i.parse().ok()).unwrap_or(0);
    let families = lines.next().unwrap_or_default();
    if file.is_empty()
        || !families
            .split(',')
            .any(|f| f.trim().eq_ignore_ascii_case(family))
    {
        return Err(RenderError::Io(format!(
            "font {family:?} is not installed (fontconfig offers {families:?}); run scripts/install.sh"
        )));
    }
    Ok((PathBuf::from(file), index))
}

/// The metrics of the subtitle font, loaded once per process and weight.
pub fn metrics(family: &str, bold: bool) -> Result<&'static FontMetrics, RenderError> {
    static REGULAR: OnceLock<Result<FontMetrics, String>> = OnceLock::new();
    static BOLD: OnceLock<Result<FontMetrics, String>> = OnceLock::new();
    let cell = if bold { &BOLD } else { &REGULAR };
    cell.get_or_init(|| {
        let (path, index) = find_font(family, bold).map_err(|e| e.to_string())?;
        FontMetrics::load(&path, index).map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| RenderError::Io(e.clone()))
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x2E80..=0x9FFF | 0xA960..=0xA97F | 0xAC00..=0xD7FF | 0xF900..=0xFAFF | 0xFE30..=0xFE4F | 0xFF00..=0xFFEF | 0x20000..=0x3FFFF)
}

/// Punctuation that must not start a line.
fn no_line_start(c: char) -> bool {
    "，。！？、；：”’）》」』】〕…—,.!?;:)]}%".contains(c)
}

/// Punctuation that must not end a line.
fn no_line_end(c: char) -> bool {
    "“‘（《「『【〔([{".contains(c)
}

/// Splits text into unbreakable tokens: single CJK characters, Latin words
/// (with their trailing spaces), and punctuation glued to what precedes it.
fn tokens(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        if c == '\n' || c == '\r' {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            out.push(" ".into());
            continue;
        }
        if is_cjk(c) || no_line_start(c) && !c.is_ascii() {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            out.push(c.to_string());
        } else if c.is_whitespace() {
            word.push(' ');
            out.push(std::mem::take(&mut word));
        } else {
            word.push(c);
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out.retain(|t| !t.is_empty());
    out
}

/// Wraps `text` into lines no wider than `max_width` script pixels.
pub fn wrap(text: &str, metrics: &FontMetrics, max_width: f32) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for token in tokens(text) {
        let candidate = format!("{line}{token}");
        if metrics.width(candidate.trim_end()) <= max_width || line.trim().is_empty() {
            if metrics.width(candidate.trim_end()) > max_width {
                // A single token wider than the line (a long Latin word): break it by characters.
                for c in token.chars() {
                    let next = format!("{line}{c}");
                    if metrics.width(next.trim_end()) > max_width && !line.is_empty() {
                        lines.push(line.trim_end().to_string());
                        line = c.to_string();
                    } else {
                        line = next;
                    }
                }
            } else {
                line = candidate;
            }
            continue;
        }
        // `token` starts a new line. Keep closing punctuation off the start
        // and opening punctuation off the end by moving one unit down.
        let first = token.chars().next().unwrap_or(' ');
        let last = line.trim_end().chars().last().unwrap_or(' ');
        if no_line_start(first) || no_line_end(last) {
            let trimmed = line.trim_end().to_string();
            let split_at = trimmed.char_indices().last().map(|(i, _)| i).unwrap_or(0);
            let carried = trimmed[split_at..].to_string();
            let kept = trimmed[..split_at].to_string();
            if !kept.trim().is_empty() {
                lines.push(kept.trim_end().to_string());
                line = format!("{carried}{token}");
                continue;
            }
        }
        lines.push(line.trim_end().to_string());
        line = token.trim_start().to_string();
    }
    if !line.trim().is_empty() {
        lines.push(line.trim_end().to_string());
    }
    lines
}

/// Splits text into clauses at sentence and clause punctuation, keeping
/// the punctuation with its clause.
fn clauses(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        cur.push(c);
        if "。！？!?；;，,".contains(c) {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out
}

/// One laid-out subtitle event.
#[derive(Debug, Clone, PartialEq)]
pub struct LaidOut {
    /// Start, seconds.
    pub start: f64,
    /// End, seconds.
    pub end: f64,
    /// One or two lines.
    pub lines: Vec<String>,
    /// Its words with their start and end, when known.
    pub words: Vec<(String, f64, f64)>,
}

/// Width a caption line may take: inside the left margin and clear of the
/// platforms' right-hand buttons, less the style's outline and shadow.
pub fn line_width(style: &StyleDef) -> f32 {
    (PLAY_RES_X - MARGIN_X - MARGIN_RIGHT) as f32 - 2.0 * (style.outline + style.shadow) - 8.0
}

/// Lays out events: wraps each to the frame and splits what needs more
/// than two lines into further events, at the words' own times when the
/// event has them, else sharing the time by length.
pub fn layout(events: &[SubtitleEvent], metrics: &FontMetrics, style: &StyleDef) -> Vec<LaidOut> {
    let max_width = line_width(style);
    let mut out = Vec::new();
    for ev in events {
        let text = ev.text.trim();
        if text.is_empty() || ev.end_seconds <= ev.start_seconds {
            continue;
        }
        // Pack clauses into chunks of at most two wrapped lines, keeping
        // each chunk's text (for the words it holds).
        let mut chunks: Vec<(Vec<String>, String)> = Vec::new();
        let mut current = String::new();
        for clause in clauses(text) {
            let candidate = format!("{current}{clause}");
            if wrap(&candidate, metrics, max_width).len() <= MAX_LINES {
                current = candidate;
                continue;
            }
            if !current.is_empty() {
                chunks.push((wrap(&current, metrics, max_width), current.clone()));
            }
            // A clause longer than two lines on its own: cut it by lines.
            let lines = wrap(&clause, metrics, max_width);
            let mut rest: Vec<String> = Vec::new();
            for pair in lines.chunks(MAX_LINES) {
                if pair.len() == MAX_LINES {
                    chunks.push((pair.to_vec(), pair.concat()));
                } else {
                    rest = pair.to_vec();
                }
            }
            current = rest.concat();
        }
        if !current.trim().is_empty() {
            chunks.push((wrap(&current, metrics, max_width), current));
        }
        // The words, by the character of the event's text each starts at.
        let words_text: String = ev.words.iter().map(|w| w.text.as_str()).collect();
        let timed = !ev.words.is_empty() && words_text.trim() == text;
        let mut word_at = Vec::new();
        let mut c = words_text.chars().take_while(|c| c.is_whitespace()).count();
        for w in &ev.words {
            word_at.push(c);
            c += w.text.chars().count();
        }
        let total: usize = chunks
            .iter()
            .map(|(_, t)| t.chars().count())
            .sum::<usize>()
            .max(1);
        let span = ev.end_seconds - ev.start_seconds;
        let mut t = ev.start_seconds;
        let mut first_char = 0;
        for (i, (lines, chunk_text)) in chunks.iter().enumerate() {
            let n = chunk_text.chars().count();
            let range = first_char..first_char + n;
            let words: Vec<(String, f64, f64)> = if timed {
                ev.words
                    .iter()
                    .zip(&word_at)
                    .filter(|(_, at)| range.contains(at))
                    .map(|(w, _)| (w.text.clone(), w.start_seconds, w.end_seconds))
                    .collect()
            } else {
                Vec::new()
            };
            let next_start = if timed {
                ev.words
                    .iter()
                    .zip(&word_at)
                    .find(|(_, at)| **at >= range.end)
                    .map(|(w, _)| w.start_seconds)
            } else {
                None
            };
            let end = if i + 1 == chunks.len() {
                ev.end_seconds
            } else {
                next_start.unwrap_or(t + span * n as f64 / total as f64)
            };
            let start = if timed {
                words.first().map(|w| w.1).unwrap_or(t).max(t)
            } else {
                t
            };
            out.push(LaidOut {
                start,
                end: end.max(start + 0.05),
                lines: lines.clone(),
                words,
            });
            t = end;
            first_char = range.end;
        }
    }
    out
}

/// ASS time: `H:MM:SS.cc`.
fn ass_time(secs: f64) -> String {
    let cs = (secs.max(0.0) * 100.0).round() as u64;
    format!(
        "{}:{:02}:{:02}.{:02}",
        cs / 360_000,
        (cs / 6000) % 60,
        (cs / 100) % 60,
        cs % 100
    )
}

/// Text safe inside an ASS event: no override blocks or escapes from the user.
fn escape(line: &str) -> String {
    line.replace('\\', "＼")
        .replace('{', "｛")
        .replace('}', "｝")
}

/// An event's text with a `\kf` sweep per word (centiseconds from the
/// event's start), the line break where the layout put it.
fn karaoke(ev: &LaidOut) -> String {
    let break_at = if ev.lines.len() > 1 {
        ev.lines[0].chars().count()
    } else {
        usize::MAX
    };
    let cs = |secs: f64| (secs.max(0.0) * 100.0).round() as i64;
    let mut out = String::new();
    let mut at = ev.start;
    let mut chars = 0;
    for (text, start, end) in &ev.words {
        if *start > at + 0.005 {
            out.push_str(&format!("{{\\k{}}}", cs(start - at)));
        }
        out.push_str(&format!("{{\\kf{}}}", cs(end - start.max(at)).max(1)));
        for c in text.chars() {
            if chars == break_at {
                out.push_str("\\N");
            }
            // Spaces at the break are the layout's, not shown.
            if !(chars == break_at && c == ' ') {
                out.push_str(&escape(&c.to_string()));
            }
            chars += 1;
        }
        at = end.max(at);
    }
    out
}

fn colourise(line: &str, gradient: &[&str], offset: &mut usize) -> String {
    if gradient.is_empty() {
        return escape(line);
    }
    let mut out = String::new();
    for c in line.chars() {
        out.push_str(&format!("{{\\c{}}}", gradient[*offset % gradient.len()]));
        out.push_str(&escape(&c.to_string()));
        *offset += 1;
    }
    out
}

/// Writes a complete ASS script for `events` in `style` with `font`.
pub fn write_ass(
    events: &[SubtitleEvent],
    style_kind: SubtitleStyle,
    font: &str,
) -> Result<String, RenderError> {
    write_ass_with_mark(events, style_kind, font, None)
}

/// Size of the AI-generated mark's words, script pixels.
pub const MARK_FONT_SIZE: u32 = 40;
/// The mark's distance from the top and bottom edges: below the platforms'
/// top bar (status bar and tabs) and above their bottom bar.
pub const MARK_MARGIN_V: u32 = 170;
/// The mark's distance from the side edges (clear of Douyin's and
/// Xiaohongshu's right-hand buttons when it sits on the left).
pub const MARK_MARGIN_X: u32 = 48;

/// The mark's words as burned: at most 20 characters, without ASS
/// override braces, backslashes or control characters.
pub fn mark_text(mark: &AigcMark) -> String {
    mark.text
        .chars()
        .filter(|c| !matches!(c, '{' | '}' | '\\') && !c.is_control())
        .take(20)
        .collect()
}

/// When the AI-generated mark shows in a video of `until` seconds: from
/// the start for its seconds (0: to the end).
pub fn mark_span(mark: &AigcMark, until: f64) -> (f64, f64) {
    let end = if mark.seconds > 0.0 {
        mark.seconds.min(until)
    } else {
        until
    };
    (0.0, end)
}

/// A card's title size in script pixels (it shrinks to fit, down to
/// [`CARD_LINE_SIZE`]).
pub const CARD_TITLE_SIZE: u32 = 110;
/// A card's second line's size.
pub const CARD_LINE_SIZE: u32 = 60;
/// The widest a card's text runs, script pixels (60 px from each side).
pub const CARD_TEXT_WIDTH: u32 = PLAY_RES_X - 120;
/// Lines a card's title takes at most.
pub const CARD_TITLE_LINES: usize = 3;

/// A full-frame card over a span of the video (an intro or an outro): a
/// box of its colour over the picture, its title and line centred on it,
/// faded in and out. The AI-generated mark stays above it.
#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    /// The big words.
    pub title: String,
    /// A smaller line under them; may be empty.
    pub line: String,
    /// The box colour, `&H00BBGGRR`.
    pub background: String,
    /// From and to, seconds.
    pub span: (f64, f64),
    /// Fade in and out, milliseconds (none where the span was cut at a
    /// piece's edge: the card goes on in the next piece).
    pub fade_ms: (u32, u32),
}

impl Card {
    /// A card over `span` with its fades: a fifth of it, at most 250 ms, each way.
    pub fn new(title: String, line: String, background: String, span: (f64, f64)) -> Self {
        let fade = ((span.1 - span.0) * 1000.0 / 5.0).clamp(0.0, 250.0) as u32;
        Self {
            title,
            line,
            background,
            span,
            fade_ms: (fade, fade),
        }
    }
}

/// A card's title laid out: its lines and the size that fits them.
pub fn card_title(title: &str, font: &str) -> Result<(Vec<String>, u32), RenderError> {
    let m = metrics(font, true)?;
    let mut size = CARD_TITLE_SIZE;
    loop {
        // The metrics are at FONT_SIZE; widths scale with the size.
        let max = CARD_TEXT_WIDTH as f32 * FONT_SIZE as f32 / size as f32;
        let lines = wrap(title, m, max);
        if lines.len() <= CARD_TITLE_LINES || size <= CARD_LINE_SIZE {
            return Ok((lines, size));
        }
        size -= 10;
    }
}

/// The events of one card: the box, the title, the line.
fn card_events(s: &mut String, card: &Card, font: &str) -> Result<(), RenderError> {
    let (start, end) = (ass_time(card.span.0), ass_time(card.span.1));
    let (fin, fout) = card.fade_ms;
    let colour = card.background.trim_start_matches("&H00");
    s.push_str(&format!(
        "Dialogue: 3,{start},{end},Card,,0,0,0,,{{\\an7\\pos(0,0)\\bord0\\shad0\\1c&H{colour}&\\1a&H00&\\fad({fin},{fout})\\p1}}m 0 0 l {w} 0 {w} {h} 0 {h}{{\\p0}}\n",
        w = PLAY_RES_X,
        h = PLAY_RES_Y,
    ));
    let (lines, size) = card_title(&card.title, font)?;
    let title: Vec<String> = lines.iter().map(|l| escape(l)).collect();
    let centre = PLAY_RES_Y / 2 - if card.line.is_empty() { 0 } else { 60 };
    s.push_str(&format!(
        "Dialogue: 4,{start},{end},Card,,0,0,0,,{{\\an5\\pos({x},{centre})\\fs{size}\\fad({fin},{fout})}}{}\n",
        title.join("\\N"),
        x = PLAY_RES_X / 2,
    ));
    if !card.line.is_empty() {
        let m = metrics(font, false)?;
        let max = CARD_TEXT_WIDTH as f32 * FONT_SIZE as f32 / CARD_LINE_SIZE as f32;
        let line: Vec<String> = wrap(&card.line, m, max).iter().map(|l| escape(l)).collect();
        let below = centre + (lines.len() as u32 * size) / 2 + 40 + CARD_LINE_SIZE / 2;
        s.push_str(&format!(
            "Dialogue: 4,{start},{end},CardLine,,0,0,0,,{{\\an8\\pos({x},{below})\\fad({fin},{fout})}}{}\n",
            line.join("\\N"),
            x = PLAY_RES_X / 2,
        ));
    }
    Ok(())
}

/// `write_ass` plus the visible AI-generated mark: small words on a
/// translucent box in its corner, shown over `span` (seconds, from and to;
/// see [`mark_span`]).
pub fn write_ass_with_mark(
    events: &[SubtitleEvent],
    style_kind: SubtitleStyle,
    font: &str,
    mark: Option<(&AigcMark, (f64, f64))>,
) -> Result<String, RenderError> {
    write_ass_in(events, &style(style_kind), font, mark, &[])
}

/// [`write_ass_with_mark`] in a given look (a style, branded or not),
/// with the brand's cards over their spans.
pub fn write_ass_in(
    events: &[SubtitleEvent],
    st: &StyleDef,
    font: &str,
    mark: Option<(&AigcMark, (f64, f64))>,
    cards: &[Card],
) -> Result<String, RenderError> {
    let metrics = metrics(font, st.bold)?;
    let laid = layout(events, metrics, st);
    let mut s = String::new();
    s.push_str("[Script Info]\n; Written by Shop Video Scout\nScriptType: v4.00+\n");
    s.push_str(&format!("PlayResX: {PLAY_RES_X}\nPlayResY: {PLAY_RES_Y}\nWrapStyle: 2\nScaledBorderAndShadow: yes\nYCbCr Matrix: TV.709\n\n"));
    s.push_str("[V4+ Styles]\nFormat: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\n");
    s.push_str(&format!(
        "Style: {},{font},{FONT_SIZE},{},{},{},{},{},0,0,0,100,100,0,0,1,{},{},2,{MARGIN_X},{MARGIN_RIGHT},{MARGIN_BOTTOM},1\n",
        st.name,
        st.primary,
        if st.karaoke { "&H00FFFFFF" } else { "&H000000FF" },
        st.outline_colour,
        st.back_colour,
        if st.bold { -1 } else { 0 },
        st.outline,
        st.shadow,
    ));
    if let Some((m, _)) = mark {
        // Alignment on the numpad: 7 top left, 9 top right, 1 and 3 bottom.
        let alignment = match Corner::try_from(m.corner).unwrap_or(Corner::TopLeft) {
            Corner::TopRight => 9,
            Corner::BottomLeft => 1,
            Corner::BottomRight => 3,
            Corner::TopLeft | Corner::Unspecified => 7,
        };
        // BorderStyle 3: an opaque box behind the words, here 40% black.
        s.push_str(&format!(
            "Style: AigcMark,{font},{MARK_FONT_SIZE},&H1AFFFFFF,&H000000FF,&H99000000,&H99000000,0,0,0,0,100,100,1,0,3,8,0,{alignment},{MARK_MARGIN_X},{MARK_MARGIN_X},{MARK_MARGIN_V},1\n",
        ));
    }
    if !cards.is_empty() {
        s.push_str(&format!(
            "Style: Card,{font},{CARD_TITLE_SIZE},&H00FFFFFF,&H000000FF,&H00000000,&H00000000,-1,0,0,0,100,100,0,0,1,0,0,5,60,60,0,1\n",
        ));
        s.push_str(&format!(
            "Style: CardLine,{font},{CARD_LINE_SIZE},&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,0,0,5,60,60,0,1\n",
        ));
    }
    s.push('\n');
    s.push_str("[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n");
    for card in cards {
        card_events(&mut s, card, font)?;
    }
    if let Some((m, (start, end))) = mark {
        let text = mark_text(m);
        // Above everything, cards included: the mark is never hidden.
        s.push_str(&format!(
            "Dialogue: 5,{},{},AigcMark,,0,0,0,,{text}\n",
            ass_time(start),
            ass_time(end)
        ));
    }
    for ev in &laid {
        let body = if st.karaoke && !ev.words.is_empty() {
            karaoke(ev)
        } else {
            let mut offset = 0;
            let lines: Vec<String> = ev
                .lines
                .iter()
                .map(|l| colourise(l, st.gradient, &mut offset))
                .collect();
            lines.join("\\N")
        };
        s.push_str(&format!(
            "Dialogue: 0,{},{},{},,0,0,0,,{}{}\n",
            ass_time(ev.start),
            ass_time(ev.end),
            st.name,
            st.event_prefix,
            body
        ));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn font() -> &'static FontMetrics {
        metrics("Noto Sans CJK SC", false)
            .expect("Noto Sans CJK SC is installed by scripts/install.sh")
    }

    #[test]
    fn cjk_and_latin_wrap_inside_the_frame() {
        let m = font();
        let max = (PLAY_RES_X - MARGIN_X - MARGIN_RIGHT) as f32;
        let zh = "家人们！今天给你们探一家望京超火的海底捞，人均八十九，招牌毛肚七上八下，服务真的绝了，强烈推荐大家来打卡";
        let lines = wrap(zh, m, max);
        assert!(lines.len() >= 3, "{lines:?}");
        for l in &lines {
            assert!(m.width(l) <= max, "{l} is {} px", m.width(l));
            assert!(
                !l.starts_with(['，', '！', '。']),
                "line starts with closing punctuation: {l}"
            );
        }
        assert_eq!(lines.concat(), zh, "wrapping lost or reordered text");
        let en = "Today we visit the most popular hotpot place in Wangjing, and honestly the tripe is incredible";
        for l in wrap(en, m, max) {
            assert!(m.width(&l) <= max);
            assert!(!l.starts_with(' ') && !l.ends_with(' '));
        }
        let word = "a".repeat(200);
        assert!(
            wrap(&word, m, max).iter().all(|l| m.width(l) <= max),
            "a long word must be broken"
        );
    }

    #[test]
    fn long_events_split_into_two_line_events_sharing_time() {
        let m = font();
        let st = style(SubtitleStyle::SimpleWhite);
        let text = "家人们！今天给你们探一家望京超火的海底捞。人均八十九，招牌毛肚七上八下，服务真的绝了。周末去记得提前排队，强烈推荐大家来打卡！";
        let laid = layout(
            &[SubtitleEvent {
                start_seconds: 1.0,
                end_seconds: 13.0,
                text: text.into(),
                ..Default::default()
            }],
            m,
            &st,
        );
        assert!(laid.len() >= 2, "{laid:?}");
        assert!(laid.iter().all(|e| e.lines.len() <= MAX_LINES));
        assert!(
            (laid[0].start - 1.0).abs() < 1e-9
                && (laid.last().map(|e| e.end).unwrap_or(0.0) - 13.0).abs() < 1e-9
        );
        for pair in laid.windows(2) {
            assert!(
                (pair[0].end - pair[1].start).abs() < 1e-9,
                "gap or overlap between split events"
            );
        }
        let joined: String = laid.iter().flat_map(|e| e.lines.clone()).collect();
        assert_eq!(joined, text);
    }

    #[test]
    fn ass_has_the_style_and_escapes_user_text() {
        let ass = write_ass(
            &[SubtitleEvent {
                start_seconds: 0.5,
                end_seconds: 2.25,
                text: "{\\pos(0,0)}手写\\N换行".into(),
                ..Default::default()
            }],
            SubtitleStyle::Neon,
            "Noto Sans CJK SC",
        )
        .expect("ass");
        assert!(ass.contains("PlayResX: 1080") && ass.contains("PlayResY: 1920"));
        assert!(ass.contains("Style: Neon,Noto Sans CJK SC,72,"));
        assert!(ass.contains("Dialogue: 0,0:00:00.50,0:00:02.25,Neon"));
        assert!(
            !ass.contains("\\pos"),
            "user text injected an override: {ass}"
        );
        assert!(
            ass.contains("\\c&H00FF66FF"),
            "neon gradient colours missing"
        );
        for s in [
            SubtitleStyle::SimpleWhite,
            SubtitleStyle::VibrantYellow,
            SubtitleStyle::Xiaohongshu,
            SubtitleStyle::DouyinHot,
            SubtitleStyle::Neon,
            SubtitleStyle::Karaoke,
        ] {
            let st = style(s);
            assert!(!st.name.is_empty());
        }
        assert_eq!(ass_time(3725.456), "1:02:05.46");
    }

    #[test]
    fn brand_colours_become_ass_colours_and_replace_a_gradient() {
        assert_eq!(ass_colour_of("#FF3366", "x").expect("colour"), "&H006633FF");
        assert_eq!(ass_colour_of("a0b1c2", "x").expect("colour"), "&H00C2B1A0");
        for bad in ["red", "#FFF", "#GG0000", "#FF00000"] {
            let e = ass_colour_of(bad, "branding.caption_colour").expect_err(bad);
            assert!(e.to_string().contains("branding.caption_colour"), "{e}");
        }
        let neon = branded(style(SubtitleStyle::Neon), "#00FF00", "").expect("branded");
        assert_eq!(neon.primary, "&H0000FF00");
        assert!(
            neon.gradient.is_empty(),
            "the brand colour replaces the gradient"
        );
        assert_eq!(
            neon.outline_colour,
            style(SubtitleStyle::Neon).outline_colour
        );
        let karaoke = branded(style(SubtitleStyle::Karaoke), "", "#102030").expect("branded");
        assert_eq!(karaoke.primary, style(SubtitleStyle::Karaoke).primary);
        assert_eq!(karaoke.outline_colour, "&H00302010");
        assert_eq!(
            branded(style(SubtitleStyle::DouyinHot), "", "").expect("unchanged"),
            style(SubtitleStyle::DouyinHot)
        );
    }

    #[test]
    fn card_titles_wrap_and_shrink_to_stay_inside_the_frame() {
        let bold = metrics("Noto Sans CJK SC", true).expect("font");
        for title in [
            "海底捞",
            "海底捞火锅望京店开业大酬宾全场八折起欢迎品尝",
            "Supercalifragilistic Noodle House Wangjing",
            "四十个字的标题四十个字的标题四十个字的标题四十个字的标题四十个字的标",
        ] {
            let (lines, size) = card_title(title, "Noto Sans CJK SC").expect("laid out");
            assert!(lines.len() <= CARD_TITLE_LINES, "{title}: {lines:?}");
            assert!((CARD_LINE_SIZE..=CARD_TITLE_SIZE).contains(&size));
            for l in &lines {
                let px = bold.width(l) * size as f32 / FONT_SIZE as f32;
                assert!(px <= CARD_TEXT_WIDTH as f32, "{title}: {l:?} is {px} px");
            }
            assert_eq!(lines.concat().replace(' ', ""), title.replace(' ', ""));
        }
        assert_eq!(
            card_title("海底捞", "Noto Sans CJK SC").expect("short").1,
            CARD_TITLE_SIZE
        );
    }
}
