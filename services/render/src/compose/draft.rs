//! The composed timeline as an editable 剪映 (JianYing Pro ≤ 5.9) / CapCut
//! draft folder, zipped: `draft_content.json` (tracks, segments, materials),
//! `draft_meta_info.json`, the cover, and the media it plays copied under
//! `materials/`, referred to with the draft-folder placeholder JianYing
//! itself writes for media inside a draft. The format and where each value
//! comes from: docs/formats/jianying-draft.md; [`validate`] checks its §6
//! invariants and runs on every draft before it is written.
//!
//! What maps how: the main video track holds the segments in order (a
//! clip's window at its speed; a window shorter than its slot plays slower
//! so it fills it, a looped one repeats; stills as photos), fitted to the
//! canvas as the render fitted them (cover scale for the crops, the focus
//! as the offset for CROP_FACE, a blurred canvas for BLUR_PAD); one audio
//! track for the narration (a segment per paragraph), one for the music
//! (repeated to the video's length), the clips' own sound as their volume;
//! a text track for the captions as they were laid out (lines, colours and
//! outline of the style) and one for the visible AI-generated mark; the
//! brand's logo as a see-through photo on a second video track.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::plan::{Plan, Play, TransitionStyle};
use crate::error::RenderError;
use crate::subtitles::{self, LaidOut, StyleDef};
use scout_proto::scout::render::v1::{Corner, FitMode, MediaInfo};

/// What JianYing writes for "the draft's own folder" in a media path.
pub const PLACEHOLDER: &str = "##_draftpath_placeholder_0E685133-18CE-45ED-8CB8-2904A212EC80_##";
/// The slowest the editor plays a segment.
const MIN_SPEED: f64 = 0.1;
/// A photo's material length ("infinite"), µs.
const PHOTO_US: i64 = 10_800_000_000;
/// Render index of the text tracks (pyJianYingDraft's order).
const TEXT_RENDER_INDEX: i64 = 15_000;
/// JianYing's font size for a caption of [`subtitles::FONT_SIZE`] px on a
/// 1920 px high canvas (its size 15 is about 100 px there).
const CAPTION_SIZE: f64 = 10.0;
/// JianYing's font size for a card's title.
const CARD_TITLE_SIZE: f64 = 16.0;

/// A draft ready to be zipped.
#[derive(Debug)]
pub struct Draft {
    /// The folder's name (shown in JianYing's draft list).
    pub name: String,
    /// `draft_content.json`.
    pub content: Value,
    /// `draft_meta_info.json`.
    pub meta: Value,
    /// Files to copy in: path inside the folder → local file.
    pub files: Vec<(String, PathBuf)>,
}

/// The visible mark as burned in.
#[derive(Debug, Clone)]
pub struct Mark {
    /// Its words.
    pub text: String,
    /// Its corner.
    pub corner: Corner,
    /// Output seconds it shows.
    pub span: (f64, f64),
}

/// An intro or outro card as the draft shows it: a picture of the card's
/// colour over the frame, its title and line over that.
#[derive(Debug, Clone)]
pub struct DraftCard {
    /// The big words.
    pub title: String,
    /// The smaller line; may be empty.
    pub line: String,
    /// Output seconds it covers.
    pub span: (f64, f64),
    /// A JPEG of the card's colour in the canvas's shape (its size in
    /// `Sources::info`).
    pub picture: PathBuf,
}

/// The draft's cards from the burned ones: a JPEG of each card's colour,
/// in the canvas's shape, written to `dir` (and its size to `info`).
pub fn cards(
    burned: &[subtitles::Card],
    canvas: (u32, u32),
    dir: &Path,
    info: &mut HashMap<PathBuf, MediaInfo>,
) -> Result<Vec<DraftCard>, RenderError> {
    let (cw, ch) = (canvas.0.max(1), canvas.1.max(1));
    let even = |v: u32| v.max(2).div_ceil(2) * 2;
    let (w, h) = if cw >= ch {
        (128, even(128 * ch / cw))
    } else {
        (even(128 * cw / ch), 128)
    };
    burned
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let (rgb, _) = ass_colour(&c.background);
            let jpeg = crate::media::jpeg::solid(
                rgb.map(|v| (v * 255.0).round().clamp(0.0, 255.0) as u8),
                w,
                h,
            )?;
            let picture = dir.join(format!("card-{}.jpg", i + 1));
            std::fs::write(&picture, jpeg)?;
            info.insert(
                picture.clone(),
                MediaInfo {
                    width: w as i32,
                    height: h as i32,
                    display_width: w as i32,
                    display_height: h as i32,
                    ..MediaInfo::default()
                },
            );
            Ok(DraftCard {
                title: c.title.clone(),
                line: c.line.clone(),
                span: c.span,
                picture,
            })
        })
        .collect()
}

/// JianYing's own transition nearest each of ours: its name, resource id,
/// effect id and whether it overlaps the neighbours (pyJianYingDraft's
/// catalogue of the editor's free transitions).
fn editor_transition(kind: TransitionStyle) -> (&'static str, &'static str, &'static str, bool) {
    match kind {
        TransitionStyle::Crossfade => ("叠化", "6724845717472416269", "322577", true),
        TransitionStyle::FadeBlack => ("闪黑", "6724239388189921806", "321493", false),
        TransitionStyle::Slide => ("左移", "6726711499676455435", "2917286", true),
    }
}

/// What a draft is made of besides the plan.
#[derive(Debug)]
pub struct Sources<'a> {
    /// Probe of each local source file (segments, voice, music).
    pub info: &'a HashMap<PathBuf, MediaInfo>,
    /// The captions as burned in.
    pub captions: &'a [LaidOut],
    /// Their style.
    pub style: &'a StyleDef,
    /// The visible AI-generated mark, when there is one.
    pub mark: Option<&'a Mark>,
    /// The cover JPEG.
    pub cover: Option<&'a Path>,
    /// The brand's intro and outro cards.
    pub cards: &'a [DraftCard],
}

fn us(seconds: f64) -> i64 {
    (seconds * 1_000_000.0).round() as i64
}

/// Unique ids, upper-case dashed like JianYing's own, unique per draft.
struct Ids(u64, String);

impl Ids {
    fn next(&mut self) -> String {
        self.0 += 1;
        let h = format!("{:x}", hash128(&format!("{}/{}", self.1, self.0)));
        let h = format!("{h:0>32}");
        format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
        .to_ascii_uppercase()
    }
}

