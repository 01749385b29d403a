//! A user's brand kit through the API: every field checked naming it, a
//! logo uploaded with a presigned PUT and checked to be a picture, the kit
//! kept per user (gRPC and REST), and every video the user composes carrying
//! it: the intro card's colour over the first frames, the logo in its
//! corner, the captions in the brand's colours and font (subtitle.ass), and the
//! transition between shots (the editable draft).

mod support;

use std::io::Read as _;
use std::process::Command;
use std::time::Duration;

use scout_common::{ApiError, ErrorCode};
use scout_proto::scout::render::v1::{Card, Corner, Transition, TransitionKind};
use scout_proto::scout::tasks::v1::tasks_service_client::TasksServiceClient;
use scout_proto::scout::tasks::v1::{
    BrandKit, CreateBrandLogoUploadUrlRequest, GetAssetsPackRequest, GetBrandKitRequest,
    GetDownloadUrlRequest, GetEditableDraftRequest, Paragraph, ReportScriptRequest,
    StartAnalysisRequest, TaskStatus, UpdateBrandKitRequest,
};
use support::*;

/// A PNG of one colour, made by ffmpeg.
fn png(dir: &std::path::Path, colour: &str) -> Vec<u8> {
    let out = dir.join(format!("logo-{colour}.png"));
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("color=c={colour}:s=200x100"))
        .args(["-frames:v", "1"])
        .arg(&out)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success());
    std::fs::read(&out).expect("png")
}

/// Asks for a logo upload URL and PUTs `bytes`; the key.
async fn upload_logo(tasks: &mut UserTasks, bytes: Vec<u8>) -> String {
    let up = tasks
        .create_brand_logo_upload_url(CreateBrandLogoUploadUrlRequest {
            filename: "logo.png".into(),
            file_size: bytes.len() as i64,
            content_type: "image/png".into(),
        })
        .await
        .expect("logo upload url")
        .into_inner();
    assert_eq!(up.expires_in, 900);
    put_presigned(&up.upload_url, &up.required_headers, bytes).await;
    up.logo_key
}

/// Share of the pixels of `rgb` in the box (x0, y0, x1, y1) within 40 of `colour`.
fn share_near(rgb: &[u8], (x0, y0, x1, y1): (usize, usize, usize, usize), colour: [u8; 3]) -> f64 {
    let mut near = 0;
    for y in y0..y1 {
        for x in x0..x1 {
            let p = &rgb[(y * 1080 + x) * 3..(y * 1080 + x) * 3 + 3];
            if p.iter().zip(colour).all(|(a, b)| a.abs_diff(b) <= 40) {
                near += 1;
            }
        }
    }
    near as f64 / ((x1 - x0) * (y1 - y0)) as f64
}

async fn fetch(url: &str) -> bytes::Bytes {
    reqwest::get(url)
        .await
        .expect("get")
        .error_for_status()
        .expect("200")
        .bytes()
        .await
        .expect("body")
}

/// The user's brand kit.
async fn kit_of(tasks: &mut UserTasks) -> BrandKit {
    tasks
        .get_brand_kit(GetBrandKitRequest {})
        .await
        .expect("get")
        .into_inner()
        .kit
        .expect("kit")
}

/// The name of the zip's entry ending in `end`.
fn entry_ending(zip: &zip::ZipArchive<std::io::Cursor<bytes::Bytes>>, end: &str) -> String {
    zip.file_names()
        .map(|n| n.expect("an entry name").to_string())
        .find(|n| n.ends_with(end))
        .unwrap_or_else(|| panic!("no entry ending in {end}"))
}

fn refused_field(err: &tonic::Status) -> String {
    let e = ApiError::from_status(err);
    assert_eq!(e.code, ErrorCode::InvalidArgument, "{e}");
    e.message
}

