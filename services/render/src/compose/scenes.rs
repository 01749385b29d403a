//! Slides (seed 001's scene types) drawn by render: each scene is laid out
//! in Rust with the shipped fonts' metrics (the same wrapping the captions
//! use), written as an ASS script of positioned lines and shapes, and drawn
//! by libass over the slide's background (and the document's picture, for
//! an image scene) into one 1080x1920 JPEG. The compose then shows that
//! picture as a still for the scene's slot, so slides go through the same
//! pieces, burn-in pass, join, preview and draft as any still.
//!
//! Nothing overflows: text is wrapped to the content box, every size is
//! stepped down until the whole slide fits, and what still does not fit at
//! the smallest sizes is cut with an ellipsis. The content box keeps clear
//! of the platforms' bars and of the captions' band at the bottom.

use std::path::Path;
use std::sync::OnceLock;

use ffmpeg_next as ff;
use scout_proto::scout::render::v1::{Scene, SceneKind};

use crate::error::RenderError;
use crate::media::graph::VideoGraph;
use crate::subtitles::{FONT_SIZE, FontMetrics, find_font, metrics, wrap};

/// The slide's size (the script's play resolution).
pub const WIDTH: u32 = 1080;
/// The slide's size.
pub const HEIGHT: u32 = 1920;
/// The content box: clear of the left edge, the right-hand button column,
/// the top bar and the captions' band.
pub const CONTENT: Box2 = Box2 {
    x0: 80,
    y0: 220,
    x1: 930,
    y1: 1420,
};
/// The slides' background.
pub const BACKGROUND: &str = "0F172A";
const TEXT: &str = "F8FAFC";
const MUTED: &str = "94A3B8";
const PANEL: &str = "1E293B";
const SANS: &str = "Noto Sans CJK SC";
const MONO: &str = "Noto Sans Mono CJK SC";

/// A box on the slide, pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Box2 {
    pub x0: u32,
    pub y0: u32,
    pub x1: u32,
    pub y1: u32,
}

/// Seed 001's accent colours, RGB hex.
pub const ACCENTS: [(&str, &str); 6] = [
    ("blue", "3B82F6"),
    ("orange", "F97316"),
    ("purple", "8B5CF6"),
    ("green", "10B981"),
    ("pink", "EC4899"),
    ("cyan", "06B6D4"),
];

/// The accent's RGB hex (blue when empty or unknown).
pub fn accent(name: &str) -> &'static str {
    ACCENTS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name.trim()))
        .map_or(ACCENTS[0].1, |(_, hex)| hex)
}

/// `RRGGBB` as an ASS colour override value (`&HBBGGRR&`).
fn ass(rgb: &str) -> String {
    let (r, g, b) = (&rgb[0..2], &rgb[2..4], &rgb[4..6]);
    format!("&H{b}{g}{r}&")
}

/// Text as ASS shows it verbatim: braces escaped, backslashes (which
/// start ASS codes) as a full-width backslash.
fn verbatim(text: &str) -> String {
    text.replace('\\', "＼")
        .replace('{', "\\{")
        .replace('}', "\\}")
        .replace(['\n', '\r'], " ")
}

/// Width of `text` at `size` in the sans face.
fn sans_width(m: &FontMetrics, text: &str, size: f32) -> f32 {
    m.width(text) * size / FONT_SIZE as f32
}

/// The monospace face's metrics (loaded once).
fn mono() -> Result<&'static FontMetrics, RenderError> {
    static MONO_METRICS: OnceLock<Result<FontMetrics, String>> = OnceLock::new();
    MONO_METRICS
        .get_or_init(|| {
            let (path, index) = find_font(MONO, false).map_err(|e| e.to_string())?;
            FontMetrics::load(&path, index).map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| RenderError::Io(e.clone()))
}

