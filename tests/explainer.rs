//! The document explainer (seed 001) end to end through the API on the real
//! mesh: a Markdown document with every kind of slide, a PDF with a picture
//! and a Word file read into scenes and their narration (the script), each
//! slide drawn by render and timed to its measured speech. Checked from the
//! output's pixels and samples: every slide's text inside the frame, slide
//! changes where the speech of the next scene starts (within one frame, no
//! drift), the PDF's picture on its slide; bad documents refused saying why
//! and leaving nothing behind.

mod support;

use std::io::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use scout_common::{ApiError, ErrorCode};
use scout_proto::scout::render::v1::SceneKind;
use scout_proto::scout::tasks::v1::tasks_service_client::TasksServiceClient;
use scout_proto::scout::tasks::v1::{
    CreateTaskRequest, CreateVideoUploadUrlRequest, MediaKind, Recipe, Script,
    SetSubtitleSettingsRequest, StartAnalysisRequest, SubtitleSettings, TaskStatus,
};
use support::*;

const DOC: &str = "# Rust 入门 Getting Started\n\n一门安全又快的语言，适合写服务和工具。\n\n\
## 为什么选 Rust\n\n- 内存安全，没有数据竞争\n- Zero-cost abstractions that compile away\n- 强大的工具链：cargo、clippy、rustfmt\n\n\
## 代码示例\n\n```rust\nfn main() {\n    let name = \"世界\";\n    println!(\"你好，{}!\", name); // greet\n}\n```\n\n\
> 程序首先是写给人看的，其次才是给机器执行的。 — Harold Abelson\n\n\
## 常见问题\n\n借用检查器一开始会让人觉得太严格。\n\n## 解决方案\n\n先理解所有权，再用引用和生命周期。\n\n\
## 小测验\n\nRust 用什么保证内存安全？\n\n- [ ] 垃圾回收\n- [x] 所有权\n- [ ] 引用计数\n";

async fn mesh(dir: &Path) -> (scout::mesh::Mesh, UserTasks) {
    let mut config = embedded_config(dir);
    config.edge.rate_limits.default.limit = 100_000;
    config.edge.request_timeout = Duration::from_secs(60);
    // Only the slides draw text here (no AI mark in the corner).
    config.aigc.mark = false;
    let mesh = mesh_without_vision(config).await;
    let base = mesh.edge_url();
    let me = login(&base, dir).await;
    let tasks = TasksServiceClient::new(authed_channel(&base, &me.access));
    (mesh, tasks)
}

async fn explainer(tasks: &mut UserTasks, accent: &str) -> i64 {
    tasks
        .create_task(CreateTaskRequest {
            recipe: Recipe::DocExplainer as i32,
            shop_name: "Rust 入门".into(),
            accent: accent.into(),
            ..CreateTaskRequest::default()
        })
        .await
        .expect("create")
        .into_inner()
        .task
        .expect("task")
        .id
}

/// Slides only: no captions over them, so every light pixel is a slide's.
async fn no_captions(tasks: &mut UserTasks, task_id: i64) {
    tasks
        .set_subtitle_settings(SetSubtitleSettingsRequest {
            task_id,
            subtitle: Some(SubtitleSettings {
                enabled: false,
                style: 0,
            }),
        })
        .await
        .expect("no captions");
}

fn kinds(s: &Script) -> Vec<SceneKind> {
    s.paragraphs
        .iter()
        .map(|p| {
            SceneKind::try_from(p.scene.as_ref().expect("a slide").kind)
                .unwrap_or(SceneKind::Unspecified)
        })
        .collect()
}

