//! Documents for the doc_explainer recipe (seed 001): Markdown, plain text,
//! PDF or DOCX → blocks (headings, paragraphs, items, code, quotes,
//! pictures) → sections → scenes (seed 001's scene types), each with its
//! narration written from a template. Seed 001's limits hold: at most 100
//! scenes and 50,000 characters of text; each scene's narration is at most
//! 300 characters (well inside its 0–300 s).

use std::io::Read as _;

use scout_proto::scout::render::v1::{Scene, SceneKind};

/// Largest document upload.
pub const MAX_BYTES: i64 = 10 * 1024 * 1024;
/// Most scenes a document may make (seed 001).
pub const MAX_SCENES: usize = 100;
/// Most characters of text a document may hold (seed 001's narration cap).
pub const MAX_TEXT: usize = 50_000;
/// Longest narration of one scene.
pub const MAX_NARRATION: usize = 300;
/// Items on one list slide before it continues on the next.
const ITEMS_PER_SLIDE: usize = 5;
/// Longest item or line on a slide.
const MAX_ITEM: usize = 300;

/// What a document file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Text,
    Pdf,
    Docx,
}

/// Content types, extensions and formats a document may have.
pub const TYPES: [(&str, &str, Format); 5] = [
    ("text/markdown", "md", Format::Markdown),
    ("text/x-markdown", "md", Format::Markdown),
    ("text/plain", "txt", Format::Text),
    ("application/pdf", "pdf", Format::Pdf),
    (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "docx",
        Format::Docx,
    ),
];

/// The extension of a document's content type.
pub fn extension_for(content_type: &str) -> Option<&'static str> {
    let base = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    TYPES
        .iter()
        .find(|(t, _, _)| *t == base)
        .map(|(_, e, _)| *e)
}

/// The format of a stored key (by the extension it was signed with).
pub fn format_of_key(key: &str) -> Option<Format> {
    let ext = key.rsplit_once('.')?.1;
    TYPES.iter().find(|(_, e, _)| *e == ext).map(|(_, _, f)| *f)
}

/// The accepted types, for an error.
pub fn types() -> String {
    TYPES
        .iter()
        .map(|(t, _, _)| *t)
        .collect::<Vec<_>>()
        .join(", ")
}

/// One block of a document, in reading order.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Heading { level: u8, text: String },
    Paragraph(String),
    Item { text: String, checked: Option<bool> },
    Code { language: String, text: String },
    Quote(String),
    Image { bytes: Vec<u8>, ext: &'static str },
}

/// A picture a scene shows: its bytes, to be stored before the script is.
#[derive(Debug, Clone, PartialEq)]
pub struct Picture {
    pub bytes: Vec<u8>,
    pub ext: &'static str,
}

/// A scene and what is said over it.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub scene: Scene,
    pub narration: String,
    /// The document's picture (image scenes); `scene.image` is set once stored.
    pub picture: Option<Picture>,
}

/// Reads `bytes` as `format`: its blocks, or why it cannot be read.
pub fn parse(format: Format, bytes: &[u8]) -> Result<Vec<Block>, String> {
    match format {
        Format::Markdown | Format::Text => {
            let text = std::str::from_utf8(bytes)
                .map_err(|_| "the document is not UTF-8 text".to_string())?;
            Ok(markdown(text))
        }
        Format::Docx => docx(bytes),
        Format::Pdf => pdf(bytes),
    }
}

fn markdown(text: &str) -> Vec<Block> {
    use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};
    let mut blocks = Vec::new();
    let mut buf = String::new();
    let mut in_item = false;
    let mut checked = None;
    let mut quote = 0;
    let mut code: Option<String> = None;
    let mut heading: Option<u8> = None;
    // Inside an embedded picture: its alt text is not narrated.
    let mut picture = false;
    let flush = |buf: &mut String,
                 blocks: &mut Vec<Block>,
                 item: bool,
                 checked: &mut Option<bool>,
                 quote: bool| {
        let t = buf.split_whitespace().collect::<Vec<_>>().join(" ");
        buf.clear();
        if t.is_empty() {
            return;
        }
        blocks.push(if item {
            Block::Item {
                text: t,
                checked: checked.take(),
            }
        } else if quote {
            Block::Quote(t)
        } else {
            Block::Paragraph(t)
        });
    };
    for event in Parser::new_ext(
        text,
        Options::ENABLE_TASKLISTS | Options::ENABLE_STRIKETHROUGH,
    ) {
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                flush(&mut buf, &mut blocks, in_item, &mut checked, quote > 0);
                heading = Some(level as u8);
            }
            Event::End(TagEnd::Heading(_)) => {
                let t = buf.trim().to_string();
                buf.clear();
                if !t.is_empty() {
                    blocks.push(Block::Heading {
                        level: heading.unwrap_or(2),
                        text: t,
                    });
                }
                heading = None;
            }
            Event::Start(Tag::CodeBlock(kind)) => {
                flush(&mut buf, &mut blocks, in_item, &mut checked, quote > 0);
                code = Some(match kind {
                    CodeBlockKind::Fenced(lang) => {
                        lang.split_whitespace().next().unwrap_or("").to_string()
                    }
                    CodeBlockKind::Indented => String::new(),
                });
            }
            Event::End(TagEnd::CodeBlock) => {
                if let Some(language) = code.take() {
                    let text = buf.trim_end().to_string();
                    buf.clear();
                    if !text.trim().is_empty() {
                        blocks.push(Block::Code { language, text });
                    }
                }
            }
            Event::Start(Tag::Item) => {
                flush(&mut buf, &mut blocks, in_item, &mut checked, quote > 0);
                in_item = true;
            }
            Event::End(TagEnd::Item) => {
                flush(&mut buf, &mut blocks, true, &mut checked, false);
                in_item = false;
            }
            Event::TaskListMarker(done) => checked = Some(done),
            Event::Start(Tag::BlockQuote(_)) => {
                flush(&mut buf, &mut blocks, in_item, &mut checked, false);
                quote += 1;
            }
            Event::End(TagEnd::BlockQuote(_)) => {
                flush(&mut buf, &mut blocks, false, &mut checked, true);
                quote -= 1;
            }
            Event::End(TagEnd::Paragraph) if !in_item && quote == 0 => {
                flush(&mut buf, &mut blocks, false, &mut checked, false);
            }
            Event::End(TagEnd::Paragraph) if quote > 0 => buf.push('\n'),
            Event::Start(Tag::Image { dest_url, .. }) => {
                if let Some((bytes, ext)) = embedded_picture(&dest_url) {
                    flush(&mut buf, &mut blocks, in_item, &mut checked, quote > 0);
                    blocks.push(Block::Image { bytes, ext });
                    picture = true;
                }
            }
            Event::End(TagEnd::Image) => picture = false,
            Event::Text(_) if picture => {}
            Event::Text(t) | Event::Code(t) => buf.push_str(&t),
            Event::SoftBreak | Event::HardBreak => {
                buf.push(if code.is_some() { '\n' } else { ' ' })
            }
            _ => {}
        }
    }
    flush(&mut buf, &mut blocks, in_item, &mut checked, quote > 0);
    blocks
}