/// 128 bits from a string (two FNV-1a halves): ids that are stable for a
/// given draft, so the same compose gives the same file.
fn hash128(s: &str) -> u128 {
    let fnv = |seed: u64| {
        s.bytes().fold(seed, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    (u128::from(fnv(0xcbf2_9ce4_8422_2325)) << 64) | u128::from(fnv(0x8422_2325_cbf2_9ce4))
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "media".into())
}

/// A name safe in a zip and on Windows: no separators or reserved marks.
fn safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_control() || "/\\:*?\"<>|".contains(c) {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// `&HAABBGGRR` → `[r, g, b]` in 0–1 (and the alpha as opacity).
fn ass_colour(c: &str) -> ([f64; 3], f64) {
    let hex = c.trim_start_matches("&H").trim_start_matches("&h");
    let v = u32::from_str_radix(hex, 16).unwrap_or(0x00FF_FFFF);
    let byte = |shift: u32| f64::from((v >> shift) & 0xFF) / 255.0;
    ([byte(0), byte(8), byte(16)], 1.0 - byte(24))
}

fn hex(rgb: [f64; 3]) -> String {
    format!(
        "#{:02X}{:02X}{:02X}",
        (rgb[0] * 255.0).round() as u8,
        (rgb[1] * 255.0).round() as u8,
        (rgb[2] * 255.0).round() as u8
    )
}

fn timerange(start: i64, duration: i64) -> Value {
    json!({"start": start, "duration": duration})
}

fn clip(scale: f64, x: f64, y: f64) -> Value {
    json!({"alpha": 1.0, "flip": {"horizontal": false, "vertical": false}, "rotation": 0.0,
           "scale": {"x": scale, "y": scale}, "transform": {"x": x, "y": y}})
}

struct Builder<'a> {
    ids: Ids,
    materials: serde_json::Map<String, Value>,
    files: Vec<(String, PathBuf)>,
    /// (local file, as sound) → material id.
    media: HashMap<(PathBuf, bool), String>,
    sources: &'a Sources<'a>,
}

impl Builder<'_> {
    fn push(&mut self, list: &str, v: Value) {
        if let Some(Value::Array(a)) = self.materials.get_mut(list) {
            a.push(v);
        }
    }

    /// The material of a local file, added once.
    fn material(&mut self, path: &Path, kind: &str) -> String {
        let audio = kind == "audio";
        if let Some(id) = self.media.get(&(path.to_path_buf(), audio)) {
            return id.clone();
        }
        let id = self.ids.next();
        let name = file_name(path);
        // A file played as picture and as sound (a clip that is also the
        // music) is copied in once.
        let inside = match self.files.iter().find(|(_, local)| local == path) {
            Some((inside, _)) => inside.clone(),
            None => {
                let inside = format!(
                    "materials/{}/{:02}-{}",
                    if audio { "audio" } else { "video" },
                    self.files.len() + 1,
                    safe(&name)
                );
                self.files.push((inside.clone(), path.to_path_buf()));
                inside
            }
        };
        let info = self.sources.info.get(path).cloned().unwrap_or_default();
        let at = format!("{PLACEHOLDER}/{inside}");
        if kind == "audio" {
            self.push(
                "audios",
                json!({"app_id": 0, "category_id": "", "category_name": "local", "check_flag": 1,
                       "copyright_limit_type": "none", "duration": us(info.duration_seconds),
                       "effect_id": "", "formula_id": "", "id": id, "intensifies_path": "",
                       "is_ai_clone_tone": false, "is_text_edit_overdub": false, "is_ugc": false,
                       "local_material_id": id, "music_id": id, "name": name, "path": at,
                       "query": "", "request_id": "", "resource_id": "", "search_id": "",
                       "source_from": "", "source_platform": 0, "team_id": "", "text_id": "",
                       "tone_category_id": "", "tone_category_name": "", "tone_effect_id": "",
                       "tone_effect_name": "", "tone_platform": "", "tone_second_category_id": "",
                       "tone_second_category_name": "", "tone_speaker": "", "tone_type": "",
                       "type": "extract_music", "video_id": "", "wave_points": []}),
            );
        } else {
            let photo = kind == "photo";
            // The size as shown (a phone clip's rotation applied).
            let (w, h) = if info.display_width > 0 && info.display_height > 0 {
                (info.display_width, info.display_height)
            } else {
                (info.width, info.height)
            };
            self.push(
                "videos",
                json!({"audio_fade": null, "category_id": "", "category_name": "local",
                       "check_flag": 63487,
                       "crop": {"upper_left_x": 0.0, "upper_left_y": 0.0, "upper_right_x": 1.0,
                                "upper_right_y": 0.0, "lower_left_x": 0.0, "lower_left_y": 1.0,
                                "lower_right_x": 1.0, "lower_right_y": 1.0},
                       "crop_ratio": "free", "crop_scale": 1.0,
                       "duration": if photo { PHOTO_US } else { us(info.duration_seconds) },
                       "has_audio": info.has_audio && !photo, "height": h, "width": w,
                       "id": id, "local_material_id": id, "material_id": id,
                       "material_name": name, "media_path": "", "path": at,
                       "type": if photo { "photo" } else { "video" }}),
            );
        }
        self.media.insert((path.to_path_buf(), audio), id.clone());
        id
    }

    /// A transition material: `kind` over `duration` µs.
    fn transition(&mut self, kind: TransitionStyle, duration: i64) -> String {
        let (name, resource, effect, overlap) = editor_transition(kind);
        let id = self.ids.next();
        self.push(
            "transitions",
            json!({"category_id": "", "category_name": "", "duration": duration,
                   "effect_id": effect, "id": id, "is_overlap": overlap, "name": name,
                   "path": "", "platform": "all", "request_id": "", "resource_id": resource,
                   "third_resource_id": "0", "type": "transition"}),
        );
        id
    }

    /// A speed material of its own for one segment.
    fn speed(&mut self, speed: f64) -> String {
        let id = self.ids.next();
        self.push(
            "speeds",
            json!({"curve_speed": null, "id": id, "mode": 0, "speed": speed, "type": "speed"}),
        );
        id
    }

    #[allow(clippy::too_many_arguments)]
    fn media_segment(
        &mut self,
        material: &str,
        source: (i64, i64),
        target: (i64, i64),
        speed: f64,
        volume: f64,
        extra: Vec<String>,
        visual: Option<Value>,
    ) -> Value {
        let sid = self.speed(speed);
        let mut refs = vec![sid];
        refs.extend(extra);
        let is_video = visual.is_some();
        json!({"id": self.ids.next(), "material_id": material,
               "source_timerange": timerange(source.0, source.1),
               "target_timerange": timerange(target.0, target.1),
               "speed": speed, "volume": volume, "last_nonzero_volume": 1.0,
               "extra_material_refs": refs,
               "clip": visual,
               "uniform_scale": if is_video { json!({"on": true, "value": 1.0}) } else { Value::Null },
               "hdr_settings": if is_video { json!({"intensity": 1.0, "mode": 1, "nits": 1000}) } else { Value::Null },
               "render_index": 0, "track_render_index": 0, "track_attribute": 0,
               "visible": true, "reverse": false, "is_tone_modify": false,
               "common_keyframes": [], "keyframe_refs": [],
               "enable_adjust": is_video, "enable_lut": is_video,
               "enable_color_curves": true, "enable_color_wheels": true,
               "enable_color_correct_adjust": false, "enable_color_match_adjust": false,
               "enable_smart_color_adjust": false, "cartoon": false, "group_id": "",
               "intensifies_audio": false, "is_placeholder": false, "template_id": "",
               "template_scene": "default", "caption_info": null})
    }

    /// A text material and its segment.
    fn text(&mut self, text: &str, target: (i64, i64), look: &TextLook, y: f64, x: f64) -> Value {
        let id = self.ids.next();
        let n = text.chars().count();
        let mut run = json!({"fill": {"alpha": 1.0, "content": {"render_type": "solid",
                                "solid": {"alpha": 1.0, "color": look.fill}}},
                             "range": [0, n], "size": look.size, "bold": look.bold,
                             "italic": false, "underline": false, "strokes": []});
        if look.stroke > 0.0 {
            run["strokes"] = json!([{"content": {"solid": {"alpha": 1.0, "color": look.stroke_colour}},
                                     "width": look.stroke}]);
        }
        let content = json!({"styles": [run], "text": text}).to_string();
        self.push(
            "texts",
            json!({"id": id, "content": content, "typesetting": 0, "alignment": 1,
                   "letter_spacing": 0.0, "line_spacing": 0.02, "line_feed": 1,
                   "line_max_width": 0.82, "force_apply_line_max_width": false,
                   "check_flag": if look.stroke > 0.0 { 15 } else { 7 },
                   "type": "subtitle", "global_alpha": 1.0, "text_color": hex(look.fill),
                   "font_size": look.size, "border_color": hex(look.stroke_colour),
                   "border_width": look.stroke, "words": {"end_time": [], "start_time": [], "text": []}}),
        );
        json!({"id": self.ids.next(), "material_id": id, "source_timerange": null,
               "target_timerange": timerange(target.0, target.1), "speed": 1.0, "volume": 1.0,
               "last_nonzero_volume": 1.0, "extra_material_refs": [],
               "clip": clip(1.0, x, y), "uniform_scale": {"on": true, "value": 1.0},
               "hdr_settings": null, "render_index": TEXT_RENDER_INDEX, "track_render_index": 0,
               "track_attribute": 0, "visible": true, "reverse": false, "is_tone_modify": false,
               "common_keyframes": [], "keyframe_refs": [], "enable_adjust": false,
               "enable_lut": false, "enable_color_curves": true, "enable_color_wheels": true,
               "enable_color_correct_adjust": false, "enable_color_match_adjust": false,
               "enable_smart_color_adjust": false, "cartoon": false, "group_id": "",
               "intensifies_audio": false, "is_placeholder": false, "template_id": "",
               "template_scene": "default", "caption_info": null})
    }
}