/// Where the picture changes, as frame indices, and how many frames there
/// are: a frame where more than 40 pixels of a 270x480 grey copy differ
/// from the frame before by more than 40 (slides change at once; a slide
/// holds still; a colour change of one line shows too).
fn changes(video: &Path) -> (Vec<usize>, usize) {
    use std::io::Read as _;
    let mut child = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(video)
        .args([
            "-vf",
            "scale=270:480",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "gray",
            "-",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("ffmpeg runs");
    let mut out = child.stdout.take().expect("stdout");
    let (mut prev, mut frame) = (vec![0u8; 270 * 480], vec![0u8; 270 * 480]);
    let (mut cuts, mut n) = (Vec::new(), 0);
    while out.read_exact(&mut frame).is_ok() {
        if n > 0 {
            let differ = frame
                .iter()
                .zip(&prev)
                .filter(|(a, b)| a.abs_diff(**b) > 40)
                .count();
            if differ > 40 {
                cuts.push(n);
            }
        }
        std::mem::swap(&mut prev, &mut frame);
        n += 1;
    }
    assert!(child.wait().expect("ffmpeg").success());
    (cuts, n)
}

/// Where speech starts after a pause of at least 300 ms, seconds.
fn speech_onsets(audio: &[f32]) -> Vec<f64> {
    let win = 240; // 5 ms
    let rms: Vec<f32> = audio
        .chunks(win)
        .map(|c| (c.iter().map(|v| v * v).sum::<f32>() / c.len() as f32).sqrt())
        .collect();
    let mut out = Vec::new();
    let mut quiet = 0;
    for (i, r) in rms.iter().enumerate() {
        if *r < 0.01 {
            quiet += 1;
        } else {
            if quiet >= 60 || (i > 0 && out.is_empty() && quiet == i) {
                out.push(i as f64 * win as f64 / 48_000.0);
            }
            quiet = 0;
        }
    }
    out
}

/// Light pixels (text) outside the slides' content box, rows 0-1919.
fn text_outside(rgb: &[u8]) -> usize {
    let mut n = 0;
    for y in 0..1920 {
        for x in 0..1080 {
            let inside = (80..=932).contains(&x) && (220..=1422).contains(&y);
            if inside {
                continue;
            }
            let p = &rgb[(y * 1080 + x) * 3..(y * 1080 + x) * 3 + 3];
            if p.iter().all(|c| *c > 120) {
                n += 1;
            }
        }
    }
    n
}

#[tokio::test]
async fn a_markdown_document_becomes_narrated_slides_timed_to_their_speech() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("files");
    let (mesh, mut tasks) = mesh(dir.path()).await;
    let id = explainer(&mut tasks, "green").await;

    let doc = upload_bytes(
        &mut tasks,
        id,
        "rust.md",
        "text/markdown",
        DOC.as_bytes().to_vec(),
    )
    .await
    .expect("document");
    assert_eq!(doc.kind, MediaKind::Document as i32);
    let script = written(&mut tasks, id, Duration::from_secs(30)).await;
    assert_eq!(
        kinds(&script),
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
    assert!(
        script
            .paragraphs
            .iter()
            .all(|p| p.scene.as_ref().is_some_and(|s| s.accent == "green"))
    );
    assert!(
        script.paragraphs[7].text.contains("答案是B"),
        "{}",
        script.paragraphs[7].text
    );
    assert!(!script.length.as_ref().is_some_and(|l| l.over_limit));

    // Slides only: no captions over them, so every light pixel is a slide's.
    no_captions(&mut tasks, id).await;
    let path = files.path().join("explainer.mp4");
    composed_to(&mut tasks, id, &path, Duration::from_secs(300)).await;
    // The spec: 1080x1920 H.264 with AAC, as long as the slides.
    let probe = ffprobe(&path);
    let streams = probe["streams"].as_array().expect("streams");
    let v = streams
        .iter()
        .find(|s| s["codec_type"] == "video")
        .expect("video");
    assert_eq!(
        (
            v["codec_name"].as_str(),
            v["width"].as_i64(),
            v["height"].as_i64()
        ),
        (Some("h264"), Some(1080), Some(1920))
    );
    assert!(
        streams
            .iter()
            .any(|s| s["codec_type"] == "audio" && s["codec_name"] == "aac")
    );
    // Its steps, as the progress names them.
    let steps = progress_steps(&mut tasks, id).await;
    let names: Vec<&str> = steps.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["语音合成", "字幕生成", "视频合成", "上传成片"]);

    // One slide change per scene boundary.
    let (cuts, frames) = changes(&path);
    assert_eq!(
        cuts.len(),
        script.paragraphs.len() - 1,
        "slide changes at frames {cuts:?}"
    );
    // Each scene's speech starts with its slide: the same lead everywhere
    // (the voice's own leading silence), within one frame, no drift.
    let onsets = speech_onsets(&audio_samples(&path));
    let mut leads = Vec::new();
    for c in &cuts {
        let t = *c as f64 / 30.0;
        let lead = onsets
            .iter()
            .map(|o| o - t)
            .filter(|d| *d > -0.05 && *d < 0.4)
            .fold(f64::MAX, f64::min);
        assert!(
            lead < 0.4,
            "no speech starts with the slide at {t:.3} s (onsets {onsets:?})"
        );
        leads.push(lead);
    }
    let (lo, hi) = leads
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), l| (a.min(*l), b.max(*l)));
    assert!(
        hi - lo <= 1.0 / 30.0 + 0.006,
        "speech leads vary by {:.1} ms: {leads:?}",
        (hi - lo) * 1000.0
    );

    // Every slide's text inside the frame's content box, measured from the
    // pixels of a frame in the middle of each slide.
    let mut bounds = vec![0];
    bounds.extend(cuts.iter().copied());
    bounds.push(frames);
    for w in bounds.windows(2) {
        let t = (w[0] + w[1]) as f64 / 2.0 / 30.0;
        let rgb = rgb_at(&path, t);
        assert_eq!(
            text_outside(&rgb),
            0,
            "text outside the content box at {t:.2} s"
        );
    }
    mesh.shutdown().await.expect("shutdown");
}