/// Wraps `text` to `width` pixels at `size` in face `m`.
fn wrap_at(m: &FontMetrics, text: &str, size: f32, width: f32) -> Vec<String> {
    // The metrics are at FONT_SIZE; a narrower line at that size is the
    // same line at `size`.
    wrap(text, m, width * FONT_SIZE as f32 / size)
}

/// One positioned piece of the slide.
#[derive(Debug, Clone, PartialEq)]
enum Mark {
    /// A line of text, top-left at (x, y).
    Text {
        x: u32,
        y: u32,
        size: u32,
        bold: bool,
        mono: bool,
        colour: String,
        /// Already-escaped ASS text (may hold colour overrides).
        body: String,
        /// Plain text, for measuring.
        plain: String,
    },
    /// A filled rectangle.
    Rect { b: Box2, colour: String },
}

/// A slide laid out: what is drawn where, and where its text reaches.
#[derive(Debug, Clone, PartialEq)]
pub struct Laid {
    marks: Vec<Mark>,
    /// Where the document's picture goes (image scenes).
    pub picture: Option<Box2>,
    /// How far down the content reaches.
    pub bottom: u32,
}

/// Sizes a layout is tried at, largest first: every size in it is scaled.
const SCALES: [f32; 8] = [1.0, 0.9, 0.8, 0.72, 0.64, 0.56, 0.5, 0.44];

/// Lays out `scene`. The right option of a quiz is marked when
/// `scene.answer` is 0 or more and `reveal` is set.
pub fn layout(scene: &Scene) -> Result<Laid, RenderError> {
    let sans = metrics(SANS, false)?;
    let bold = metrics(SANS, true)?;
    let mono = mono()?;
    let fonts = Fonts { sans, bold, mono };
    let mut last = None;
    for scale in SCALES {
        let laid = lay(scene, &fonts, scale, false);
        if laid.bottom <= CONTENT.y1 {
            return Ok(laid);
        }
        last = Some(scale);
    }
    // Still too long at the smallest size: cut what does not fit.
    Ok(lay(scene, &fonts, last.unwrap_or(0.44), true))
}

struct Fonts {
    sans: &'static FontMetrics,
    bold: &'static FontMetrics,
    mono: &'static FontMetrics,
}

/// A layout being built: a cursor going down the content box.
struct Pen<'a> {
    fonts: &'a Fonts,
    marks: Vec<Mark>,
    y: u32,
    cut: bool,
    full: bool,
}

impl Pen<'_> {
    /// Whether a line of `size` still fits (when cutting).
    fn room(&self, size: u32) -> bool {
        !self.cut || self.y + line_height(size) <= CONTENT.y1
    }

    /// Wrapped text from `x`, as wide as the box allows; a hanging indent
    /// for the lines after the first when `indent` is set.
    #[allow(clippy::too_many_arguments)]
    fn text(&mut self, text: &str, x: u32, size: u32, bold: bool, colour: &str, centred: bool) {
        let m = if bold {
            self.fonts.bold
        } else {
            self.fonts.sans
        };
        let width = (CONTENT.x1 - x) as f32;
        for line in wrap_at(m, text, size as f32, width) {
            if self.full {
                return;
            }
            if !self.room(size) {
                self.ellipsis(size, colour);
                return;
            }
            let lx = if centred {
                let w = sans_width(m, &line, size as f32) as u32;
                CONTENT.x0 + ((CONTENT.x1 - CONTENT.x0).saturating_sub(w)) / 2
            } else {
                x
            };
            self.marks.push(Mark::Text {
                x: lx,
                y: self.y,
                size,
                bold,
                mono: false,
                colour: colour.to_string(),
                body: verbatim(&line),
                plain: line,
            });
            self.y += line_height(size);
        }
    }

    /// Ends a cut slide with "…" at the end of its last line (shortened
    /// so that it still fits).
    fn ellipsis(&mut self, size: u32, colour: &str) {
        let fonts = self.fonts;
        if let Some(Mark::Text {
            x,
            size: s,
            bold,
            body,
            plain,
            ..
        }) = self
            .marks
            .iter_mut()
            .rev()
            .find(|m| matches!(m, Mark::Text { mono: false, .. }))
        {
            if !plain.ends_with('…') {
                let face = if *bold { fonts.bold } else { fonts.sans };
                let room = (CONTENT.x1 - *x) as f32;
                let mut cut = plain.clone();
                while !cut.is_empty() && sans_width(face, &format!("{cut}…"), *s as f32) > room {
                    cut.pop();
                }
                cut.push('…');
                *body = verbatim(&cut);
                *plain = cut;
            }
        } else {
            self.marks.push(Mark::Text {
                x: CONTENT.x0,
                y: self.y,
                size,
                bold: false,
                mono: false,
                colour: colour.to_string(),
                body: "…".into(),
                plain: "…".into(),
            });
        }
        self.full = true;
    }

    fn gap(&mut self, px: u32) {
        self.y += px;
    }
}