struct TextLook {
    fill: [f64; 3],
    stroke_colour: [f64; 3],
    /// 0–0.2 (UI 0–100 × 0.002).
    stroke: f64,
    size: f64,
    bold: bool,
}

fn track(kind: &str, ids: &mut Ids, segments: Vec<Value>) -> Value {
    json!({"attribute": 0, "flag": 0, "id": ids.next(), "is_default_name": true, "name": "",
           "segments": segments, "type": kind})
}

/// Scale and offset (in half-canvas units, +y up) that place a source of
/// `src` on a canvas of `canvas` the way `fit` did, JianYing's scale 1
/// being "fit inside".
fn placement(
    fit: FitMode,
    src: (u32, u32),
    canvas: (u32, u32),
    focus: Option<(f64, f64)>,
) -> (f64, f64, f64) {
    let (sw, sh) = (f64::from(src.0.max(1)), f64::from(src.1.max(1)));
    let (cw, ch) = (f64::from(canvas.0), f64::from(canvas.1));
    let inside = (cw / sw).min(ch / sh);
    let cover = (cw / sw).max(ch / sh);
    match fit {
        FitMode::CropCenter => (cover / inside, 0.0, 0.0),
        FitMode::CropFace => {
            let scale = cover / inside;
            let (fx, fy) = focus.unwrap_or((0.5, 0.5));
            // The picture is moved so the focus comes as near the centre
            // as the covered canvas allows.
            let (w, h) = (sw * cover, sh * cover);
            let room_x = ((w - cw) / 2.0).max(0.0);
            let room_y = ((h - ch) / 2.0).max(0.0);
            let dx = ((0.5 - fx) * w).clamp(-room_x, room_x);
            let dy = ((fy - 0.5) * h).clamp(-room_y, room_y);
            (scale, dx / (cw / 2.0), dy / (ch / 2.0))
        }
        _ => (1.0, 0.0, 0.0),
    }
}