/// A two-page PDF: text on both, a red JPEG picture on the second.
fn pdf_with_picture(jpeg: &[u8]) -> Vec<u8> {
    use lopdf::content::{Content, Operation};
    use lopdf::{Document, Object, Stream, dictionary};
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type1",
        "BaseFont" => "Helvetica",
    });
    let image_id = doc.add_object(Stream::new(
        dictionary! {
            "Type" => "XObject",
            "Subtype" => "Image",
            "Width" => 320,
            "Height" => 240,
            "ColorSpace" => "DeviceRGB",
            "BitsPerComponent" => 8,
            "Filter" => "DCTDecode",
        },
        jpeg.to_vec(),
    ));
    let mut kids = Vec::new();
    for (n, lines) in [
        vec![
            "Getting Started",
            "",
            "Install the tool with one command.",
            "Then run it on your project.",
        ],
        vec![
            "Architecture",
            "",
            "Requests go through the edge to each service.",
        ],
    ]
    .into_iter()
    .enumerate()
    {
        let mut ops = vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 18.into()]),
            Operation::new("TL", vec![24.into()]),
            Operation::new("Td", vec![72.into(), 720.into()]),
        ];
        for line in lines {
            ops.push(Operation::new("Tj", vec![Object::string_literal(line)]));
            ops.push(Operation::new("T*", vec![]));
        }
        ops.push(Operation::new("ET", vec![]));
        if n == 1 {
            ops.extend([
                Operation::new("q", vec![]),
                Operation::new(
                    "cm",
                    vec![
                        320.into(),
                        0.into(),
                        0.into(),
                        240.into(),
                        72.into(),
                        300.into(),
                    ],
                ),
                Operation::new("Do", vec!["Im1".into()]),
                Operation::new("Q", vec![]),
            ]);
        }
        let content = Content { operations: ops };
        let content_id = doc.add_object(Stream::new(
            dictionary! {},
            content.encode().expect("content"),
        ));
        let mut resources = dictionary! { "Font" => dictionary! { "F1" => font_id } };
        if n == 1 {
            resources.set("XObject", dictionary! { "Im1" => image_id });
        }
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content_id,
            "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
            "Resources" => resources,
        });
        kids.push(page_id.into());
    }
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => kids,
            "Count" => 2,
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let mut out = Vec::new();
    doc.save_to(&mut out).expect("pdf");
    out
}

/// A Word file: a title, a heading, two list items and a paragraph.
fn docx() -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default();
        zip.start_file("[Content_Types].xml", opts).expect("zip");
        zip.write_all(br#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#).expect("zip");
        zip.start_file("word/document.xml", opts).expect("zip");
        zip.write_all(r#"<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>
<w:p><w:pPr><w:pStyle w:val="Title"/></w:pPr><w:r><w:t>团队周报</w:t></w:r></w:p>
<w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>本周进展</w:t></w:r></w:p>
<w:p><w:pPr><w:numPr><w:ilvl w:val="0"/><w:numId w:val="1"/></w:numPr></w:pPr><w:r><w:t xml:space="preserve">上线了 </w:t></w:r><w:r><w:t>发布功能</w:t></w:r></w:p>
<w:p><w:pPr><w:numPr><w:ilvl w:val="0"/><w:numId w:val="1"/></w:numPr></w:pPr><w:r><w:t>修复了 3 个 &lt;严重&gt; 问题</w:t></w:r></w:p>
<w:p><w:r><w:t>下周继续优化性能。</w:t></w:r></w:p>
</w:body></w:document>"#.as_bytes()).expect("zip");
        zip.finish().expect("zip");
    }
    buf.into_inner()
}