fn line_height(size: u32) -> u32 {
    size * 13 / 10
}

fn px(base: u32, scale: f32) -> u32 {
    ((base as f32 * scale).round() as u32).max(18)
}

/// Whether `text` is mostly Chinese (labels follow it).
fn chinese(scene: &Scene) -> bool {
    let all: String = std::iter::once(scene.title.as_str())
        .chain(scene.items.iter().map(String::as_str))
        .collect();
    let cjk = all
        .chars()
        .filter(|c| ('\u{4E00}'..='\u{9FFF}').contains(c))
        .count();
    let latin = all.chars().filter(char::is_ascii_alphabetic).count();
    cjk * 3 >= latin
}

fn lay(scene: &Scene, fonts: &Fonts, scale: f32, cut: bool) -> Laid {
    let kind = SceneKind::try_from(scene.kind).unwrap_or(SceneKind::List);
    let accent_hex = accent(&scene.accent);
    let zh = chinese(scene);
    let mut pen = Pen {
        fonts,
        marks: Vec::new(),
        y: CONTENT.y0,
        cut,
        full: false,
    };
    let mut picture = None;
    let bar = |pen: &mut Pen<'_>, colour: &str| {
        pen.marks.push(Mark::Rect {
            b: Box2 {
                x0: CONTENT.x0,
                y0: pen.y,
                x1: CONTENT.x0 + 140,
                y1: pen.y + 14,
            },
            colour: colour.to_string(),
        });
        pen.gap(50);
    };
    let items = |pen: &mut Pen<'_>, colour: &str, size: u32| {
        for item in scene.items.iter().filter(|i| !i.trim().is_empty()) {
            if pen.full {
                break;
            }
            let y = pen.y;
            if !pen.room(size) {
                pen.ellipsis(size, TEXT);
                break;
            }
            pen.marks.push(Mark::Text {
                x: CONTENT.x0,
                y,
                size,
                bold: false,
                mono: false,
                colour: colour.to_string(),
                body: "●".into(),
                plain: "●".into(),
            });
            pen.text(
                item.trim(),
                CONTENT.x0 + size + 12,
                size,
                false,
                TEXT,
                false,
            );
            pen.gap(size / 2);
        }
    };
    match kind {
        SceneKind::Title | SceneKind::Outro | SceneKind::Unspecified => {
            // Centred in the box: laid out once to measure, then moved.
            bar(&mut pen, accent_hex);
            pen.text(&scene.title, CONTENT.x0, px(96, scale), true, TEXT, true);
            pen.gap(px(40, scale));
            for line in &scene.items {
                pen.text(line, CONTENT.x0, px(52, scale), false, MUTED, true);
            }
            let used = pen.y - CONTENT.y0;
            let room = (CONTENT.y1 - CONTENT.y0).saturating_sub(used) / 2;
            for m in &mut pen.marks {
                match m {
                    Mark::Text { y, .. } => *y += room,
                    Mark::Rect { b, .. } => {
                        b.y0 += room;
                        b.y1 += room;
                        let w = b.x1 - b.x0;
                        b.x0 = CONTENT.x0 + (CONTENT.x1 - CONTENT.x0 - w) / 2;
                        b.x1 = b.x0 + w;
                    }
                }
            }
            pen.y += room;
        }
        SceneKind::List => {
            bar(&mut pen, accent_hex);
            pen.text(
                &scene.title,
                CONTENT.x0,
                px(72, scale),
                true,
                accent_hex,
                false,
            );
            pen.gap(px(36, scale));
            items(&mut pen, accent_hex, px(52, scale));
        }
        SceneKind::Problem | SceneKind::Solution => {
            let (label, colour) = match (kind, zh) {
                (SceneKind::Problem, true) => ("问题", ACCENTS[1].1),
                (SceneKind::Problem, false) => ("PROBLEM", ACCENTS[1].1),
                (_, true) => ("解决方案", ACCENTS[3].1),
                (_, false) => ("SOLUTION", ACCENTS[3].1),
            };
            pen.text(label, CONTENT.x0, px(44, scale), true, colour, false);
            pen.gap(px(12, scale));
            bar(&mut pen, colour);
            pen.text(&scene.title, CONTENT.x0, px(68, scale), true, TEXT, false);
            pen.gap(px(36, scale));
            items(&mut pen, colour, px(50, scale));
        }
        SceneKind::Quote => {
            let size = px(64, scale);
            pen.text("“", CONTENT.x0, px(160, scale), true, accent_hex, false);
            pen.text(&scene.title, CONTENT.x0, size, false, TEXT, false);
            if !scene.author.trim().is_empty() {
                pen.gap(px(30, scale));
                pen.text(
                    &format!("— {}", scene.author.trim()),
                    CONTENT.x0 + 120,
                    px(44, scale),
                    false,
                    MUTED,
                    false,
                );
            }
        }
        SceneKind::Quiz => {
            let label = if zh { "小测验" } else { "QUIZ" };
            pen.text(label, CONTENT.x0, px(44, scale), true, accent_hex, false);
            pen.gap(px(12, scale));
            bar(&mut pen, accent_hex);
            pen.text(&scene.title, CONTENT.x0, px(64, scale), true, TEXT, false);
            pen.gap(px(40, scale));
            let size = px(50, scale);
            for (i, option) in scene.items.iter().enumerate() {
                if pen.full {
                    break;
                }
                let right = scene.answer >= 0 && i as i32 == scene.answer;
                let letter = char::from(b'A' + (i as u8).min(25));
                let (mark_colour, text_colour) = match (scene.answer >= 0, right) {
                    (true, true) => (ACCENTS[3].1, ACCENTS[3].1),
                    (true, false) => (MUTED, MUTED),
                    _ => (accent_hex, TEXT),
                };
                let tick = if right { " ✓" } else { "" };
                let top = pen.y;
                pen.text(
                    &format!("{letter}. {}{tick}", option.trim()),
                    CONTENT.x0 + 30,
                    size,
                    right,
                    text_colour,
                    false,
                );
                pen.marks.push(Mark::Rect {
                    b: Box2 {
                        x0: CONTENT.x0,
                        y0: top,
                        x1: CONTENT.x0 + 10,
                        y1: pen.y,
                    },
                    colour: mark_colour.to_string(),
                });
                pen.gap(size / 2);
            }
        }
        SceneKind::Code => {
            bar(&mut pen, accent_hex);
            pen.text(&scene.title, CONTENT.x0, px(60, scale), true, TEXT, false);
            pen.gap(px(30, scale));
            let size = px(40, scale).max(20);
            let top = pen.y;
            pen.gap(24);
            let inner = (CONTENT.x0 + 24, CONTENT.x1 - 24);
            let per_line = ((inner.1 - inner.0) as f32
                / (fonts.mono.width("M") * size as f32 / FONT_SIZE as f32))
                .floor()
                .max(8.0) as usize;
            let mut lines = Vec::new();
            for raw in scene.code.lines() {
                let raw = raw.replace('\t', "    ");
                let chars: Vec<char> = raw.chars().collect();
                if chars.is_empty() {
                    lines.push(String::new());
                }
                // Wrapped by characters: a CJK character takes two cells.
                let mut line = String::new();
                let mut cells = 0;
                for c in chars {
                    let w = if c.is_ascii() { 1 } else { 2 };
                    if cells + w > per_line {
                        lines.push(std::mem::take(&mut line));
                        cells = 0;
                    }
                    line.push(c);
                    cells += w;
                }
                if !line.is_empty() {
                    lines.push(line);
                }
            }
            let language = scene.language.to_ascii_lowercase();
            for line in lines {
                if pen.full {
                    break;
                }
                // Cutting: room for this line, the "…" after it and the
                // panel's padding, or "…" now.
                if pen.cut && pen.y + 2 * line_height(size) + 24 > CONTENT.y1 {
                    pen.marks.push(Mark::Text {
                        x: inner.0,
                        y: pen.y,
                        size,
                        bold: false,
                        mono: true,
                        colour: MUTED.into(),
                        body: "…".into(),
                        plain: "…".into(),
                    });
                    pen.y += line_height(size);
                    pen.full = true;
                    break;
                }
                pen.marks.push(Mark::Text {
                    x: inner.0,
                    y: pen.y,
                    size,
                    bold: false,
                    mono: true,
                    colour: CODE_PLAIN.into(),
                    body: highlight(&line, &language),
                    plain: line,
                });
                pen.y += line_height(size);
            }
            pen.gap(24);
            pen.marks.insert(
                0,
                Mark::Rect {
                    b: Box2 {
                        x0: CONTENT.x0,
                        y0: top,
                        x1: CONTENT.x1,
                        y1: pen.y,
                    },
                    colour: PANEL.into(),
                },
            );
        }
        SceneKind::Image => {
            bar(&mut pen, accent_hex);
            pen.text(&scene.title, CONTENT.x0, px(60, scale), true, TEXT, false);
            pen.gap(px(30, scale));
            let b = Box2 {
                x0: CONTENT.x0,
                y0: pen.y,
                x1: CONTENT.x1,
                y1: CONTENT.y1,
            };
            if b.y1 > b.y0 + 100 {
                picture = Some(b);
            }
            for line in &scene.items {
                pen.text(line, CONTENT.x0, px(40, scale), false, MUTED, false);
            }
        }
    }
    // How far down anything drawn reaches (gaps after the last line are
    // not content).
    let bottom = pen
        .marks
        .iter()
        .map(|m| match m {
            Mark::Text { y, size, .. } => y + line_height(*size),
            Mark::Rect { b, .. } => b.y1,
        })
        .max()
        .unwrap_or(CONTENT.y0);
    Laid {
        bottom,
        marks: pen.marks,
        picture,
    }
}