/// A picture embedded in a Markdown document as a base64 `data:` URL
/// (PNG or JPEG, checked by its first bytes). A Markdown file is uploaded
/// alone, so a picture by path or link has nothing to be read from: its
/// alt text stays in the narration.
fn embedded_picture(url: &str) -> Option<(Vec<u8>, &'static str)> {
    use base64::Engine as _;
    let (meta, data) = url.strip_prefix("data:")?.split_once(',')?;
    if !meta.to_ascii_lowercase().ends_with(";base64") {
        return None;
    }
    let data: String = data.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .ok()?;
    let ext = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        "png"
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        "jpg"
    } else {
        return None;
    };
    Some((bytes, ext))
}

/// XML text unescaped.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let Some(end) = tail.find(';') else {
            out.push_str(tail);
            return out;
        };
        let entity = &tail[1..end];
        let c = match entity {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match c {
            Some(c) => out.push(c),
            None => out.push_str(&tail[..=end]),
        }
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The value of `attr="…"` in a tag's text.
fn attr<'a>(tag: &'a str, attr: &str) -> Option<&'a str> {
    let at = tag.find(&format!("{attr}=\""))? + attr.len() + 2;
    let end = tag[at..].find('"')?;
    Some(&tag[at..at + end])
}

fn docx(bytes: &[u8]) -> Result<Vec<Block>, String> {
    let not_docx = |why: String| format!("the document is not a readable Word file (.docx): {why}");
    let mut zip =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| not_docx(e.to_string()))?;
    let mut read = |name: &str, limit: u64| -> Result<Option<Vec<u8>>, String> {
        match zip.by_name(name) {
            Ok(f) => {
                let mut out = Vec::new();
                f.take(limit)
                    .read_to_end(&mut out)
                    .map_err(|e| not_docx(format!("{name}: {e}")))?;
                Ok(Some(out))
            }
            Err(_) => Ok(None),
        }
    };
    let xml = read("word/document.xml", 64 * 1024 * 1024)?
        .ok_or_else(|| not_docx("no word/document.xml".into()))?;
    let xml = String::from_utf8_lossy(&xml).into_owned();
    let rels = read("word/_rels/document.xml.rels", 4 * 1024 * 1024)?
        .map(|r| String::from_utf8_lossy(&r).into_owned())
        .unwrap_or_default();
    let target = |id: &str| -> Option<String> {
        rels.split("<Relationship ")
            .find(|r| attr(r, "Id") == Some(id))
            .and_then(|r| attr(r, "Target"))
            .map(|t| {
                format!(
                    "word/{}",
                    t.trim_start_matches("/word/").trim_start_matches('/')
                )
            })
    };
    let mut blocks = Vec::new();
    for para in xml.split("<w:p>").flat_map(|s| s.split("<w:p ")).skip(1) {
        let para = para.split("</w:p>").next().unwrap_or_default();
        let style = para
            .find("<w:pStyle ")
            .and_then(|i| attr(&para[i..], "w:val"))
            .unwrap_or_default()
            .to_ascii_lowercase();
        let mut text = String::new();
        for run in para.split("<w:t").skip(1) {
            // `<w:t>` or `<w:t xml:space="preserve">`, not `<w:tab/>` / `<w:tbl>`.
            if !(run.starts_with('>') || run.starts_with(' ')) {
                if run.starts_with("ab/>") {
                    text.push(' ');
                }
                continue;
            }
            let Some(open) = run.find('>') else { continue };
            let body = &run[open + 1..];
            text.push_str(&unescape(body.split("</w:t>").next().unwrap_or_default()));
        }
        let text = text.trim().to_string();
        for embed in para.split("r:embed=\"").skip(1) {
            let id = embed.split('"').next().unwrap_or_default();
            if let Some(path) = target(id) {
                let ext = match path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()) {
                    Some(e) if e == "png" => "png",
                    Some(e) if e == "jpg" || e == "jpeg" => "jpg",
                    _ => continue,
                };
                if let Some(bytes) = read(&path, MAX_BYTES as u64)? {
                    blocks.push(Block::Image { bytes, ext });
                }
            }
        }
        if text.is_empty() {
            continue;
        }
        let heading = if style == "title" {
            Some(1)
        } else if let Some(n) = style.strip_prefix("heading") {
            Some(n.trim().parse::<u8>().unwrap_or(2))
        } else if !style.is_empty() && style.chars().all(|c| c.is_ascii_digit()) {
            style.parse::<u8>().ok()
        } else {
            None
        };
        blocks.push(match heading {
            Some(level) => Block::Heading { level, text },
            None if style.contains("quote") => Block::Quote(text),
            None if style.contains("code") => Block::Code {
                language: String::new(),
                text,
            },
            None if para.contains("<w:numPr>") || style.contains("list") => Block::Item {
                text,
                checked: None,
            },
            None => Block::Paragraph(text),
        });
    }
    Ok(blocks)
}