#[tokio::test]
async fn pdf_and_word_documents_are_explained_and_bad_documents_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("files");
    let (mesh, mut tasks) = mesh(dir.path()).await;

    // Bad documents: none of them is kept.
    let id = explainer(&mut tasks, "").await;
    let err = tasks
        .create_video_upload_url(CreateVideoUploadUrlRequest {
            task_id: id,
            filename: "a.mp4".into(),
            file_size: 100,
            content_type: "video/mp4".into(),
        })
        .await
        .expect_err("a video");
    assert!(
        ApiError::from_status(&err)
            .message
            .contains("text/markdown")
    );
    for (name, ct, bytes, needle) in [
        (
            "empty.md",
            "text/markdown",
            b"\n\n   \n".to_vec(),
            "no text",
        ),
        (
            "long.md",
            "text/markdown",
            (0..101)
                .map(|i| format!("## 第 {i} 部分\n\n内容 {i}。\n\n"))
                .collect::<String>()
                .into_bytes(),
            "at most 100",
        ),
        (
            "broken.pdf",
            "application/pdf",
            b"%PDF-1.7\n1 0 obj <<".to_vec(),
            "the PDF cannot be read",
        ),
        (
            "broken.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            b"PK\x03\x04 nope".to_vec(),
            "not a readable Word file",
        ),
    ] {
        let err = upload_bytes(&mut tasks, id, name, ct, bytes)
            .await
            .expect_err(name);
        let e = ApiError::from_status(&err);
        assert_eq!(e.code, ErrorCode::InvalidMedia, "{name}: {e}");
        assert!(e.message.contains(needle), "{name}: {}", e.message);
    }
    let listed = uploads_of(&mut tasks, id).await;
    assert!(
        listed.is_empty(),
        "refused documents are not kept: {listed:?}"
    );
    let err = tasks
        .start_analysis(StartAnalysisRequest { task_id: id })
        .await
        .expect_err("nothing to explain");
    assert_eq!(
        ApiError::from_status(&err).code,
        ErrorCode::FailedPrecondition
    );

    // A Word file, then a PDF that replaces it.
    let word = upload_bytes(
        &mut tasks,
        id,
        "weekly.docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        docx(),
    )
    .await
    .expect("docx");
    assert_eq!(word.kind, MediaKind::Document as i32);
    let red = {
        let out = files.path().join("red.jpg");
        let status = Command::new("ffmpeg")
            .args([
                "-v",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                "color=c=red:s=320x240",
            ])
            .args(["-frames:v", "1", "-q:v", "2"])
            .arg(&out)
            .status()
            .expect("ffmpeg runs");
        assert!(status.success());
        std::fs::read(&out).expect("jpeg")
    };
    let pdf = upload_bytes(
        &mut tasks,
        id,
        "guide.pdf",
        "application/pdf",
        pdf_with_picture(&red),
    )
    .await
    .expect("pdf");
    let listed = uploads_of(&mut tasks, id).await;
    assert_eq!(
        listed.iter().map(|v| v.id).collect::<Vec<_>>(),
        [pdf.id],
        "the PDF replaced the Word file"
    );
    let script = written(&mut tasks, id, Duration::from_secs(30)).await;
    assert_eq!(
        kinds(&script),
        [
            SceneKind::Title,
            SceneKind::List,
            SceneKind::Image,
            SceneKind::Outro
        ]
    );
    assert_eq!(
        script.paragraphs[0]
            .scene
            .as_ref()
            .map(|s| s.title.as_str()),
        Some("Getting Started")
    );
    assert!(
        script.paragraphs[2]
            .scene
            .as_ref()
            .is_some_and(|s| s.image.is_some())
    );
    no_captions(&mut tasks, id).await;
    let path = files.path().join("pdf.mp4");
    composed_to(&mut tasks, id, &path, Duration::from_secs(300)).await;
    let (cuts, _) = changes(&path);
    assert_eq!(cuts.len(), 3, "{cuts:?}");
    // The picture slide shows the PDF's picture (red) in its picture box.
    let t = (cuts[1] + cuts[2]) as f64 / 2.0 / 30.0;
    let rgb = rgb_at(&path, t);
    let mut red_px = 0;
    for y in (400..1400).step_by(4) {
        for x in (100..900).step_by(4) {
            let p = &rgb[(y * 1080 + x) * 3..(y * 1080 + x) * 3 + 3];
            if p[0] > 180 && p[1] < 80 && p[2] < 80 {
                red_px += 1;
            }
        }
    }
    assert!(
        red_px > 5_000,
        "the PDF's picture is on its slide ({red_px} red samples)"
    );

    // The Word file on its own task reads into its slides.
    let other = explainer(&mut tasks, "pink").await;
    upload_bytes(
        &mut tasks,
        other,
        "weekly.docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        docx(),
    )
    .await
    .expect("docx");
    tasks
        .start_analysis(StartAnalysisRequest { task_id: other })
        .await
        .expect("explain");
    let script = script_of(&mut tasks, other).await;
    assert_eq!(
        kinds(&script),
        [SceneKind::Title, SceneKind::List, SceneKind::Outro]
    );
    let list = script.paragraphs[1].scene.as_ref().expect("slide");
    assert_eq!(list.title, "本周进展");
    assert_eq!(
        list.items,
        [
            "上线了 发布功能",
            "修复了 3 个 <严重> 问题",
            "下周继续优化性能。"
        ]
    );
    mesh.shutdown().await.expect("shutdown");
}