const CODE_PLAIN: &str = "E2E8F0";
const CODE_KEYWORD: &str = "C084FC";
const CODE_STRING: &str = "86EFAC";
const CODE_COMMENT: &str = "64748B";
const CODE_NUMBER: &str = "FBBF24";

/// Keywords of the common languages (one set: a code block's language is
/// often not given).
const KEYWORDS: &[&str] = &[
    "fn",
    "let",
    "mut",
    "pub",
    "use",
    "mod",
    "impl",
    "struct",
    "enum",
    "trait",
    "match",
    "if",
    "else",
    "for",
    "while",
    "loop",
    "return",
    "async",
    "await",
    "const",
    "static",
    "def",
    "class",
    "import",
    "from",
    "as",
    "in",
    "not",
    "and",
    "or",
    "is",
    "None",
    "True",
    "False",
    "lambda",
    "with",
    "yield",
    "try",
    "except",
    "finally",
    "raise",
    "function",
    "var",
    "new",
    "this",
    "export",
    "default",
    "switch",
    "case",
    "break",
    "continue",
    "null",
    "undefined",
    "true",
    "false",
    "package",
    "func",
    "go",
    "defer",
    "type",
    "interface",
    "public",
    "private",
    "protected",
    "void",
    "int",
    "string",
    "bool",
    "echo",
    "then",
    "fi",
    "do",
    "done",
    "elif",
    "self",
    "Self",
    "where",
    "dyn",
    "ref",
    "crate",
    "super",
    "extern",
    "unsafe",
    "print",
];