#[tokio::test]
async fn a_brand_kit_is_checked_kept_per_user_and_put_on_every_video() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("files");
    let mut config = embedded_config(dir.path());
    config.edge.rate_limits.default.limit = 100_000;
    let mesh = mesh_without_vision(config).await;
    let base = mesh.edge_url();
    let me = login(&base, dir.path()).await;
    let other = login(&base, dir.path()).await;
    let mut tasks = TasksServiceClient::new(authed_channel(&base, &me.access));
    let mut theirs = TasksServiceClient::new(authed_channel(&base, &other.access));

    // Empty until set.
    assert_eq!(kit_of(&mut tasks).await, BrandKit::default());

    // A logo: only pictures, and it must be one.
    let err = tasks
        .create_brand_logo_upload_url(CreateBrandLogoUploadUrlRequest {
            filename: "x.mp4".into(),
            file_size: 1000,
            content_type: "video/mp4".into(),
        })
        .await
        .expect_err("not a picture type");
    assert!(refused_field(&err).contains("content_type"));
    let not_a_picture = upload_logo(&mut tasks, b"definitely not a png".to_vec()).await;
    let logo = upload_logo(&mut tasks, png(files.path(), "0xFF00FF")).await;

    let kit = BrandKit {
        logo_key: logo.clone(),
        logo_corner: Corner::TopRight as i32,
        logo_scale: 0.2,
        logo_opacity: 1.0,
        caption_colour: "#FF0000".into(),
        caption_outline_colour: "#FFFFFF".into(),
        caption_font: "Noto Serif CJK SC".into(),
        intro: Some(Card {
            title: "老王面馆".into(),
            line: "三十年老店".into(),
            seconds: 1.0,
            background_colour: "#C01818".into(),
        }),
        outro: None,
        transition: Some(Transition {
            kind: TransitionKind::Crossfade as i32,
            duration_seconds: 0.4,
        }),
        updated_at: None,
    };
    // Each wrong field is refused, naming it; nothing is stored.
    for (bad, field) in [
        (
            BrandKit {
                caption_colour: "red".into(),
                ..kit.clone()
            },
            "caption_colour",
        ),
        (
            BrandKit {
                logo_scale: 0.9,
                ..kit.clone()
            },
            "logo_scale",
        ),
        (
            BrandKit {
                caption_font: "Comic Sans MS".into(),
                ..kit.clone()
            },
            "caption_font",
        ),
        (
            BrandKit {
                intro: Some(Card {
                    title: String::new(),
                    ..Default::default()
                }),
                ..kit.clone()
            },
            "intro.title",
        ),
        (
            BrandKit {
                transition: Some(Transition {
                    kind: TransitionKind::Slide as i32,
                    duration_seconds: 3.0,
                }),
                ..kit.clone()
            },
            "transition.duration_seconds",
        ),
        (
            BrandKit {
                logo_key: not_a_picture.clone(),
                ..kit.clone()
            },
            "not a readable picture",
        ),
        (
            BrandKit {
                logo_key: format!("brand/{}/logo-x.png", other.user_id),
                ..kit.clone()
            },
            "logo_key",
        ),
    ] {
        let err = tasks
            .update_brand_kit(UpdateBrandKitRequest { kit: Some(bad) })
            .await
            .expect_err(field);
        let message = refused_field(&err);
        assert!(message.contains(field), "{field}: {message}");
    }
    // Someone else's logo key answers as if it were not there, too.
    let err = theirs
        .update_brand_kit(UpdateBrandKitRequest {
            kit: Some(BrandKit {
                logo_key: logo.clone(),
                ..Default::default()
            }),
        })
        .await
        .expect_err("not theirs");
    assert!(refused_field(&err).contains("logo_key"));

    let stored = tasks
        .update_brand_kit(UpdateBrandKitRequest {
            kit: Some(kit.clone()),
        })
        .await
        .expect("update")
        .into_inner()
        .kit
        .expect("kit");
    assert!(stored.updated_at.is_some());
    assert_eq!(
        BrandKit {
            updated_at: None,
            ..stored.clone()
        },
        kit
    );
    // Over REST, the same kit; another user's is still empty.
    let rest = get_json(&format!("{base}/api/v1/brand-kit"), &me.access).await;
    assert_eq!(rest["data"]["caption_colour"], "#FF0000", "{rest}");
    assert_eq!(rest["data"]["intro"]["title"], "老王面馆", "{rest}");
    let theirs_kit = kit_of(&mut theirs).await;
    assert!(theirs_kit.logo_key.is_empty() && theirs_kit.intro.is_none());

    // A task of two shots, composed: the kit is on the video.
    let mut jobs = analyze_jobs(&mesh).await;
    let (id, clips) = task_with_clips(&mut tasks, files.path(), "老王面馆", &[3.0, 3.0]).await;
    tasks
        .start_analysis(StartAnalysisRequest { task_id: id })
        .await
        .expect("analyse");
    let job = loop {
        let job = take_analyze_job(&mut jobs, Duration::from_secs(60)).await;
        if job.task_id == id {
            break job;
        }
    };
    tasks_worker(&mesh)
        .report_script(ReportScriptRequest {
            pictures: Vec::new(),
            library_clips: Vec::new(),
            job_id: job.job_id,
            task_id: id,
            paragraphs: clips
                .iter()
                .enumerate()
                .map(|(i, clip)| Paragraph {
                    id: format!("para_{}", i + 1),
                    section: "开场".into(),
                    shot_id: *clip,
                    text: "家人们，这家面馆汤头很浓，值得一来！".into(),
                    ..Default::default()
                })
                .collect(),
            provider: "template".into(),
            provider_note: String::new(),
            usage: None,
        })
        .await
        .expect("script");
    wait_status(
        &mut tasks,
        id,
        TaskStatus::ScriptReady,
        Duration::from_secs(30),
    )
    .await;
    compose(&mut tasks, id).await.expect("compose");
    wait_status(
        &mut tasks,
        id,
        TaskStatus::Completed,
        Duration::from_secs(180),
    )
    .await;

    let url = tasks
        .get_download_url(GetDownloadUrlRequest { task_id: id })
        .await
        .expect("download")
        .into_inner()
        .url;
    let video = files.path().join("final.mp4");
    std::fs::write(&video, fetch(&url).await).expect("write");
    // The intro card over the opening second, in its colour.
    let opening = rgb_at(&video, 0.5);
    let card = share_near(&opening, (0, 0, 1080, 1920), [0xC0, 0x18, 0x18]);
    assert!(
        card > 0.8,
        "the intro card's colour over {card:.2} of the frame"
    );
    // The logo in the top right (its own colour there, not at the top left).
    let later = rgb_at(&video, 2.0);
    let (right, left) = (
        share_near(&later, (540, 0, 1080, 480), [0xFF, 0x00, 0xFF]),
        share_near(&later, (0, 0, 540, 480), [0xFF, 0x00, 0xFF]),
    );
    assert!(
        right > 0.05 && left < 0.01,
        "logo: right {right:.3}, left {left:.3}"
    );
    // The captions in the brand's colour: red fill, white outline (ASS
    // colours are &HAABBGGRR).
    let assets = tasks
        .get_assets_pack(GetAssetsPackRequest { task_id: id })
        .await
        .expect("assets")
        .into_inner();
    let mut pack =
        zip::ZipArchive::new(std::io::Cursor::new(fetch(&assets.url).await)).expect("zip");
    let ass_name = entry_ending(&pack, ".ass");
    let mut ass = String::new();
    pack.by_name(&ass_name)
        .expect("ass")
        .read_to_string(&mut ass)
        .expect("utf-8");
    // The first style is the captions' (Name, Fontname, Fontsize,
    // PrimaryColour, SecondaryColour, OutlineColour, ...).
    let style: Vec<&str> = ass
        .lines()
        .find(|l| l.starts_with("Style:"))
        .expect("a style line")
        .split(',')
        .collect();
    assert_eq!(style[1], "Noto Serif CJK SC", "the brand's font: {style:?}");
    assert_eq!(style[3], "&H000000FF", "red fill: {style:?}");
    assert_eq!(style[5], "&H00FFFFFF", "white outline: {style:?}");
    // The transition between the two shots, as the editor's own, 0.4 s.
    let draft = tasks
        .get_editable_draft(GetEditableDraftRequest {
            task_id: id,
            ..Default::default()
        })
        .await
        .expect("draft")
        .into_inner();
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(fetch(&draft.url).await)).expect("zip");
    let content_name = entry_ending(&archive, "/draft_content.json");
    let content: serde_json::Value =
        serde_json::from_reader(archive.by_name(&content_name).expect("content")).expect("json");
    let transitions = &content["materials"]["transitions"];
    assert_eq!(transitions[0]["name"], "叠化", "{transitions}");
    assert_eq!(transitions[0]["duration"], 400_000, "{transitions}");
    mesh.shutdown().await.expect("clean shutdown");
}