/// A local server speaking OpenAI's chat completions: it narrates each
/// slide it is shown ("讲解第N页：…"), or answers prose when `garbage`.
async fn narrating_model(garbage: bool) -> (std::sync::Arc<std::sync::Mutex<Vec<String>>>, String) {
    use axum::response::IntoResponse as _;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let prompts = seen.clone();
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move |body: axum::body::Bytes| {
            let prompts = prompts.clone();
            async move {
                let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let prompt = body["messages"][1]["content"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                prompts.lock().expect("lock").push(prompt.clone());
                let n: usize = prompt
                    .split("exactly ")
                    .nth(1)
                    .and_then(|r| r.split(' ').next())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                let content = if garbage {
                    "好的，下面是我为每一页写的讲解。".to_string()
                } else {
                    serde_json::json!({
                        "narrations": (1..=n).map(|i| format!("讲解第{i}页：我们一起看看这一页。")).collect::<Vec<_>>()
                    })
                    .to_string()
                };
                axum::Json(serde_json::json!({
                    "id": "chatcmpl-doc",
                    "object": "chat.completion",
                    "created": 1_700_000_000,
                    "model": "doc-writer",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                    "usage": {"total_tokens": 120}
                }))
                .into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/v1", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (seen, url)
}

/// With a text model configured, it says each slide (seed 001: "the
/// configured text model when set"): shown every slide and its draft,
/// its narration becomes the script, the slides unchanged. A model that
/// answers prose twice leaves the templates' words, and the note says so.
#[tokio::test]
async fn the_configured_text_model_narrates_each_slide() {
    for garbage in [false, true] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (seen, url) = narrating_model(garbage).await;
        let mut config = embedded_config(dir.path());
        config.edge.rate_limits.default.limit = 100_000;
        config.ai.writer = scout_common::config::WriterKind::Remote;
        config.ai.text_model.endpoint = url;
        config.ai.text_model.api_key = "sk-doc".into();
        config.ai.text_model.model = "doc-writer".into();
        config.ai.max_retries = 0;
        let mesh = scout::mesh::Mesh::start(config).await.expect("mesh");
        let base = mesh.edge_url();
        let me = login(&base, dir.path()).await;
        let mut tasks = TasksServiceClient::new(authed_channel(&base, &me.access));
        let id = explainer(&mut tasks, "blue").await;
        upload_bytes(
            &mut tasks,
            id,
            "rust.md",
            "text/markdown",
            DOC.as_bytes().to_vec(),
        )
        .await
        .expect("document");
        tasks
            .start_analysis(StartAnalysisRequest { task_id: id })
            .await
            .expect("narrate");
        let t = wait_status(
            &mut tasks,
            id,
            TaskStatus::ScriptReady,
            Duration::from_secs(60),
        )
        .await;
        let script = script_of(&mut tasks, id).await;
        assert_eq!(kinds(&script).len(), 9, "the slides are the document's");
        let prompts = seen.lock().expect("lock").clone();
        assert!(
            prompts[0].contains("[list] 为什么选 Rust") && prompts[0].contains("draft: "),
            "{}",
            prompts[0]
        );
        if garbage {
            assert!(
                script
                    .paragraphs
                    .iter()
                    .all(|p| !p.text.starts_with("讲解第")),
                "the templates' words stand"
            );
            assert!(
                t.provider_note
                    .contains("writer=template (remote failed: invalid JSON)"),
                "{}",
                t.provider_note
            );
        } else {
            for (i, p) in script.paragraphs.iter().enumerate() {
                assert_eq!(p.text, format!("讲解第{}页：我们一起看看这一页。", i + 1));
            }
            assert!(
                t.provider_note.contains("writer=remote:doc-writer"),
                "{}",
                t.provider_note
            );
        }
        mesh.shutdown().await.expect("shutdown");
    }
}