/// One line of code as ASS text with colour overrides: comments, strings,
/// numbers and keywords.
pub fn highlight(line: &str, language: &str) -> String {
    let hash_comments = matches!(
        language,
        "python" | "py" | "sh" | "bash" | "shell" | "ruby" | "rb" | "yaml" | "yml" | "toml" | ""
    );
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::new();
    let mut current = CODE_PLAIN;
    let mut push = |out: &mut String, colour: &'static str, text: &str| {
        if text.is_empty() {
            return;
        }
        if colour != current {
            out.push_str(&format!("{{\\c{}}}", ass(colour)));
            current = colour;
        }
        out.push_str(&verbatim(text));
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let rest: String = chars[i..].iter().collect();
        if rest.starts_with("//") || (hash_comments && c == '#') || rest.starts_with("-- ") {
            push(&mut out, CODE_COMMENT, &rest);
            break;
        }
        if c == '"' || c == '\'' || c == '`' {
            let mut j = i + 1;
            while j < chars.len() && chars[j] != c {
                if chars[j] == '\\' {
                    j += 1;
                }
                j += 1;
            }
            let end = (j + 1).min(chars.len());
            push(
                &mut out,
                CODE_STRING,
                &chars[i..end].iter().collect::<String>(),
            );
            i = end;
            continue;
        }
        if c.is_ascii_digit() {
            let mut j = i;
            while j < chars.len()
                && (chars[j].is_ascii_alphanumeric() || chars[j] == '.' || chars[j] == '_')
            {
                j += 1;
            }
            push(
                &mut out,
                CODE_NUMBER,
                &chars[i..j].iter().collect::<String>(),
            );
            i = j;
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let mut j = i;
            while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
                j += 1;
            }
            let word: String = chars[i..j].iter().collect();
            let colour = if KEYWORDS.contains(&word.as_str()) {
                CODE_KEYWORD
            } else {
                CODE_PLAIN
            };
            push(&mut out, colour, &word);
            i = j;
            continue;
        }
        push(&mut out, CODE_PLAIN, &c.to_string());
        i += 1;
    }
    out
}