/// The draft of `plan` as composed, in a folder called `name` (made safe
/// as a file name).
pub fn build(plan: &Plan, sources: &Sources<'_>, name: &str, created_us: i64) -> Draft {
    // One folder whatever the title holds.
    let name = &match safe(name.trim()).trim_matches(['.', ' ']) {
        n if n.chars().any(char::is_alphanumeric) => n.to_string(),
        _ => "探店宝视频".to_string(),
    };
    let mut materials = serde_json::Map::new();
    for list in MATERIAL_LISTS {
        materials.insert((*list).into(), json!([]));
    }
    let mut b = Builder {
        ids: Ids(0, format!("{name}/{created_us}")),
        materials,
        files: Vec::new(),
        media: HashMap::new(),
        sources,
    };
    let canvas = (plan.output.width, plan.output.height);
    let fps = f64::from(plan.output.fps.max(1));
    let at = |frame: u64| us(frame as f64 / fps);
    // The main track: the segments back to back on the frame grid.
    let mut video = Vec::new();
    for s in &plan.segments {
        let (f0, f1) = (s.first_frame, s.first_frame + s.frames);
        let (t0, t1) = (at(f0), at(f1));
        // A transition into this segment sits on the segment before it (the
        // editor's rule), as long as ours.
        if let Some(t) = &s.transition {
            let id = b.transition(t.kind, at(f0 + t.frames) - t0);
            if let Some(Value::Array(refs)) = video
                .last_mut()
                .map(|seg: &mut Value| &mut seg["extra_material_refs"])
            {
                refs.push(json!(id));
            }
        }
        let blur = matches!(s.fit, FitMode::BlurPad | FitMode::Unspecified);
        let focus = (!s.focus.is_empty()).then(|| {
            let n = s.focus.len() as f64;
            (
                s.focus.iter().map(|f| f.1).sum::<f64>() / n,
                s.focus.iter().map(|f| f.2).sum::<f64>() / n,
            )
        });
        let (scale, x, y) = placement(s.fit, s.source_size, canvas, focus);
        // One segment: its own canvas (blurred for BLUR_PAD) and speed.
        let mut place = |b: &mut Builder<'_>,
                         m: &str,
                         src: (i64, i64),
                         at: (i64, i64),
                         speed: f64,
                         volume: f64| {
            let mut extra = Vec::new();
            if blur {
                let id = b.ids.next();
                b.push(
                    "canvases",
                    json!({"album_image": "", "blur": 0.375, "color": "", "id": id, "image": "",
                           "image_id": "", "image_name": "", "source_platform": 0, "team_id": "",
                           "type": "canvas_blur"}),
                );
                extra.push(id);
            }
            let seg = b.media_segment(m, src, at, speed, volume, extra, Some(clip(scale, x, y)));
            video.push(seg);
        };
        match &s.play {
            Play::Still { .. } => {
                let m = b.material(&s.path, "photo");
                place(&mut b, &m, (0, t1 - t0), (t0, t1 - t0), 1.0, 1.0);
            }
            Play::Clip {
                from,
                to,
                speed,
                looped,
                audio_gain,
                ..
            } => {
                let m = b.material(&s.path, "video");
                let (src0, window) = (us(*from), (us(*to) - us(*from)).max(1));
                // The window slowed to fill its slot, as far as the editor
                // slows (a window held on its last frame plays slower
                // instead); what even that cannot fill, and a looped
                // window, repeats the window at its speed, frame by frame.
                let fill = window as f64 / (t1 - t0).max(1) as f64;
                if !*looped && fill >= MIN_SPEED {
                    // Sound only at normal speed, as the render mixes it.
                    let volume = match audio_gain {
                        Some(g) if (fill - 1.0).abs() < 1e-3 => *g,
                        _ => 0.0,
                    };
                    place(&mut b, &m, (src0, window), (t0, t1 - t0), fill, volume);
                } else {
                    let speed = speed.max(MIN_SPEED);
                    let each = (((to - from) / speed * fps).floor() as u64).max(1);
                    let mut f = f0;
                    while f < f1 {
                        let n = each.min(f1 - f);
                        let len = at(f + n) - at(f);
                        let src = ((len as f64 * speed).round() as i64).clamp(1, window);
                        let played = src as f64 / len as f64;
                        let volume = match audio_gain {
                            Some(g) if (played - 1.0).abs() < 1e-3 => *g,
                            _ => 0.0,
                        };
                        place(&mut b, &m, (src0, src), (at(f), len), played, volume);
                        f += n;
                    }
                }
            }
        }
    }
    let total = at(plan.total_frames);
    // Narration: a segment per voice track at its place, on as many
    // tracks as it takes for none to overlap (one for a narrated video).
    let mut voice: Vec<Vec<Value>> = Vec::new();
    let mut lane_ends: Vec<i64> = Vec::new();
    let mut order: Vec<&super::plan::PlannedAudio> = plan.voice.iter().collect();
    order.sort_by(|a, b| a.offset.total_cmp(&b.offset));
    for v in order {
        let start = us(v.offset);
        let len = us(v.duration).min(total - start);
        if len <= 0 {
            continue;
        }
        let m = b.material(&v.path, "audio");
        let seg = b.media_segment(&m, (0, len), (start, len), 1.0, v.gain, vec![], None);
        match lane_ends.iter().position(|end| *end <= start) {
            Some(i) => {
                voice[i].push(seg);
                lane_ends[i] = start + len;
            }
            None => {
                voice.push(vec![seg]);
                lane_ends.push(start + len);
            }
        }
    }
    // Music: as long as the video, repeated when shorter (a file whose
    // length is unknown, or under a second, is left to the editor).
    let mut music = Vec::new();
    let music_length = plan
        .music
        .as_ref()
        .and_then(|mu| sources.info.get(&mu.path))
        .map(|i| us(i.duration_seconds))
        .unwrap_or(0);
    if let Some(mu) = plan.music.as_ref().filter(|_| music_length >= 1_000_000) {
        let m = b.material(&mu.path, "audio");
        let each = music_length;
        let mut start = 0;
        while start < total {
            let len = each.min(total - start);
            music.push(b.media_segment(&m, (0, len), (start, len), 1.0, mu.gain, vec![], None));
            start += len;
        }
    }
    // Captions as laid out for the burn: their lines, at the bottom margin.
    let style = sources.style;
    let (fill, _) = ass_colour(&style.primary);
    let (outline, _) = ass_colour(&style.outline_colour);
    let look = TextLook {
        fill,
        stroke_colour: outline,
        stroke: (f64::from(style.outline) / 40.0).min(0.2),
        size: CAPTION_SIZE,
        bold: style.bold,
    };
    let ch = f64::from(canvas.1);
    let mut captions = Vec::new();
    let mut last_end = 0;
    for c in sources.captions {
        let (start, end) = (us(c.start).max(last_end), us(c.end).min(total));
        if end <= start {
            continue;
        }
        last_end = end;
        let lines = c.lines.len().max(1) as f64;
        let scale = ch / f64::from(subtitles::PLAY_RES_Y);
        let bottom = f64::from(subtitles::MARGIN_BOTTOM) * scale;
        let centre = ch - bottom - lines * f64::from(subtitles::FONT_SIZE) * scale / 2.0;
        let y = (ch / 2.0 - centre) / (ch / 2.0);
        let text = c.lines.join("\n");
        captions.push(b.text(&text, (start, end - start), &look, y, 0.0));
    }
    let mut mark = Vec::new();
    if let Some(mk) = sources.mark.filter(|m| !m.text.trim().is_empty()) {
        let (start, end) = (us(mk.span.0), us(mk.span.1).min(total));
        if end > start {
            let look = TextLook {
                fill: [1.0, 1.0, 1.0],
                stroke_colour: [0.0, 0.0, 0.0],
                stroke: 0.04,
                size: 6.0,
                bold: false,
            };
            let (x, y) = match mk.corner {
                Corner::TopRight => (0.7, 0.8),
                Corner::BottomLeft => (-0.7, -0.75),
                Corner::BottomRight => (0.7, -0.75),
                Corner::TopLeft | Corner::Unspecified => (-0.7, 0.8),
            };
            mark.push(b.text(&mk.text, (start, end - start), &look, y, x));
        }
    }
    // The brand's logo: a photo over the whole video, where the render
    // draws it, as see-through.
    let mut logo = Vec::new();
    if let Some(l) = &plan.logo {
        let m = b.material(&l.path, "photo");
        let (lw, lh, x, y) = l.placement(canvas.0, canvas.1);
        let (cw, ch) = (f64::from(canvas.0), f64::from(canvas.1));
        let (sw, sh) = (f64::from(l.size.0.max(1)), f64::from(l.size.1.max(1)));
        let inside = (cw / sw).min(ch / sh);
        let scale = f64::from(lw) / (sw * inside);
        let cx = f64::from(x) + f64::from(lw) / 2.0;
        let cy = f64::from(y) + f64::from(lh) / 2.0;
        let mut look = clip(
            scale,
            (cx - cw / 2.0) / (cw / 2.0),
            (ch / 2.0 - cy) / (ch / 2.0),
        );
        look["alpha"] = json!(l.opacity);
        logo.push(b.media_segment(&m, (0, total), (0, total), 1.0, 1.0, vec![], Some(look)));
    }
    // The brand's cards: their colour over the whole frame (above the
    // picture and the logo), their words over that (under the mark).
    // (Titles and lines on tracks of their own: a track's segments never
    // overlap.)
    let (mut card_pictures, mut card_titles, mut card_lines) = (Vec::new(), Vec::new(), Vec::new());
    for c in sources.cards {
        let (start, end) = (us(c.span.0), us(c.span.1).min(total));
        if end <= start {
            continue;
        }
        let m = b.material(&c.picture, "photo");
        let full = clip(1.0, 0.0, 0.0);
        card_pictures.push(b.media_segment(
            &m,
            (0, end - start),
            (start, end - start),
            1.0,
            1.0,
            vec![],
            Some(full),
        ));
        let words = |size: f64, bold: bool| TextLook {
            fill: [1.0, 1.0, 1.0],
            stroke_colour: [0.0, 0.0, 0.0],
            stroke: 0.0,
            size,
            bold,
        };
        let title_y = if c.line.trim().is_empty() { 0.0 } else { 0.08 };
        card_titles.push(b.text(
            &c.title,
            (start, end - start),
            &words(CARD_TITLE_SIZE, true),
            title_y,
            0.0,
        ));
        if !c.line.trim().is_empty() {
            card_lines.push(b.text(
                &c.line,
                (start, end - start),
                &words(CAPTION_SIZE, false),
                -0.08,
                0.0,
            ));
        }
    }
    let mut tracks = vec![track("video", &mut b.ids, video)];
    for overlay in [logo, card_pictures] {
        if !overlay.is_empty() {
            tracks.push(track("video", &mut b.ids, overlay));
        }
    }
    let audio = voice.into_iter().chain([music]).map(|segs| ("audio", segs));
    let text = [
        ("text", captions),
        ("text", card_titles),
        ("text", card_lines),
        ("text", mark),
    ];
    for (kind, segs) in audio.chain(text) {
        if !segs.is_empty() {
            tracks.push(track(kind, &mut b.ids, segs));
        }
    }
    let duration = tracks
        .iter()
        .flat_map(|t| t["segments"].as_array().into_iter().flatten())
        .map(|s| end_of(&s["target_timerange"]))
        .max()
        .unwrap_or(0);
    let platform =
        json!({"app_id": 3704, "app_source": "lv", "app_version": "5.9.0", "os": "windows"});
    let content = json!({
        "canvas_config": {"width": canvas.0, "height": canvas.1, "ratio": "original"},
        "color_space": 0,
        "config": {"adjust_max_index": 1, "attachment_info": [], "combination_max_index": 1,
                   "export_range": null, "extract_audio_last_index": 1, "lyrics_recognition_id": "",
                   "lyrics_sync": true, "lyrics_taskinfo": [], "maintrack_adsorb": true,
                   "material_save_mode": 0, "multi_language_current": "none",
                   "multi_language_list": [], "multi_language_main": "none",
                   "multi_language_mode": "none", "original_sound_last_index": 1,
                   "record_audio_last_index": 1, "sticker_max_index": 1,
                   "subtitle_keywords_config": null, "subtitle_recognition_id": "",
                   "subtitle_sync": true, "subtitle_taskinfo": [], "system_font_list": [],
                   "video_mute": false, "zoom_info_params": null},
        "cover": null, "create_time": created_us / 1_000_000, "duration": duration,
        "extra_info": null, "fps": fps, "free_render_index_mode_on": false,
        "group_container": null, "id": b.ids.next(), "keyframe_graph_list": [],
        "keyframes": {"adjusts": [], "audios": [], "effects": [], "filters": [],
                      "handwrites": [], "stickers": [], "texts": [], "videos": []},
        "last_modified_platform": platform, "platform": platform,
        "materials": Value::Object(b.materials),
        "mutable_config": null, "name": "", "new_version": "110.0.0", "relationships": [],
        "render_index_track_mode_on": false, "retouch_cover": null, "source": "default",
        "static_cover_image_path": "", "time_marks": null, "tracks": tracks,
        "update_time": created_us / 1_000_000, "version": 360_000
    });
    let mut files = b.files;
    if let Some(cover) = sources.cover {
        files.push(("draft_cover.jpg".into(), cover.to_path_buf()));
    }
    let kinds: Vec<Value> = [0, 1, 2, 3, 6, 7, 8]
        .iter()
        .map(|t| json!({"type": t, "value": []}))
        .collect();
    let meta = json!({
        "cloud_package_completed_time": "", "draft_cloud_capcut_purchase_info": "",
        "draft_cloud_last_action_download": false, "draft_cloud_materials": [],
        "draft_cloud_purchase_info": "", "draft_cloud_template_id": "",
        "draft_cloud_tutorial_info": "", "draft_cloud_videocut_purchase_info": "",
        "draft_cover": if sources.cover.is_some() { "draft_cover.jpg" } else { "" },
        "draft_deeplink_url": "",
        "draft_enterprise_info": {"draft_enterprise_extra": "", "draft_enterprise_id": "",
                                  "draft_enterprise_name": "", "enterprise_material": []},
        "draft_fold_path": "", "draft_id": b.ids.next(), "draft_is_ai_packaging_used": false,
        "draft_is_ai_shorts": false, "draft_is_ai_translate": false,
        "draft_is_article_video_draft": false, "draft_is_from_deeplink": "false",
        "draft_is_invisible": false,
        "draft_materials": kinds,
        "draft_materials_copied_info": [], "draft_name": name, "draft_new_version": "",
        "draft_removable_storage_device": "", "draft_root_path": "",
        "draft_segment_extra_info": [], "draft_timeline_materials_size_": 0, "draft_type": "",
        "tm_draft_cloud_completed": "", "tm_draft_cloud_modified": 0,
        "tm_draft_create": created_us, "tm_draft_modified": created_us, "tm_draft_removed": 0,
        "tm_duration": duration
    });
    Draft {
        name: name.to_string(),
        content,
        meta,
        files,
    }
}