fn pdf(bytes: &[u8]) -> Result<Vec<Block>, String> {
    let doc =
        lopdf::Document::load_mem(bytes).map_err(|e| format!("the PDF cannot be read: {e}"))?;
    if doc.is_encrypted() {
        return Err("the PDF is encrypted; save it without a password".into());
    }
    let mut blocks = Vec::new();
    // A picture several pages share (their common resources) shows once.
    let mut seen = std::collections::HashSet::new();
    for (n, page) in doc.get_pages() {
        let text = doc
            .extract_text(&[n])
            .map_err(|e| format!("page {n} of the PDF cannot be read: {e}"))?;
        let mut first = true;
        let mut para = String::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() {
                if !para.is_empty() {
                    blocks.push(Block::Paragraph(std::mem::take(&mut para)));
                }
                continue;
            }
            if first {
                // Each page's first line heads its section.
                blocks.push(Block::Heading {
                    level: if n == 1 { 1 } else { 2 },
                    text: line.to_string(),
                });
                first = false;
                continue;
            }
            if line.starts_with("• ") || line.starts_with("- ") {
                if !para.is_empty() {
                    blocks.push(Block::Paragraph(std::mem::take(&mut para)));
                }
                blocks.push(Block::Item {
                    text: line[line.find(' ').unwrap_or(0)..].trim().to_string(),
                    checked: None,
                });
                continue;
            }
            if !para.is_empty() && !ends_cjk(&para) {
                para.push(' ');
            }
            para.push_str(line);
        }
        if !para.is_empty() {
            blocks.push(Block::Paragraph(para));
        }
        // Pictures stored as JPEG are kept as they are; raw samples
        // (Flate-compressed or plain: a PNG or screenshot put in the
        // document, a scan) are written as a PNG.
        for image in doc.get_page_images(page).unwrap_or_default() {
            let sized = (64..=MAX_PICTURE_SIDE).contains(&image.width)
                && (64..=MAX_PICTURE_SIDE).contains(&image.height);
            if !sized || seen.contains(&image.id) {
                continue;
            }
            let filters = image.filters.clone().unwrap_or_default();
            let picture = if filters.len() == 1 && filters[0] == "DCTDecode" {
                Some((image.content.to_vec(), "jpg"))
            } else {
                raw_picture(&doc, &image, &filters).map(|png| (png, "png"))
            };
            if let Some((bytes, ext)) = picture {
                seen.insert(image.id);
                blocks.push(Block::Image { bytes, ext });
            }
        }
    }
    Ok(blocks)
}

/// Largest side of a PDF picture kept, pixels.
const MAX_PICTURE_SIDE: i64 = 8192;

/// A PDF image's colours, as far as a picture of them is kept.
#[derive(Debug, Clone, PartialEq)]
enum Colours {
    Grey,
    Rgb,
    Cmyk,
    /// Each sample an index into `palette` (entries in `base`'s colours).
    Indexed {
        base: Box<Colours>,
        palette: Vec<u8>,
    },
}

impl Colours {
    /// Samples per pixel.
    fn components(&self) -> usize {
        match self {
            Self::Grey | Self::Indexed { .. } => 1,
            Self::Rgb => 3,
            Self::Cmyk => 4,
        }
    }

    /// A colour space object (a name, an array, or a reference to either):
    /// the device spaces, their calibrated and ICC-based kinds (by their
    /// number of components), and an indexed palette over any of them (one
    /// level: an indexed base, however reached, a cycle included, is none).
    fn of(doc: &lopdf::Document, space: &lopdf::Object) -> Option<Self> {
        Self::within(doc, space, false)
    }