/// The slide's ASS script (one event per mark, all of them for the whole
/// first second: the slide is one picture).
pub fn ass_script(laid: &Laid) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "[Script Info]\nScriptType: v4.00+\nPlayResX: {WIDTH}\nPlayResY: {HEIGHT}\nWrapStyle: 2\nScaledBorderAndShadow: yes\nYCbCr Matrix: TV.709\n\n"
    ));
    s.push_str("[V4+ Styles]\nFormat: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\n");
    s.push_str(&format!("Style: Sans,{SANS},48,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,0,0,7,0,0,0,1\n"));
    s.push_str(&format!("Style: Mono,{MONO},34,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,0,0,7,0,0,0,1\n\n"));
    s.push_str("[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n");
    for m in &laid.marks {
        match m {
            Mark::Rect { b, colour } => s.push_str(&format!(
                "Dialogue: 0,0:00:00.00,0:00:10.00,Sans,,0,0,0,,{{\\an7\\pos(0,0)\\bord0\\shad0\\1c{}\\p1}}m {} {} l {} {} {} {} {} {}{{\\p0}}\n",
                ass(colour),
                b.x0, b.y0, b.x1, b.y0, b.x1, b.y1, b.x0, b.y1
            )),
            Mark::Text {
                x,
                y,
                size,
                bold,
                mono,
                colour,
                body,
                ..
            } => s.push_str(&format!(
                "Dialogue: 1,0:00:00.00,0:00:10.00,{},,0,0,0,,{{\\an7\\pos({x},{y})\\fs{size}\\b{}\\c{}}}{body}\n",
                if *mono { "Mono" } else { "Sans" },
                u8::from(*bold),
                ass(colour),
            )),
        }
    }
    s
}