fn end_of(range: &Value) -> i64 {
    range["start"].as_i64().unwrap_or(0) + range["duration"].as_i64().unwrap_or(0)
}

/// Every material list a 5.9 draft has.
pub const MATERIAL_LISTS: &[&str] = &[
    "ai_translates",
    "audio_balances",
    "audio_effects",
    "audio_fades",
    "audio_track_indexes",
    "audios",
    "beats",
    "canvases",
    "chromas",
    "color_curves",
    "digital_humans",
    "drafts",
    "effects",
    "flowers",
    "green_screens",
    "handwrites",
    "hsl",
    "images",
    "log_color_wheels",
    "loudnesses",
    "manual_deformations",
    "masks",
    "material_animations",
    "material_colors",
    "multi_language_refs",
    "placeholders",
    "plugin_effects",
    "primary_color_wheels",
    "realtime_denoises",
    "shapes",
    "smart_crops",
    "smart_relights",
    "sound_channel_mappings",
    "speeds",
    "stickers",
    "tail_leaders",
    "text_templates",
    "texts",
    "time_marks",
    "transitions",
    "video_effects",
    "video_trackings",
    "videos",
    "vocal_beautifys",
    "vocal_separations",
];

/// Top-level keys of `draft_content.json`.
const TOP_KEYS: &[&str] = &[
    "canvas_config",
    "color_space",
    "config",
    "cover",
    "create_time",
    "duration",
    "extra_info",
    "fps",
    "free_render_index_mode_on",
    "group_container",
    "id",
    "keyframe_graph_list",
    "keyframes",
    "last_modified_platform",
    "materials",
    "mutable_config",
    "name",
    "new_version",
    "relationships",
    "render_index_track_mode_on",
    "retouch_cover",
    "source",
    "static_cover_image_path",
    "time_marks",
    "tracks",
    "update_time",
    "version",
];