    fn within(doc: &lopdf::Document, space: &lopdf::Object, in_palette: bool) -> Option<Self> {
        use lopdf::Object;
        let resolve = |o: &'_ Object| -> Option<Object> {
            match o {
                Object::Reference(id) => doc.get_object(*id).ok().cloned(),
                o => Some(o.clone()),
            }
        };
        let by_count = |n: i64| match n {
            1 => Some(Self::Grey),
            3 => Some(Self::Rgb),
            4 => Some(Self::Cmyk),
            _ => None,
        };
        match resolve(space)? {
            Object::Name(n) => match n.as_slice() {
                b"DeviceGray" | b"G" | b"CalGray" => Some(Self::Grey),
                b"DeviceRGB" | b"RGB" | b"CalRGB" => Some(Self::Rgb),
                b"DeviceCMYK" | b"CMYK" => Some(Self::Cmyk),
                _ => None,
            },
            Object::Array(a) => match a.first()?.as_name().ok()? {
                b"CalGray" => Some(Self::Grey),
                b"CalRGB" => Some(Self::Rgb),
                b"ICCBased" => match resolve(a.get(1)?)? {
                    Object::Stream(icc) => by_count(icc.dict.get(b"N").ok()?.as_i64().ok()?),
                    _ => None,
                },
                b"Indexed" | b"I" if !in_palette => {
                    let base = Self::within(doc, a.get(1)?, true)?;
                    let entries = usize::try_from(a.get(2)?.as_i64().ok()?).ok()? + 1;
                    let mut palette = match resolve(a.get(3)?)? {
                        Object::String(bytes, _) => bytes,
                        Object::Stream(s) if s.dict.has(b"Filter") => {
                            s.decompressed_content_with_limit(256 * 4).ok()?
                        }
                        Object::Stream(s) => s.content,
                        _ => return None,
                    };
                    let need = entries.min(256) * base.components();
                    if palette.len() < need {
                        return None;
                    }
                    palette.truncate(need);
                    Some(Self::Indexed {
                        base: Box::new(base),
                        palette,
                    })
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// Whether a picture of these colours is grey (else RGB).
    fn grey(&self) -> bool {
        match self {
            Self::Grey => true,
            Self::Indexed { base, .. } => **base == Self::Grey,
            _ => false,
        }
    }

    /// One pixel's colour components (each scaled to 0-255, or a palette
    /// index) as grey or RGB, appended to `out`.
    fn put(&self, px: &[u8], out: &mut Vec<u8>) {
        match self {
            Self::Grey => out.push(px[0]),
            Self::Rgb => out.extend_from_slice(&px[..3]),
            Self::Cmyk => {
                let k = 255 - u32::from(px[3]);
                for c in &px[..3] {
                    out.push(((255 - u32::from(*c)) * k / 255) as u8);
                }
            }
            Self::Indexed { base, palette } => {
                let n = base.components();
                let last = palette.len() / n - 1;
                let at = usize::from(px[0]).min(last) * n;
                base.put(&palette[at..at + n], out);
            }
        }
    }
}

/// A PDF image of samples (Flate-compressed or plain; 1, 2, 4 or 8 bits;
/// grey, RGB, CMYK, their ICC-based kinds, or indexed over any of them)
/// as a grey or RGB PNG; `None` for any other kind (16-bit, JPEG 2000,
/// separations, a mask).
fn raw_picture(
    doc: &lopdf::Document,
    image: &lopdf::xobject::PdfImage<'_>,
    filters: &[String],
) -> Option<Vec<u8>> {
    let bits = usize::try_from(image.bits_per_component?).ok()?;
    if ![1, 2, 4, 8].contains(&bits) {
        return None;
    }
    let colours = Colours::of(doc, image.origin_dict.get(b"ColorSpace").ok()?)?;
    let (w, h) = (
        usize::try_from(image.width).ok()?,
        usize::try_from(image.height).ok()?,
    );
    let comps = colours.components();
    let row = (w * comps * bits).div_ceil(8);
    let size = row * h;
    let samples = match filters {
        [] => image.content.to_vec(),
        [f] if f == "FlateDecode" => doc
            .get_object(image.id)
            .ok()?
            .as_stream()
            .ok()?
            .decompressed_content_with_limit(size + h)
            .ok()?,
        _ => return None,
    };
    if samples.len() < size {
        return None;
    }
    let max = (1u32 << bits) - 1;
    let indexed = matches!(colours, Colours::Indexed { .. });
    let channels = if colours.grey() { 1 } else { 3 };
    let mut out = Vec::with_capacity(w * h * channels);
    let mut px = vec![0u8; comps];
    for line in samples[..size].chunks_exact(row) {
        for x in 0..w {
            for (c, v) in px.iter_mut().enumerate() {
                let bit = (x * comps + c) * bits;
                let raw = (u32::from(line[bit / 8]) >> (8 - bits - bit % 8)) & max;
                // Indices stay indices; colour samples are scaled to 0-255.
                *v = if indexed { raw } else { raw * 255 / max } as u8;
            }
            colours.put(&px, &mut out);
        }
    }
    Some(png(w, h, channels, &out))
}

/// `samples` (rows of `w` pixels of `channels` 8-bit samples) as a PNG.
pub fn png(w: usize, h: usize, channels: usize, samples: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut rows = Vec::with_capacity((w * channels + 1) * h);
    for row in samples.chunks_exact(w * channels).take(h) {
        rows.push(0); // no filter
        rows.extend_from_slice(row);
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let idat = z
        .write_all(&rows)
        .and_then(|()| z.finish())
        .unwrap_or_default();
    let chunk = |out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]| {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(kind);
        crc.update(data);
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&crc.finalize().to_be_bytes());
    };
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&(w as u32).to_be_bytes());
    ihdr.extend_from_slice(&(h as u32).to_be_bytes());
    ihdr.extend_from_slice(&[8, if channels == 3 { 2 } else { 0 }, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &idat);
    chunk(&mut out, b"IEND", &[]);
    out
}

fn ends_cjk(s: &str) -> bool {
    s.chars().last().is_some_and(is_cjk)
}

fn is_cjk(c: char) -> bool {
    ('\u{3000}'..='\u{9FFF}').contains(&c) || ('\u{FF00}'..='\u{FFEF}').contains(&c)
}

/// Whether the document is mostly Chinese (its narration is then).
fn chinese(blocks: &[Block]) -> bool {
    let (mut cjk, mut latin) = (0usize, 0usize);
    for b in blocks {
        let t = match b {
            Block::Heading { text, .. }
            | Block::Paragraph(text)
            | Block::Item { text, .. }
            | Block::Quote(text) => text,
            _ => continue,
        };
        cjk += t.chars().filter(|c| is_cjk(*c)).count();
        latin += t.chars().filter(char::is_ascii_alphabetic).count();
    }
    cjk * 3 >= latin
}

fn cut(s: &str, max: usize) -> String {
    let s = s.trim();
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Cut to `max` characters at the last sentence end that fits.
fn cut_sentences(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let head: String = s.chars().take(max).collect();
    match head.rfind(['。', '！', '？', '.', '!', '?', '；', ';']) {
        Some(i) if i > max / 3 => {
            head[..i + head[i..].chars().next().map_or(1, char::len_utf8)].to_string()
        }
        _ => cut(s, max),
    }
}

/// The characters of text a document holds.
pub fn text_chars(blocks: &[Block]) -> usize {
    blocks
        .iter()
        .map(|b| match b {
            Block::Heading { text, .. }
            | Block::Paragraph(text)
            | Block::Item { text, .. }
            | Block::Quote(text) => text.chars().count(),
            Block::Code { text, .. } => text.chars().count(),
            Block::Image { .. } => 0,
        })
        .sum()
}

/// A section: a heading and what follows it up to the next.
struct Section {
    title: String,
    blocks: Vec<Block>,
}

fn sections(blocks: &[Block]) -> (String, Vec<Section>) {
    let mut title = String::new();
    let mut out: Vec<Section> = Vec::new();
    for b in blocks {
        match b {
            Block::Heading { level, text } if title.is_empty() && *level <= 1 => {
                title = text.clone()
            }
            Block::Heading { text, .. } => out.push(Section {
                title: text.clone(),
                blocks: Vec::new(),
            }),
            other => {
                if out.is_empty() {
                    out.push(Section {
                        title: String::new(),
                        blocks: Vec::new(),
                    });
                }
                if let Some(s) = out.last_mut() {
                    s.blocks.push(other.clone());
                }
            }
        }
    }
    if title.is_empty() {
        title = blocks
            .iter()
            .find_map(|b| match b {
                Block::Heading { text, .. } | Block::Paragraph(text) => Some(cut(text, 60)),
                _ => None,
            })
            .unwrap_or_default();
    }
    (title, out)
}

fn matches_any(title: &str, words: &[&str]) -> bool {
    let t = title.to_lowercase();
    words.iter().any(|w| t.contains(w))
}

fn scene(kind: SceneKind, title: &str, items: Vec<String>, accent: &str) -> Scene {
    Scene {
        kind: kind as i32,
        title: cut(title, 200),
        items: items
            .into_iter()
            .map(|i| cut(&i, MAX_ITEM))
            .take(12)
            .collect(),
        answer: -1,
        accent: accent.to_string(),
        ..Scene::default()
    }
}

/// The narration of a scene (≤ 300 characters), in the document's language.
pub fn narrate(s: &Scene, zh: bool, doc_title: &str) -> String {
    let kind = SceneKind::try_from(s.kind).unwrap_or(SceneKind::List);
    let items = |sep: &str| s.items.join(sep);
    let text = match (kind, zh) {
        (SceneKind::Title, true) => format!("今天我们来讲：{}。{}", s.title, items("。")),
        (SceneKind::Title, false) => format!("Today: {}. {}", s.title, items(". ")),
        (SceneKind::List, true) => format!("{}。{}。", s.title, items("；")),
        (SceneKind::List, false) => format!("{}. {}.", s.title, items(". ")),
        (SceneKind::Code, true) => format!(
            "来看{}的代码，一共{}行。",
            if s.title.is_empty() {
                "这段"
            } else {
                &s.title
            },
            s.code.lines().count()
        ),
        (SceneKind::Code, false) => format!(
            "Here is the code for {}: {} lines.",
            if s.title.is_empty() {
                "this step"
            } else {
                &s.title
            },
            s.code.lines().count()
        ),
        (SceneKind::Quote, true) if !s.author.is_empty() => {
            format!("{}说过：{}", s.author, s.title)
        }
        (SceneKind::Quote, true) => format!("有一句话说得好：{}", s.title),
        (SceneKind::Quote, false) if !s.author.is_empty() => {
            format!("As {} put it: {}", s.author, s.title)
        }
        (SceneKind::Quote, false) => format!("As the saying goes: {}", s.title),
        (SceneKind::Problem, true) => format!("问题是：{}。{}。", s.title, items("；")),
        (SceneKind::Problem, false) => format!("The problem: {}. {}.", s.title, items(". ")),
        (SceneKind::Solution, true) => format!("解决方法：{}。{}。", s.title, items("；")),
        (SceneKind::Solution, false) => format!("The solution: {}. {}.", s.title, items(". ")),
        (SceneKind::Quiz, true) if s.answer >= 0 => {
            let i = s.answer as usize;
            format!(
                "答案是{}：{}。",
                char::from(b'A' + (i as u8).min(25)),
                s.items.get(i).cloned().unwrap_or_default()
            )
        }
        (SceneKind::Quiz, false) if s.answer >= 0 => {
            let i = s.answer as usize;
            format!(
                "The answer is {}: {}.",
                char::from(b'A' + (i as u8).min(25)),
                s.items.get(i).cloned().unwrap_or_default()
            )
        }
        (SceneKind::Quiz, true) => {
            let options: Vec<String> = s
                .items
                .iter()
                .enumerate()
                .map(|(i, o)| format!("{}，{o}", char::from(b'A' + (i as u8).min(25))))
                .collect();
            format!(
                "小测验：{} {}。想一想，答案马上揭晓。",
                s.title,
                options.join("；")
            )
        }
        (SceneKind::Quiz, false) => {
            let options: Vec<String> = s
                .items
                .iter()
                .enumerate()
                .map(|(i, o)| format!("{}: {o}", char::from(b'A' + (i as u8).min(25))))
                .collect();
            format!("Quiz: {} {}. Think it over.", s.title, options.join("; "))
        }
        (SceneKind::Image, true) => format!("请看这张图：{}。", s.title),
        (SceneKind::Image, false) => format!("Take a look at this picture: {}.", s.title),
        (SceneKind::Outro, true) => format!("以上就是{doc_title}的内容，感谢观看，我们下次再见。"),
        (SceneKind::Outro, false) => format!("That was {doc_title}. Thanks for watching."),
        (SceneKind::Unspecified, _) => s.title.clone(),
    };
    cut_sentences(text.trim(), MAX_NARRATION)
}

/// The answer marked in a quiz's options ([x], ✓, (正确), *), and the
/// options without the mark.
fn quiz_options(items: &[(String, Option<bool>)]) -> (Vec<String>, i32) {
    let mut answer = -1;
    let mut options = Vec::new();
    for (i, (text, checked)) in items.iter().enumerate() {
        let mut t = text.trim().to_string();
        let mut right = *checked == Some(true);
        for mark in ["（正确）", "(正确)", "(correct)", "✓", "✔"] {
            if let Some(stripped) = t.strip_suffix(mark) {
                t = stripped.trim().to_string();
                right = true;
            }
        }
        if let Some(stripped) = t.strip_prefix("* ") {
            t = stripped.to_string();
            right = true;
        }
        if right && answer < 0 {
            answer = i as i32;
        }
        options.push(t);
    }
    (options, answer)
}

/// The scenes of a document: a title, a scene per part of each section
/// (lists of at most five items, code, quotes, pictures, problems,
/// solutions, quizzes with their answer revealed), and an outro; each with
/// its narration. Errors say what is wrong with the document.
pub fn scenes(blocks: &[Block], accent: &str) -> Result<Vec<Planned>, String> {
    let chars = text_chars(blocks);
    if chars == 0 {
        return Err("the document has no text to explain".into());
    }
    if chars > MAX_TEXT {
        return Err(format!(
            "the document holds {chars} characters of text; at most {MAX_TEXT} (split it into parts)"
        ));
    }
    let zh = chinese(blocks);
    let (title, parts) = sections(blocks);
    let mut out: Vec<Planned> = Vec::new();
    let push = |out: &mut Vec<Planned>, s: Scene, picture: Option<Picture>| {
        let narration = narrate(&s, zh, &title);
        out.push(Planned {
            scene: s,
            narration,
            picture,
        });
    };
    // The title slide, with the first paragraph under it when the document
    // opens with one.
    let lead = parts
        .first()
        .filter(|p| p.title.is_empty())
        .and_then(|p| p.blocks.first())
        .and_then(|b| match b {
            Block::Paragraph(t) => Some(cut(t, 80)),
            _ => None,
        });
    push(
        &mut out,
        scene(
            SceneKind::Title,
            &title,
            lead.iter().cloned().collect(),
            accent,
        ),
        None,
    );
    for (n, part) in parts.iter().enumerate() {
        let heading = if part.title.is_empty() {
            title.clone()
        } else {
            part.title.clone()
        };
        let mut blocks: &[Block] = &part.blocks;
        if n == 0 && lead.is_some() {
            blocks = &blocks[1..];
        }
        let is_quiz = matches_any(&heading, &["quiz", "测验", "小测", "练习题", "自测"]);
        let is_problem = matches_any(&heading, &["problem", "问题", "痛点", "挑战", "challenge"]);
        let is_solution = matches_any(
            &heading,
            &["solution", "解决", "方案", "办法", "how to fix"],
        );
        if is_quiz {
            let question = blocks
                .iter()
                .find_map(|b| match b {
                    Block::Paragraph(t) => Some(t.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| heading.clone());
            let items: Vec<(String, Option<bool>)> = blocks
                .iter()
                .filter_map(|b| match b {
                    Block::Item { text, checked } => Some((text.clone(), *checked)),
                    _ => None,
                })
                .collect();
            if !items.is_empty() {
                let (options, answer) = quiz_options(&items);
                let mut q = scene(SceneKind::Quiz, &question, options, accent);
                push(&mut out, q.clone(), None);
                if answer >= 0 {
                    q.answer = answer;
                    push(&mut out, q, None);
                }
                continue;
            }
        }
        let list_kind = if is_problem {
            SceneKind::Problem
        } else if is_solution {
            SceneKind::Solution
        } else {
            SceneKind::List
        };
        let mut pending: Vec<String> = Vec::new();
        let mut shown = 0;
        let flush = |out: &mut Vec<Planned>, pending: &mut Vec<String>, shown: &mut usize| {
            for chunk in pending.chunks(ITEMS_PER_SLIDE) {
                let t = if *shown == 0 {
                    heading.clone()
                } else if zh {
                    format!("{heading}（续）")
                } else {
                    format!("{heading} (cont.)")
                };
                push(out, scene(list_kind, &t, chunk.to_vec(), accent), None);
                *shown += 1;
            }
            pending.clear();
        };
        for b in blocks {
            match b {
                Block::Paragraph(t) | Block::Item { text: t, .. } => pending.push(t.clone()),
                Block::Heading { text, .. } => pending.push(text.clone()),
                Block::Code { language, text } => {
                    flush(&mut out, &mut pending, &mut shown);
                    let mut s = scene(SceneKind::Code, &heading, Vec::new(), accent);
                    s.code = text.chars().take(4000).collect();
                    s.language = language.clone();
                    push(&mut out, s, None);
                    shown += 1;
                }
                Block::Quote(q) => {
                    flush(&mut out, &mut pending, &mut shown);
                    // "— name" at the end of a quote says who.
                    let (text, author) = match q.rsplit_once(['—', '–']) {
                        Some((t, a)) if a.trim().chars().count() <= 40 && !t.trim().is_empty() => (
                            t.trim().trim_end_matches('-').trim().to_string(),
                            a.trim().to_string(),
                        ),
                        _ => (q.clone(), String::new()),
                    };
                    let mut s = scene(SceneKind::Quote, &text, Vec::new(), accent);
                    s.author = author;
                    push(&mut out, s, None);
                    shown += 1;
                }
                Block::Image { bytes, ext } => {
                    flush(&mut out, &mut pending, &mut shown);
                    push(
                        &mut out,
                        scene(SceneKind::Image, &heading, Vec::new(), accent),
                        Some(Picture {
                            bytes: bytes.clone(),
                            ext,
                        }),
                    );
                    shown += 1;
                }
            }
        }
        flush(&mut out, &mut pending, &mut shown);
        if shown == 0 && !part.title.is_empty() {
            push(
                &mut out,
                scene(list_kind, &heading, Vec::new(), accent),
                None,
            );
        }
    }
    push(
        &mut out,
        scene(
            SceneKind::Outro,
            if zh {
                "谢谢观看"
            } else {
                "Thanks for watching"
            },
            vec![title.clone()],
            accent,
        ),
        None,
    );
    if out.len() > MAX_SCENES {
        return Err(format!(
            "the document makes {} scenes; at most {MAX_SCENES} (split it into parts)",
            out.len()
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "# Rust 入门\n\n一门安全又快的语言。\n\n## 为什么选 Rust\n\n- 内存安全\n- 零成本抽象\n- 强大的工具链\n\n## 代码示例\n\n```rust\nfn main() {\n    println!(\"你好\");\n}\n```\n\n> 程序首先是写给人看的。 — Harold Abelson\n\n## 常见问题\n\n借用检查器太严格怎么办？\n\n## 解决方案\n\n先理解所有权，再用引用。\n\n## 小测验\n\nRust 用什么保证内存安全？\n\n- [ ] 垃圾回收\n- [x] 所有权\n- [ ] 引用计数\n";

    fn kinds(p: &[Planned]) -> Vec<SceneKind> {
        p.iter()
            .map(|s| SceneKind::try_from(s.scene.kind).unwrap_or(SceneKind::Unspecified))
            .collect()
    }

    #[test]
    fn a_markdown_document_makes_every_kind_of_scene() {
        let blocks = parse(Format::Markdown, DOC.as_bytes()).expect("parse");
        let planned = scenes(&blocks, "green").expect("scenes");
        assert_eq!(
            kinds(&planned),
            [
                SceneKind::Title,
                SceneKind::List,
                SceneKind::Code,
                SceneKind::Quote,
                SceneKind::Problem,
                SceneKind::Solution,
                SceneKind::Quiz,
                SceneKind::Quiz,
                SceneKind::Outro,
            ]
        );
        assert_eq!(planned[0].scene.title, "Rust 入门");
        assert_eq!(planned[0].scene.items, ["一门安全又快的语言。"]);
        assert_eq!(planned[2].scene.language, "rust");
        assert!(planned[2].scene.code.contains("println!"));
        assert_eq!(planned[3].scene.author, "Harold Abelson");
        assert_eq!(planned[6].scene.answer, -1);
        assert_eq!(planned[7].scene.answer, 1);
        assert_eq!(planned[7].scene.items[1], "所有权");
        assert!(
            planned[7].narration.contains("答案是B"),
            "{}",
            planned[7].narration
        );
        assert!(planned.iter().all(|p| p.scene.accent == "green"));
        assert!(
            planned
                .iter()
                .all(|p| p.narration.chars().count() <= MAX_NARRATION)
        );
        assert!(planned[1].narration.starts_with("为什么选 Rust。内存安全"));
    }

    /// How a test picture's colours are written: given the document (to
    /// add an ICC profile to), its ColorSpace entry.
    type Space = fn(&mut lopdf::Document) -> lopdf::Object;

    /// A one-page PDF with one picture of `bits`-bit samples: `filter` and
    /// `colour_space` as given.
    fn pdf_with(
        samples: Vec<u8>,
        (w, h, bits): (i64, i64, i64),
        colour_space: Space,
        filter: Option<&str>,
    ) -> Vec<u8> {
        use lopdf::content::{Content, Operation};
        use lopdf::{Document, Object, Stream, dictionary};
        let mut doc = Document::with_version("1.5");
        let pages_id = doc.new_object_id();
        let mut image = dictionary! {
            "Type" => "XObject",
            "Subtype" => "Image",
            "Width" => w,
            "Height" => h,
            "ColorSpace" => colour_space(&mut doc),
            "BitsPerComponent" => bits,
        };
        if let Some(f) = filter {
            image.set("Filter", Object::Name(f.as_bytes().to_vec()));
        }
        let image_id = doc.add_object(Stream::new(image, samples));
        let content = Content {
            operations: vec![
                Operation::new("q", vec![]),
                Operation::new("Do", vec!["Im1".into()]),
                Operation::new("Q", vec![]),
            ],
        };
        let content_id = doc.add_object(Stream::new(
            dictionary! {},
            content.encode().expect("content"),
        ));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content_id,
            "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
            "Resources" => dictionary! { "XObject" => dictionary! { "Im1" => image_id } },
        });
        doc.objects.insert(
            pages_id,
            Object::Dictionary(
                dictionary! { "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1 },
            ),
        );
        let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
        doc.trailer.set("Root", catalog_id);
        let mut out = Vec::new();
        doc.save_to(&mut out).expect("pdf");
        out
    }

    /// A PNG's colour type and its first pixel (our own PNGs: one IDAT,
    /// rows unfiltered).
    fn first_pixel(png: &[u8]) -> (u8, Vec<u8>) {
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        let kind = png[25];
        let len = u32::from_be_bytes([png[33], png[34], png[35], png[36]]) as usize;
        assert_eq!(&png[37..41], b"IDAT");
        let mut rows = Vec::new();
        flate2::read::ZlibDecoder::new(&png[41..41 + len])
            .read_to_end(&mut rows)
            .expect("idat");
        let channels = if kind == 2 { 3 } else { 1 };
        (kind, rows[1..1 + channels].to_vec())
    }

    #[test]
    fn a_pdfs_raw_pictures_are_kept_as_png() {
        use lopdf::{Object, Stream, dictionary};
        use std::io::Write as _;
        let (w, h) = (80usize, 64usize);
        let rgb: Vec<u8> = (0..w * h).flat_map(|_| [200u8, 30, 30]).collect();
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&rgb).expect("compress");
        let flate = z.finish().expect("compress");
        // What, samples, bits per sample, colours, filter, and the PNG's
        // colour type and first pixel.
        type Case = (
            &'static str,
            Vec<u8>,
            i64,
            Space,
            Option<&'static str>,
            (u8, Vec<u8>),
        );
        let cases: [Case; 7] = [
            (
                "RGB, Flate",
                flate,
                8,
                |_| Object::Name(b"DeviceRGB".to_vec()),
                Some("FlateDecode"),
                (2, vec![200, 30, 30]),
            ),
            (
                "grey",
                vec![128u8; w * h],
                8,
                |_| Object::Name(b"DeviceGray".to_vec()),
                None,
                (0, vec![128]),
            ),
            (
                "CMYK (magenta and yellow: red)",
                (0..w * h).flat_map(|_| [0u8, 255, 255, 0]).collect(),
                8,
                |_| Object::Name(b"DeviceCMYK".to_vec()),
                None,
                (2, vec![255, 0, 0]),
            ),
            (
                "ICC-based RGB",
                (0..w * h).flat_map(|_| [10u8, 20, 30]).collect(),
                8,
                |doc| {
                    let icc = doc.add_object(Stream::new(dictionary! { "N" => 3 }, vec![0; 16]));
                    Object::Array(vec![Object::Name(b"ICCBased".to_vec()), icc.into()])
                },
                None,
                (2, vec![10, 20, 30]),
            ),
            (
                "indexed, 4-bit, over RGB",
                vec![0x11u8; w / 2 * h],
                4,
                |_| {
                    Object::Array(vec![
                        Object::Name(b"Indexed".to_vec()),
                        Object::Name(b"DeviceRGB".to_vec()),
                        1.into(),
                        Object::string_literal(vec![0u8, 0, 0, 0, 255, 0]),
                    ])
                },
                None,
                (2, vec![0, 255, 0]),
            ),
            (
                "1-bit grey",
                vec![0xffu8; w / 8 * h],
                1,
                |_| Object::Name(b"DeviceGray".to_vec()),
                None,
                (0, vec![255]),
            ),
            (
                "indexed over CMYK, a palette stream (black ink: black)",
                vec![0u8; w * h],
                8,
                |doc| {
                    let lookup = doc.add_object(Stream::new(dictionary! {}, vec![0u8, 0, 0, 255]));
                    Object::Array(vec![
                        Object::Name(b"Indexed".to_vec()),
                        Object::Name(b"DeviceCMYK".to_vec()),
                        0.into(),
                        lookup.into(),
                    ])
                },
                None,
                (2, vec![0, 0, 0]),
            ),
        ];
        for (what, samples, bits, space, filter, want) in cases {
            let blocks = pdf(&pdf_with(
                samples,
                (w as i64, h as i64, bits),
                space,
                filter,
            ))
            .expect("pdf");
            let pictures: Vec<(&Vec<u8>, &str)> = blocks
                .iter()
                .filter_map(|b| match b {
                    Block::Image { bytes, ext } => Some((bytes, *ext)),
                    _ => None,
                })
                .collect();
            assert_eq!(pictures.len(), 1, "{what}");
            let (png, ext) = pictures[0];
            assert_eq!(ext, "png");
            assert_eq!(&png[16..24], &[0, 0, 0, 80, 0, 0, 0, 64], "{what}");
            assert_eq!(first_pixel(png), want, "{what}");
        }
        // A palette over itself (a reference cycle) or over another
        // palette: none, no error, no endless reading.
        let cyclic = pdf(&pdf_with(
            vec![0u8; w * h],
            (w as i64, h as i64, 8),
            |doc| {
                let id = doc.new_object_id();
                doc.objects.insert(
                    id,
                    Object::Array(vec![
                        Object::Name(b"Indexed".to_vec()),
                        id.into(),
                        0.into(),
                        Object::string_literal(vec![0u8, 0, 0]),
                    ]),
                );
                id.into()
            },
            None,
        ))
        .expect("pdf");
        assert!(!cyclic.iter().any(|b| matches!(b, Block::Image { .. })));
        // A separation (spot colour) is not a picture we can keep: none,
        // no error.
        let spot = pdf(&pdf_with(
            vec![0u8; w * h],
            (w as i64, h as i64, 8),
            |_| {
                Object::Array(vec![
                    Object::Name(b"Separation".to_vec()),
                    Object::Name(b"Gold".to_vec()),
                    Object::Name(b"DeviceCMYK".to_vec()),
                ])
            },
            None,
        ))
        .expect("pdf");
        assert!(!spot.iter().any(|b| matches!(b, Block::Image { .. })));
    }

    #[test]
    fn a_markdown_picture_embedded_as_a_data_url_is_kept() {
        use base64::Engine as _;
        let picture = png(64, 64, 3, &[90u8; 64 * 64 * 3]);
        let b64 = base64::engine::general_purpose::STANDARD.encode(&picture);
        let doc = format!(
            "# 图示\n\n先看这张图：\n\n![架构图](data:image/png;base64,{b64})\n\n\
             ![坏图](data:image/png;base64,bm90IGEgcGljdHVyZQ==)\n\n![本地图](./arch.png)\n"
        );
        let blocks = parse(Format::Markdown, doc.as_bytes()).expect("parse");
        let pictures: Vec<&Vec<u8>> = blocks
            .iter()
            .filter_map(|b| match b {
                Block::Image { bytes, ext } => {
                    assert_eq!(*ext, "png");
                    Some(bytes)
                }
                _ => None,
            })
            .collect();
        // The embedded picture, byte for byte; not the one that is not a
        // picture, nor the one by path (nothing to read it from).
        assert_eq!(pictures, vec![&picture]);
        let text: Vec<&str> = blocks
            .iter()
            .filter_map(|b| match b {
                Block::Paragraph(t) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        assert!(!text.iter().any(|t| t.contains("架构图")), "{text:?}");
        assert!(text.iter().any(|t| t.contains("本地图")), "{text:?}");
    }

    #[test]
    fn limits_and_empty_documents_are_refused_by_name() {
        let e = scenes(&parse(Format::Text, b"   \n\n").expect("parse"), "").expect_err("empty");
        assert!(e.contains("no text"), "{e}");
        let many: String = (0..101)
            .map(|i| format!("## Part {i}\n\nText {i}.\n\n"))
            .collect();
        let e = scenes(
            &parse(Format::Markdown, many.as_bytes()).expect("parse"),
            "",
        )
        .expect_err("101");
        assert!(e.contains("at most 100"), "{e}");
        let long = "字".repeat(50_001);
        let e =
            scenes(&parse(Format::Text, long.as_bytes()).expect("parse"), "").expect_err("long");
        assert!(e.contains("50001") && e.contains("at most 50000"), "{e}");
        let e = parse(Format::Pdf, b"%PDF-1.4 garbage").expect_err("corrupt");
        assert!(e.starts_with("the PDF cannot be read"), "{e}");
        let e = parse(Format::Docx, b"PK not really").expect_err("corrupt");
        assert!(e.contains("not a readable Word file"), "{e}");
        assert!(parse(Format::Text, &[0xFF, 0xFE, 0x00]).is_err());
    }

    #[test]
    fn long_lists_continue_and_narration_is_cut_at_a_sentence() {
        let doc: String = std::iter::once("# T\n\n## Items\n\n".to_string())
            .chain((0..12).map(|i| format!("- item number {i} with some words.\n")))
            .collect();
        let planned =
            scenes(&parse(Format::Markdown, doc.as_bytes()).expect("parse"), "").expect("scenes");
        let lists: Vec<&Planned> = planned
            .iter()
            .filter(|p| p.scene.kind == SceneKind::List as i32)
            .collect();
        assert_eq!(lists.len(), 3);
        assert_eq!(lists[1].scene.title, "Items (cont.)");
        let long = format!("{}。{}", "很长的一句话".repeat(30), "尾巴".repeat(80));
        let s = cut_sentences(&long, 300);
        assert!(s.chars().count() <= 300 && s.ends_with('。'), "{s}");
        assert_eq!(
            unescape("a &lt;b&gt; &amp; &#x4F60;&#22909;"),
            "a <b> & 你好"
        );
    }
}