/// Draws `scene` into a 1080x1920 JPEG at `out` (the document's picture,
/// for an image scene, at `picture`); scratch files go in `dir`.
pub fn draw(
    scene: &Scene,
    picture: Option<&Path>,
    dir: &Path,
    out: &Path,
) -> Result<(), RenderError> {
    let laid = layout(scene)?;
    let script = dir.join(format!(
        "scene-{}.ass",
        out.file_stem().and_then(|s| s.to_str()).unwrap_or("slide")
    ));
    std::fs::write(&script, ass_script(&laid))
        .map_err(|e| RenderError::Io(format!("cannot write the slide's script: {e}")))?;
    let burn = super::subtitles::burn_filter(&script)?;
    let chain = match (picture, laid.picture) {
        (Some(p), Some(b)) => {
            let path = p.to_string_lossy();
            if path
                .chars()
                .any(|c| matches!(c, ':' | '\\' | '\'' | ',' | '[' | ']' | ';' | '='))
            {
                return Err(RenderError::Io(format!(
                    "path {path} has characters the filter syntax reserves"
                )));
            }
            let upright = match crate::media::exif::filter(crate::media::exif::orientation(p)) {
                "" => String::new(),
                f => format!("{f},"),
            };
            format!(
                "movie=filename={path},{upright}scale=w={}:h={}:force_original_aspect_ratio=decrease,format=yuv420p[pic];\
                 [in][pic]overlay=x={}+({}-w)/2:y={}+({}-h)/2,{burn},format=yuv420p[out]",
                b.x1 - b.x0,
                b.y1 - b.y0,
                b.x0,
                b.x1 - b.x0,
                b.y0,
                b.y1 - b.y0,
            )
        }
        _ => format!("{burn},format=yuv420p"),
    };
    let mut frame = ff::frame::Video::new(ff::format::Pixel::YUV420P, WIDTH, HEIGHT);
    fill(&mut frame, BACKGROUND);
    frame.set_pts(Some(0));
    let mut graph = VideoGraph::new(
        WIDTH,
        HEIGHT,
        ff::format::Pixel::YUV420P,
        ff::Rational(1, 30),
        ff::Rational(1, 1),
        &chain,
    )?;
    graph.push(Some(&frame))?;
    graph.push(None)?;
    let drawn = graph
        .pull()?
        .ok_or_else(|| RenderError::Io("the slide drew no picture".into()))?;
    let mut writer =
        crate::media::jpeg::JpegWriter::for_decoded(&drawn, ff::Rational(1, 30), 0, HEIGHT, 95)?;
    let jpeg = writer.encode(&drawn)?;
    std::fs::write(out, jpeg).map_err(|e| RenderError::Io(format!("cannot write the slide: {e}")))
}

/// Fills a YUV 4:2:0 frame with `rgb` (BT.709, limited range).
fn fill(frame: &mut ff::frame::Video, rgb: &str) {
    let v = |i: usize| f64::from(u8::from_str_radix(&rgb[i..i + 2], 16).unwrap_or(0)) / 255.0;
    let (r, g, b) = (v(0), v(2), v(4));
    let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    let cb = (b - y) / 1.8556;
    let cr = (r - y) / 1.5748;
    let planes = [
        (16.0 + 219.0 * y).round() as u8,
        (128.0 + 224.0 * cb).round() as u8,
        (128.0 + 224.0 * cr).round() as u8,
    ];
    for (i, value) in planes.iter().enumerate() {
        frame.data_mut(i).fill(*value);
    }
}