/// The problems of a draft (docs/formats/jianying-draft.md §6): empty when
/// it holds. `exists` answers whether a path inside the draft folder is
/// there.
pub fn validate(
    content: &Value,
    meta: &Value,
    name: &str,
    exists: &dyn Fn(&str) -> bool,
) -> Vec<String> {
    let mut bad = Vec::new();
    for k in TOP_KEYS {
        if content.get(*k).is_none() {
            bad.push(format!("draft_content.json has no {k:?}"));
        }
    }
    let materials = &content["materials"];
    for list in MATERIAL_LISTS {
        if !materials[*list].is_array() {
            bad.push(format!("materials.{list} is not a list"));
        }
    }
    let (w, h) = (
        content["canvas_config"]["width"].as_i64().unwrap_or(0),
        content["canvas_config"]["height"].as_i64().unwrap_or(0),
    );
    if w <= 0 || h <= 0 || content["fps"].as_f64().unwrap_or(0.0) <= 0.0 {
        bad.push("canvas size and fps must be positive".into());
    }
    // Ids: non-empty, unique across the file; which list each is in.
    let mut owner: HashMap<String, &str> = HashMap::new();
    let mut seen = |id: &Value, what: &str, bad: &mut Vec<String>| match id.as_str() {
        Some(s) if !s.is_empty() => {
            if owner.insert(s.to_string(), "").is_some() {
                bad.push(format!("id {s} is used twice ({what})"));
            }
        }
        _ => bad.push(format!("{what} has no id")),
    };
    let mut in_list: HashMap<String, String> = HashMap::new();
    for list in MATERIAL_LISTS {
        for m in materials[*list].as_array().into_iter().flatten() {
            seen(&m["id"], &format!("a material in {list}"), &mut bad);
            if let Some(id) = m["id"].as_str() {
                in_list.insert(id.to_string(), (*list).to_string());
            }
        }
    }
    let tracks = content["tracks"].as_array().cloned().unwrap_or_default();
    let mut speed_users: HashMap<String, usize> = HashMap::new();
    let mut max_end = 0i64;
    for (ti, t) in tracks.iter().enumerate() {
        seen(&t["id"], &format!("track {ti}"), &mut bad);
        let kind = t["type"].as_str().unwrap_or("");
        let wants: &[&str] = match kind {
            "video" => &["videos", "images"],
            "audio" => &["audios"],
            "text" => &["texts", "text_templates"],
            _ => &[],
        };
        let mut ranges = Vec::new();
        for (si, s) in t["segments"].as_array().into_iter().flatten().enumerate() {
            let at = format!("track {ti} ({kind}) segment {si}");
            seen(&s["id"], &at, &mut bad);
            let mid = s["material_id"].as_str().unwrap_or("");
            match in_list.get(mid) {
                Some(l) if wants.contains(&l.as_str()) => {}
                _ => bad.push(format!(
                    "{at}: material {mid:?} is not in {}",
                    wants.join("/")
                )),
            }
            for r in s["extra_material_refs"].as_array().into_iter().flatten() {
                let r = r.as_str().unwrap_or("");
                match in_list.get(r).map(String::as_str) {
                    Some("videos" | "audios" | "texts" | "images") => bad.push(format!(
                        "{at}: extra material {r:?} is media, not an auxiliary material"
                    )),
                    Some(_) => {}
                    None => bad.push(format!("{at}: extra material {r:?} does not resolve")),
                }
            }
            let target = &s["target_timerange"];
            let (ts, td) = (target["start"].as_i64(), target["duration"].as_i64());
            let (Some(ts), Some(td)) = (ts, td) else {
                bad.push(format!("{at}: target_timerange is not integer µs"));
                continue;
            };
            if ts < 0 || td <= 0 {
                bad.push(format!(
                    "{at}: target {ts}+{td} must start ≥ 0 and last > 0"
                ));
            }
            ranges.push((ts, td));
            max_end = max_end.max(ts + td);
            let speed = s["speed"].as_f64().unwrap_or(0.0);
            if kind == "text" {
                if !s["source_timerange"].is_null() {
                    bad.push(format!("{at}: a text segment has no source_timerange"));
                }
                let m = materials["texts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|m| m["id"].as_str() == Some(mid));
                if let Some(m) = m {
                    bad.extend(text_problems(m, &at));
                }
                continue;
            }
            let source = &s["source_timerange"];
            let (Some(ss), Some(sd)) = (source["start"].as_i64(), source["duration"].as_i64())
            else {
                bad.push(format!("{at}: source_timerange is not integer µs"));
                continue;
            };
            if ss < 0 || sd <= 0 || speed <= 0.0 {
                bad.push(format!("{at}: source {ss}+{sd} at speed {speed}"));
                continue;
            }
            if ((sd as f64 / speed).round() as i64 - td).abs() > 1 {
                bad.push(format!(
                    "{at}: source {sd} µs at speed {speed} does not last its target {td} µs"
                ));
            }
            let material = in_list
                .get(mid)
                .and_then(|l| materials[l.as_str()].as_array())
                .and_then(|a| a.iter().find(|m| m["id"].as_str() == Some(mid)));
            if let Some(m) = material
                && let Some(len) = m["duration"].as_i64()
                && ss + sd > len
            {
                bad.push(format!(
                    "{at}: source ends at {} µs, past its media's {len} µs",
                    ss + sd
                ));
            }
            let speeds: Vec<&Value> = s["extra_material_refs"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|r| {
                    in_list.get(r.as_str().unwrap_or("")).map(String::as_str) == Some("speeds")
                })
                .collect();
            if speeds.len() != 1 {
                bad.push(format!(
                    "{at}: refers to {} speed materials, not one",
                    speeds.len()
                ));
            }
            for r in speeds {
                let r = r.as_str().unwrap_or("").to_string();
                let m = materials["speeds"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|m| m["id"].as_str() == Some(r.as_str()));
                if m.and_then(|m| m["speed"].as_f64()) != Some(speed) {
                    bad.push(format!("{at}: its speed material's speed is not {speed}"));
                }
                *speed_users.entry(r).or_default() += 1;
            }
        }
        ranges.sort();
        for pair in ranges.windows(2) {
            if pair[0].0 + pair[0].1 > pair[1].0 {
                bad.push(format!(
                    "track {ti} ({kind}): segments overlap at {} µs",
                    pair[1].0
                ));
            }
        }
        if ti == 0 && kind == "video" && content["config"]["maintrack_adsorb"] == json!(true) {
            let mut end = 0;
            for (s, d) in &ranges {
                if *s != end {
                    bad.push(format!("the main track has a gap at {end} µs"));
                    break;
                }
                end = s + d;
            }
        }
    }
    for (id, n) in speed_users {
        if n > 1 {
            bad.push(format!("speed material {id} is shared by {n} segments"));
        }
    }
    if content["duration"].as_i64() != Some(max_end) {
        bad.push(format!(
            "duration {} is not the end of the last segment ({max_end} µs)",
            content["duration"]
        ));
    }
    if meta["tm_duration"].as_i64() != Some(max_end) {
        bad.push("draft_meta_info.json's tm_duration is not the draft's duration".into());
    }
    if meta["draft_name"].as_str() != Some(name) {
        bad.push(format!(
            "draft_meta_info.json names the draft {}, not {name:?}",
            meta["draft_name"]
        ));
    }
    for list in ["videos", "audios", "images"] {
        for m in materials[list].as_array().into_iter().flatten() {
            let path = m["path"].as_str().unwrap_or("");
            match in_draft_folder(path) {
                Some(rest) => {
                    if !exists(rest) {
                        bad.push(format!("{path} is not in the draft folder"));
                    }
                }
                None if path.starts_with('/')
                    || path.get(1..3) == Some(":/")
                    || path.get(1..3) == Some(":\\") => {}
                None => bad.push(format!(
                    "{path:?} is neither absolute nor in the draft folder"
                )),
            }
        }
    }
    bad
}

/// The path inside the draft folder of a media path written with the
/// draft-folder placeholder (`##_draftpath_placeholder_<GUID>_##/…`, any
/// GUID, either slash); `None` for any other path.
fn in_draft_folder(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("##_draftpath_placeholder_")?;
    let (guid, rest) = rest.split_once("_##")?;
    if guid.is_empty() || !guid.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return None;
    }
    rest.strip_prefix(['/', '\\'])
}

fn text_problems(m: &Value, at: &str) -> Vec<String> {
    let mut bad = Vec::new();
    let parsed: Option<Value> = m["content"]
        .as_str()
        .and_then(|c| serde_json::from_str(c).ok());
    let Some(c) = parsed else {
        return vec![format!("{at}: its text content is not a JSON string")];
    };
    let Some(text) = c["text"].as_str() else {
        return vec![format!("{at}: its text content has no text")];
    };
    let n = text.chars().count() as i64;
    let Some(styles) = c["styles"].as_array() else {
        return vec![format!("{at}: its text content has no styles")];
    };
    for st in styles {
        let r = (st["range"][0].as_i64(), st["range"][1].as_i64());
        match r {
            (Some(a), Some(b)) if 0 <= a && a < b && b <= n => {}
            _ => bad.push(format!(
                "{at}: style range {} does not fit {n} characters",
                st["range"]
            )),
        }
        let colour = &st["fill"]["content"]["solid"]["color"];
        let ok = colour.as_array().is_some_and(|c| {
            c.len() == 3
                && c.iter()
                    .all(|v| v.as_f64().is_some_and(|v| (0.0..=1.0).contains(&v)))
        });
        if !ok {
            bad.push(format!(
                "{at}: fill colour {colour} is not three values in 0–1"
            ));
        }
    }
    bad
}

/// Writes `draft` as a zip holding its folder (`{name}/…`), after
/// checking it; media is stored as is (it is compressed already).
pub fn write_zip(draft: &Draft, zip_path: &Path) -> Result<(), RenderError> {
    let inside: std::collections::HashSet<&str> =
        draft.files.iter().map(|(p, _)| p.as_str()).collect();
    let problems = validate(&draft.content, &draft.meta, &draft.name, &|p| {
        inside.contains(p)
    });
    if !problems.is_empty() {
        return Err(RenderError::Io(format!(
            "the 剪映 draft does not hold together: {}",
            problems.join("; ")
        )));
    }
    let mut zip = crate::store::ZipOut::create(zip_path)?;
    let dir = &draft.name;
    for (file, value) in [
        ("draft_content.json", &draft.content),
        ("draft_meta_info.json", &draft.meta),
    ] {
        let text = serde_json::to_vec(value).map_err(|e| RenderError::Io(e.to_string()))?;
        zip.add(&format!("{dir}/{file}"), &mut &text[..], true)?;
    }
    for (inside, local) in &draft.files {
        zip.add_file(&format!("{dir}/{inside}"), local, inside.ends_with(".wav"))?;
    }
    zip.finish()
}

#[cfg(test)]
mod tests {
    use super::super::plan::{Output, PlannedAudio, PlannedMusic, PlannedSegment};
    use super::*;

    fn clip(path: &str, first: u64, frames: u64, play: Play) -> PlannedSegment {
        PlannedSegment {
            id: path.into(),
            source: path.into(),
            path: PathBuf::from(path),
            first_frame: first,
            frames,
            start: first as f64 / 30.0,
            duration: frames as f64 / 30.0,
            source_size: (1080, 1920),
            fit: FitMode::BlurPad,
            play,
            held_seconds: 0.0,
            focus: Vec::new(),
            transition: None,
        }
    }

    /// A 1080x1920 30 fps plan of `segments`, nothing else on it.
    fn plan_of(segments: Vec<PlannedSegment>, total_frames: u64) -> Plan {
        Plan {
            output: Output {
                width: 1080,
                height: 1920,
                fps: 30,
                video_bitrate: 4_000_000,
                video_maxrate: 0,
                audio_bitrate: 128_000,
                sample_rate: 48_000,
                preset: "veryfast".into(),
                draft: false,
            },
            segments,
            voice: Vec::new(),
            music: None,
            total_frames,
            duration: total_frames as f64 / 30.0,
            metadata: Vec::new(),
            logo: None,
        }
    }

    fn window(from: f64, to: f64, speed: f64, looped: bool) -> Play {
        Play::Clip {
            from,
            to,
            speed,
            looped,
            rotation: 0,
            audio_gain: Some(1.0),
        }
    }