/// Where every line of text of a laid-out slide reaches, pixels (for
/// checking that nothing leaves the content box).
pub fn text_boxes(laid: &Laid) -> Result<Vec<Box2>, RenderError> {
    let sans = metrics(SANS, false)?;
    let bold = metrics(SANS, true)?;
    let mono = mono()?;
    Ok(laid
        .marks
        .iter()
        .filter_map(|m| match m {
            Mark::Text {
                x,
                y,
                size,
                bold: b,
                mono: is_mono,
                plain,
                ..
            } => {
                let face = if *is_mono {
                    mono
                } else if *b {
                    bold
                } else {
                    sans
                };
                let w = sans_width(face, plain, *size as f32).ceil() as u32;
                Some(Box2 {
                    x0: *x,
                    y0: *y,
                    x1: x + w,
                    y1: y + line_height(*size),
                })
            }
            Mark::Rect { .. } => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scene(kind: SceneKind, title: &str, items: &[&str]) -> Scene {
        Scene {
            kind: kind as i32,
            title: title.into(),
            items: items.iter().map(|s| s.to_string()).collect(),
            answer: -1,
            ..Scene::default()
        }
    }

    #[test]
    fn every_kind_stays_in_the_content_box_however_long_its_text() {
        let long_zh = "这是一段很长的中文说明文字，用来检查换行、缩小字号和省略号是否能让内容始终留在画面里。".repeat(6);
        let long_en =
            "A very long English sentence that keeps going to check wrapping and shrinking. "
                .repeat(8);
        let items: Vec<&str> = [long_zh.as_str(), long_en.as_str()].repeat(6);
        let mut all = Vec::new();
        for kind in [
            SceneKind::Title,
            SceneKind::List,
            SceneKind::Quote,
            SceneKind::Problem,
            SceneKind::Solution,
            SceneKind::Quiz,
            SceneKind::Outro,
            SceneKind::Image,
        ] {
            all.push(scene(kind, &long_zh, &items));
            all.push(scene(kind, "短标题", &["一点", "two"]));
        }
        let mut code = scene(SceneKind::Code, &long_en, &[]);
        code.code =
            "fn main() { println!(\"{}\", \"你好，世界\".repeat(40)); } // comment\n".repeat(80);
        all.push(code);
        for s in &all {
            let laid = layout(s).expect("layout");
            assert!(
                laid.bottom <= CONTENT.y1 + 1,
                "{:?}: bottom {}",
                s.kind,
                laid.bottom
            );
            for b in text_boxes(&laid).expect("boxes") {
                assert!(
                    b.x0 >= CONTENT.x0 && b.x1 <= CONTENT.x1 + 2,
                    "{:?}: {b:?}",
                    s.kind
                );
                assert!(
                    b.y0 >= CONTENT.y0 && b.y1 <= CONTENT.y1 + 2,
                    "{:?}: {b:?}",
                    s.kind
                );
            }
        }
    }

    #[test]
    fn code_is_highlighted_and_braces_survive() {
        let h = highlight("let x = \"hi\"; // done {}", "rust");
        assert!(
            h.contains(&format!("{{\\c{}}}let", ass(CODE_KEYWORD))),
            "{h}"
        );
        assert!(
            h.contains(&format!("{{\\c{}}}\"hi\"", ass(CODE_STRING))),
            "{h}"
        );
        assert!(h.contains("// done \\{\\}"), "{h}");
        assert_eq!(accent("Orange"), "F97316");
        assert_eq!(accent("mauve"), "3B82F6");
    }
}