    /// Transitions sit on the segment before theirs, as long as ours; the
    /// brand's cards are a picture of their colour over the frame and their
    /// words; the draft holds together.
    #[test]
    fn transitions_and_cards_are_in_the_draft() {
        use super::super::plan::PlannedTransition;
        let _ = ffmpeg_next::init();
        let mut second = clip("b.mp4", 60, 60, window(0.0, 2.0, 1.0, false));
        second.transition = Some(PlannedTransition {
            kind: TransitionStyle::Crossfade,
            frames: 15,
            under: Box::new(clip("a.mp4", 60, 15, window(2.0, 2.5, 1.0, false))),
        });
        let plan = plan_of(
            vec![clip("a.mp4", 0, 60, window(0.0, 2.0, 1.0, false)), second],
            120,
        );
        let mut info: HashMap<PathBuf, MediaInfo> = ["a.mp4", "b.mp4"]
            .into_iter()
            .map(|p| {
                (
                    PathBuf::from(p),
                    MediaInfo {
                        duration_seconds: 5.0,
                        width: 1080,
                        height: 1920,
                        display_width: 1080,
                        display_height: 1920,
                        ..MediaInfo::default()
                    },
                )
            })
            .collect();
        let dir = tempfile::tempdir().expect("dir");
        let burned = [subtitles::Card::new(
            "老王面馆".into(),
            "三十年老店".into(),
            "&H001818C0".into(),
            (0.0, 1.0),
        )];
        let cards = cards(&burned, (1080, 1920), dir.path(), &mut info).expect("cards");
        let style = subtitles::style(scout_proto::scout::common::v1::SubtitleStyle::SimpleWhite);
        let sources = Sources {
            info: &info,
            captions: &[],
            style: &style,
            mark: None,
            cover: None,
            cards: &cards,
        };
        let d = build(&plan, &sources, "店", 1);
        let inside: Vec<&str> = d.files.iter().map(|(p, _)| p.as_str()).collect();
        let problems = validate(&d.content, &d.meta, &d.name, &|p| inside.contains(&p));
        assert!(problems.is_empty(), "{problems:#?}");
        let t = &d.content["materials"]["transitions"][0];
        assert_eq!(
            (&t["name"], &t["duration"]),
            (&json!("叠化"), &json!(500_000))
        );
        let main = &d.content["tracks"][0]["segments"];
        assert!(
            main[0]["extra_material_refs"]
                .as_array()
                .is_some_and(|r| r.contains(&t["id"]))
        );
        let kinds: Vec<&str> = d.content["tracks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["type"].as_str())
            .collect();
        assert_eq!(kinds, ["video", "video", "text", "text"]);
        let card = &d.content["tracks"][1]["segments"][0];
        assert_eq!(
            card["target_timerange"],
            json!({"start": 0, "duration": 1_000_000})
        );
        let texts = d.content["materials"]["texts"].to_string();
        assert!(
            texts.contains("老王面馆") && texts.contains("三十年老店"),
            "{texts}"
        );
    }

    /// A plan of every awkward shape: a window held far past what slowing
    /// fills, a sub-frame looped window, one clip used twice, a rotated
    /// source, voice past the end, music of unknown length.
    #[test]
    fn awkward_plans_make_drafts_that_hold_together() {
        let segments = vec![
            clip("a.mp4", 0, 300, window(2.0, 2.2, 0.5, false)),
            clip("b.mov", 300, 45, window(0.0, 0.01, 1.0, true)),
            clip("a.mp4", 345, 30, window(0.0, 1.0, 1.0, false)),
        ];
        let total_frames = 375;
        let plan = Plan {
            voice: vec![
                PlannedAudio {
                    id: "v1".into(),
                    source: "v1.wav".into(),
                    path: "v1.wav".into(),
                    offset: 0.0,
                    duration: 5.0,
                    gain: 1.0,
                },
                // Over the first: a second lane.
                PlannedAudio {
                    id: "v2".into(),
                    source: "v2.wav".into(),
                    path: "v2.wav".into(),
                    offset: 4.0,
                    duration: 3.0,
                    gain: 1.0,
                },
                // After the end: left out, file and all.
                PlannedAudio {
                    id: "v3".into(),
                    source: "v3.wav".into(),
                    path: "v3.wav".into(),
                    offset: 20.0,
                    duration: 3.0,
                    gain: 1.0,
                },
            ],
            music: Some(PlannedMusic {
                path: "unknown.mp3".into(),
                source: "unknown.mp3".into(),
                gain: 0.3,
                duck: true,
                fade: 0.5,
            }),
            ..plan_of(segments, total_frames)
        };
        let info: HashMap<PathBuf, MediaInfo> = [
            ("a.mp4", 10.0, 1920, 1080, 90),
            ("b.mov", 0.01, 1080, 1920, 0),
            ("v1.wav", 5.0, 0, 0, 0),
            ("v2.wav", 3.0, 0, 0, 0),
            ("v3.wav", 3.0, 0, 0, 0),
        ]
        .into_iter()
        .map(|(p, d, w, h, rot)| {
            let (dw, dh) = if rot == 90 { (h, w) } else { (w, h) };
            (
                PathBuf::from(p),
                MediaInfo {
                    duration_seconds: d,
                    width: w,
                    height: h,
                    rotation: rot,
                    display_width: dw,
                    display_height: dh,
                    ..MediaInfo::default()
                },
            )
        })
        .collect();
        let style = subtitles::style(scout_proto::scout::common::v1::SubtitleStyle::SimpleWhite);
        let mark = Mark {
            text: "  ".into(),
            corner: Corner::TopLeft,
            span: (0.0, 3.0),
        };
        let sources = Sources {
            info: &info,
            captions: &[],
            style: &style,
            mark: Some(&mark),
            cover: None,
            cards: &[],
        };
        let d = build(&plan, &sources, "../..", 1);
        assert_eq!(
            d.name, "探店宝视频",
            "a title of dots names no parent folder"
        );
        let inside: Vec<&str> = d.files.iter().map(|(p, _)| p.as_str()).collect();
        let problems = validate(&d.content, &d.meta, &d.name, &|p| inside.contains(&p));
        assert!(problems.is_empty(), "{problems:#?}");
        assert_eq!(d.content["duration"], json!(12_500_000));
        // a.mp4 once, b.mov, two voices; not the voice past the end, not
        // music of unknown length.
        assert_eq!(inside.len(), 4, "{inside:?}");
        let videos = d.content["materials"]["videos"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let a = videos
            .iter()
            .find(|m| m["material_name"] == "a.mp4")
            .expect("a.mp4");
        assert_eq!(
            (&a["width"], &a["height"]),
            (&json!(1080), &json!(1920)),
            "the size as shown"
        );
        let tracks = d.content["tracks"].as_array().cloned().unwrap_or_default();
        let kinds: Vec<&str> = tracks.iter().filter_map(|t| t["type"].as_str()).collect();
        assert_eq!(
            kinds,
            ["video", "audio", "audio"],
            "two voice lanes, no music, no blank mark"
        );
        let main = tracks[0]["segments"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for seg in &main {
            let speed = seg["speed"].as_f64().unwrap_or(0.0);
            assert!(speed >= MIN_SPEED, "{seg}");
            if (speed - 1.0).abs() > 1e-3 {
                assert_eq!(
                    seg["volume"],
                    json!(0.0),
                    "no sound off normal speed: {seg}"
                );
            }
            let n = seg["target_timerange"]["duration"].as_i64().unwrap_or(0);
            assert!(n >= 33_333, "never under a frame: {seg}");
        }
        // The held window repeats; the sub-frame loop is one frame a time.
        assert!(main.len() > 3 + 45, "{}", main.len());
    }
}
