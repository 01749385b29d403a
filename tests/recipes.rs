//! The music video and ad creative recipes (seed 004) end to end through
//! the API on the real mesh: product images and a backing track uploaded
//! like clips, composed straight from them, the result checked from its
//! pixels and samples: cuts on the clicks of a generated click track (within
//! 50 ms), the track looped without a gap, a photo turned as its EXIF says,
//! the ad's end card; every bad input refused naming the reason and leaving
//! nothing behind.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use scout_common::testing::TestDatabase;
use scout_common::{ApiError, ErrorCode};
use scout_proto::scout::tasks::v1::tasks_service_client::TasksServiceClient;
use scout_proto::scout::tasks::v1::{
    CreateTaskRequest, CreateVideoUploadUrlRequest, GetEditableDraftRequest, GetOutputRequest,
    MediaKind, MontageInput, Recipe, StartAnalysisRequest, StartComposeRequest, StepState,
    TaskStatus,
};
use support::*;

/// The clicks of [`click_track`]: 120 BPM from 0.25 s.
const FIRST_CLICK: f64 = 0.25;
const CLICK_PERIOD: f64 = 0.5;

/// A 16-bit mono WAV at `rate`: a steady 220 Hz hum with a 2 kHz click
/// every half second from 0.25 s.
fn click_track(rate: u32, seconds: f64) -> Vec<u8> {
    let n = (seconds * f64::from(rate)) as usize;
    let r = f64::from(rate);
    let mut samples: Vec<f64> = (0..n)
        .map(|i| 0.15 * (std::f64::consts::TAU * 220.0 * i as f64 / r).sin())
        .collect();
    let mut t = FIRST_CLICK;
    while t < seconds {
        let start = (t * r) as usize;
        for k in 0..(0.005 * r) as usize {
            if let Some(s) = samples.get_mut(start + k) {
                let decay = (-(k as f64) / (0.0015 * r)).exp();
                *s += 0.8 * decay * (std::f64::consts::TAU * 2000.0 * k as f64 / r).sin();
            }
        }
        t += CLICK_PERIOD;
    }
    wav_pcm(rate, &samples)
}

/// An image made by ffmpeg from a lavfi source (`-frames:v 1`).
fn image(dir: &Path, name: &str, source: &str) -> Vec<u8> {
    let out = dir.join(name);
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", source])
        .args(["-frames:v", "1", "-q:v", "2"])
        .arg(&out)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg made no {name}");
    std::fs::read(&out).expect("image")
}

/// `jpeg` with an EXIF block (little-endian TIFF) saying orientation `o`,
/// as a phone writes it.
fn with_exif(jpeg: &[u8], o: u16) -> Vec<u8> {
    let mut tiff = b"II\x2a\0\x08\0\0\0".to_vec();
    tiff.extend_from_slice(&1u16.to_le_bytes());
    tiff.extend_from_slice(&0x0112u16.to_le_bytes());
    tiff.extend_from_slice(&3u16.to_le_bytes());
    tiff.extend_from_slice(&1u32.to_le_bytes());
    tiff.extend_from_slice(&o.to_le_bytes());
    tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((tiff.len() + 8) as u16).to_be_bytes());
    out.extend_from_slice(b"Exif\0\0");
    out.extend_from_slice(&tiff);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn refusal(err: &tonic::Status, code: ErrorCode) -> String {
    let e = ApiError::from_status(err);
    assert_eq!(e.code, code, "{e}");
    e.message
}

/// The finished video downloaded to `dir`, with ffprobe's view of it.
async fn finished(
    tasks: &mut UserTasks,
    task_id: i64,
    dir: &Path,
) -> (std::path::PathBuf, serde_json::Value) {
    let path = dir.join(format!("final-{task_id}.mp4"));
    std::fs::write(&path, final_video(tasks, task_id).await).expect("write");
    let probe = ffprobe(&path);
    (path, probe)
}

/// Every frame of `video` at 30 fps, as the mean RGB of a 54x96 thumbnail.
fn frame_colours(video: &Path) -> Vec<[f64; 3]> {
    thumbnails(video)
        .iter()
        .map(|f| {
            let mut sum = [0.0f64; 3];
            for p in f.chunks_exact(3) {
                for c in 0..3 {
                    sum[c] += f64::from(p[c]);
                }
            }
            sum.map(|s| s / (54.0 * 96.0))
        })
        .collect()
}

/// Share of the pixels in the box within 60 of `colour`.
fn share_near(rgb: &[u8], (x0, y0, x1, y1): (usize, usize, usize, usize), colour: [u8; 3]) -> f64 {
    let mut near = 0;
    for y in y0..y1 {
        for x in x0..x1 {
            let p = &rgb[(y * 1080 + x) * 3..(y * 1080 + x) * 3 + 3];
            if p.iter().zip(colour).all(|(a, b)| a.abs_diff(b) <= 60) {
                near += 1;
            }
        }
    }
    near as f64 / ((x1 - x0) * (y1 - y0)) as f64
}

/// The mesh on embedded adapters, or on PostgreSQL, Redis, Kafka and S3
/// (the databases live as long as the returned guards); a logged-in user.
async fn mesh_and_user(
    dir: &Path,
    production: bool,
) -> (scout::mesh::Mesh, String, UserTasks, Vec<TestDatabase>) {
    let mut config = embedded_config(dir);
    config.edge.rate_limits.default.limit = 100_000;
    config.edge.request_timeout = Duration::from_secs(60);
    let dbs = if production {
        on_production_adapters(&mut config)
    } else {
        Vec::new()
    };
    let mesh = mesh_without_vision(config).await;
    let base = mesh.edge_url();
    let me = login(&base, dir).await;
    let tasks = TasksServiceClient::new(authed_channel(&base, &me.access));
    (mesh, me.access, tasks, dbs)
}

#[tokio::test]
async fn a_music_video_cuts_on_the_beats_of_its_track_and_loops_it_without_a_gap() {
    music_video(false).await;
}

#[tokio::test]
async fn a_music_video_on_postgres_redis_kafka_s3() {
    music_video(true).await;
}

async fn music_video(production: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("files");
    let (mesh, token, mut tasks, _dbs) = mesh_and_user(dir.path(), production).await;
    let base = mesh.edge_url();

    // Created through REST as seed-style JSON.
    let (status, env) = rest_call(
        reqwest::Method::POST,
        &format!("{base}/api/v1/tasks"),
        &token,
        Some(serde_json::json!({
            "recipe": "music_video",
            "montage": {"product_name": "夏日色彩", "target_seconds": 12}
        })),
    )
    .await;
    assert_eq!(status, 200, "{env}");
    assert_eq!(env["data"]["recipe"], "music_video", "{env}");
    assert_eq!(env["data"]["shop"]["name"], "夏日色彩");
    let id = env["data"]["id"].as_i64().expect("id");

    // Four solid pictures, one scene each, and a 5 s click track at
    // 44.1 kHz (looped: the video is 12 s).
    let colours = ["red", "lime", "blue", "yellow"];
    for c in colours {
        let png = image(
            files.path(),
            &format!("{c}.png"),
            &format!("color=c={c}:s=600x800"),
        );
        let v = upload_bytes(&mut tasks, id, &format!("{c}.png"), "image/png", png)
            .await
            .expect("image");
        assert_eq!(v.kind, MediaKind::Image as i32);
        assert_eq!((v.width, v.height), (600, 800));
    }
    let track = upload_bytes(
        &mut tasks,
        id,
        "clicks.wav",
        "audio/wav",
        click_track(44_100, 5.0),
    )
    .await
    .expect("track");
    assert_eq!(track.kind, MediaKind::Audio as i32);
    assert!((track.duration_seconds - 5.0).abs() < 0.01);
    // A music video has no analysis.
    let err = tasks
        .start_analysis(StartAnalysisRequest { task_id: id })
        .await
        .expect_err("no analysis");
    assert!(refusal(&err, ErrorCode::FailedPrecondition).contains("no analysis"));

    tasks
        .start_compose(StartComposeRequest {
            task_id: id,
            ..StartComposeRequest::default()
        })
        .await
        .expect("compose");
    wait_status(
        &mut tasks,
        id,
        TaskStatus::Completed,
        Duration::from_secs(240),
    )
    .await;
    let steps = progress_steps(&mut tasks, id).await;
    let names: Vec<&str> = steps.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["节拍检测", "视频合成", "上传成片"]);
    assert!(steps.iter().all(|(_, s)| *s == StepState::Completed as i32));

    let (video, probe) = finished(&mut tasks, id, files.path()).await;
    let v = probe["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .find(|s| s["codec_type"] == "video")
        .expect("video stream");
    assert_eq!(
        (v["width"].as_i64(), v["height"].as_i64()),
        (Some(1080), Some(1920))
    );
    assert_eq!(v["codec_name"], "h264");
    let seconds: f64 = probe["format"]["duration"]
        .as_str()
        .expect("duration")
        .parse()
        .expect("f64");
    assert!((seconds - 12.0).abs() < 0.1, "{seconds} s");

    // The cuts: where the picture's colour changes. Every one lies within
    // 50 ms of a click (the frame grid is 33 ms); the four pictures show in
    // order.
    let frames = frame_colours(&video);
    let dominant = |c: &[f64; 3]| {
        let targets = [
            [255.0, 0.0, 0.0],
            [0.0, 255.0, 0.0],
            [0.0, 0.0, 255.0],
            [255.0, 255.0, 0.0],
        ];
        (0..4)
            .min_by(|a, b| {
                let d = |t: &[f64; 3]| (0..3).map(|i| (c[i] - t[i]).powi(2)).sum::<f64>();
                d(&targets[*a]).total_cmp(&d(&targets[*b]))
            })
            .expect("a colour")
    };
    let shown: Vec<usize> = frames.iter().map(dominant).collect();
    let mut cuts = Vec::new();
    let mut order = vec![shown[0]];
    for i in 1..shown.len() {
        if shown[i] != shown[i - 1] {
            cuts.push(i as f64 / 30.0);
            order.push(shown[i]);
        }
    }
    assert_eq!(order, [0, 1, 2, 3], "scenes shown: {order:?}");
    assert_eq!(cuts.len(), 3, "cuts at {cuts:?}");
    for c in &cuts {
        let k = ((c - FIRST_CLICK) / CLICK_PERIOD).round();
        let click = FIRST_CLICK + k * CLICK_PERIOD;
        assert!(
            (c - click).abs() <= 0.050,
            "cut at {c:.3} s is {:.0} ms from the click at {click} s",
            (c - click).abs() * 1000.0
        );
    }

    // The track plays throughout, looped at 5 s and 10 s without a gap:
    // no 10 ms window between the fades is near silence (the hum alone is
    // about -20 dBFS).
    let audio = audio_samples(&video);
    let window = 480;
    let (from, to) = (
        48_000 * 6 / 10 / window,
        (audio.len() - 48_000 * 6 / 10) / window,
    );
    let quietest = (from..to)
        .map(|w| {
            let s = &audio[w * window..(w + 1) * window];
            (s.iter().map(|v| v * v).sum::<f32>() / window as f32).sqrt()
        })
        .fold(f32::MAX, f32::min);
    assert!(quietest > 0.05, "a 10 ms window's RMS falls to {quietest}");
    // And the clicks come on, loop after loop: the loudest 10 ms of each
    // half second is a click, 0.25 s into it.
    for half in 2..22 {
        let at = (half as f64 * 0.5 + FIRST_CLICK) * 48_000.0;
        let peak = |from: f64| -> f32 {
            audio[from as usize..(from as usize + 480)]
                .iter()
                .fold(0.0f32, |m, v| m.max(v.abs()))
        };
        assert!(
            peak(at) > 2.0 * peak(at - 0.2 * 48_000.0),
            "no click at {} s",
            at / 48_000.0
        );
    }

    // The editable draft is there for fine-tuning by hand.
    let draft = tasks
        .get_editable_draft(GetEditableDraftRequest {
            task_id: id,
            ..Default::default()
        })
        .await
        .expect("draft")
        .into_inner();
    assert!(!draft.url.is_empty());
    mesh.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn an_ad_creative_turns_photos_upright_ends_on_its_card_and_refuses_bad_media() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("files");
    let (mesh, _token, mut tasks, _dbs) = mesh_and_user(dir.path(), false).await;

    // Its words are checked by name; the recipes not built yet say so.
    let ad = |m: MontageInput| CreateTaskRequest {
        recipe: Recipe::AdCreative as i32,
        montage: Some(m),
        ..CreateTaskRequest::default()
    };
    let err = tasks
        .create_task(ad(MontageInput::default()))
        .await
        .expect_err("no product");
    assert_eq!(
        refusal(&err, ErrorCode::InvalidArgument),
        "montage.product_name: required"
    );
    let err = tasks
        .create_task(ad(MontageInput {
            product_name: "冷萃乌龙".into(),
            target_seconds: 300.0,
            ..MontageInput::default()
        }))
        .await
        .expect_err("too long");
    assert!(refusal(&err, ErrorCode::InvalidArgument).starts_with("montage.target_seconds"));
    let err = tasks
        .create_task(CreateTaskRequest {
            recipe: Recipe::TopicShort as i32,
            ..CreateTaskRequest::default()
        })
        .await
        .expect_err("no topic");
    assert_eq!(
        refusal(&err, ErrorCode::InvalidArgument),
        "topic.topic: required"
    );
    let task = tasks
        .create_task(ad(MontageInput {
            product_name: "冷萃乌龙".into(),
            call_to_action: "立即购买".into(),
            tagline: "一口回甘".into(),
            target_seconds: 10.0,
            animate: false,
            lip_sync: false,
        }))
        .await
        .expect("create")
        .into_inner()
        .task
        .expect("task");
    assert_eq!(task.recipe, Recipe::AdCreative as i32);
    assert_eq!(
        task.montage.as_ref().map(|m| m.call_to_action.as_str()),
        Some("立即购买")
    );
    let id = task.id;

    // Bad media: the wrong type, too large, not an image, a track too long.
    let err = tasks
        .create_video_upload_url(CreateVideoUploadUrlRequest {
            task_id: id,
            filename: "a.mp4".into(),
            file_size: 1000,
            content_type: "video/mp4".into(),
        })
        .await
        .expect_err("a video");
    assert!(refusal(&err, ErrorCode::UnsupportedMediaType).contains("image/png"));
    let err = tasks
        .create_video_upload_url(CreateVideoUploadUrlRequest {
            task_id: id,
            filename: "big.jpg".into(),
            file_size: 11 * 1024 * 1024,
            content_type: "image/jpeg".into(),
        })
        .await
        .expect_err("too big");
    assert!(refusal(&err, ErrorCode::InvalidArgument).contains("at most 10 MB"));
    let err = upload_bytes(
        &mut tasks,
        id,
        "fake.png",
        "image/png",
        b"not a picture at all".repeat(100),
    )
    .await
    .expect_err("not an image");
    let e = ApiError::from_status(&err);
    assert_eq!(e.code, ErrorCode::InvalidMedia, "{e}");
    let long = wav_pcm(8000, &vec![0.1; 8000 * 601]);
    let err = upload_bytes(&mut tasks, id, "long.wav", "audio/wav", long)
        .await
        .expect_err("too long");
    let message = refusal(&err, ErrorCode::InvalidMedia);
    assert!(
        message.contains("601.0 s") && message.contains("10 min"),
        "{message}"
    );
    let listed = uploads_of(&mut tasks, id).await;
    assert!(
        listed.is_empty(),
        "refused uploads are not kept: {listed:?}"
    );
    assert!(
        !walk(&dir.path().join("blobs"))
            .iter()
            .any(|p| p.contains(&format!("/{id}/"))),
        "refused uploads are deleted from storage"
    );

    // A phone photo stored sideways (EXIF 6: turn 90° clockwise): 600x400
    // as stored, red left and blue right; upright it is 400x600, red on top.
    let sideways = image(
        files.path(),
        "sideways.jpg",
        "color=c=red:s=300x400[a];color=c=blue:s=300x400[b];[a][b]hstack",
    );
    let photo = upload_bytes(
        &mut tasks,
        id,
        "photo.jpg",
        "image/jpeg",
        with_exif(&sideways, 6),
    )
    .await
    .expect("photo");
    assert_eq!((photo.width, photo.height), (400, 600));
    upload_bytes(
        &mut tasks,
        id,
        "green.webp",
        "image/webp",
        image(files.path(), "green.webp", "color=c=lime:s=500x500"),
    )
    .await
    .expect("webp");
    // No track yet: composing says what is missing and changes nothing.
    let err = compose(&mut tasks, id).await.expect_err("no track");
    assert!(refusal(&err, ErrorCode::FailedPrecondition).contains("backing track"));
    // A first track, then the one wanted: the second replaces the first.
    upload_bytes(
        &mut tasks,
        id,
        "first.wav",
        "audio/wav",
        click_track(48_000, 2.0),
    )
    .await
    .expect("track");
    upload_bytes(
        &mut tasks,
        id,
        "clicks.wav",
        "audio/wav",
        click_track(48_000, 4.0),
    )
    .await
    .expect("track");
    let listed = uploads_of(&mut tasks, id).await;
    let tracks: Vec<&str> = listed
        .iter()
        .filter(|v| v.kind == MediaKind::Audio as i32)
        .map(|v| v.original_filename.as_str())
        .collect();
    assert_eq!(tracks, ["clicks.wav"]);

    compose(&mut tasks, id).await.expect("compose");
    wait_status(
        &mut tasks,
        id,
        TaskStatus::Completed,
        Duration::from_secs(240),
    )
    .await;
    let output = tasks
        .get_output(GetOutputRequest { task_id: id })
        .await
        .expect("output")
        .into_inner();
    let out = output.video.expect("video");
    assert!(
        (out.duration_seconds - 10.0).abs() < 0.1,
        "{}",
        out.duration_seconds
    );
    assert!(out.ai_generated.is_empty(), "nothing in it is machine-made");
    let ass = reqwest::get(&output.subtitle_url)
        .await
        .expect("ass")
        .text()
        .await
        .expect("text");
    assert!(ass.contains("一口回甘"), "the tagline is the caption");
    let (video, _) = finished(&mut tasks, id, files.path()).await;

    // The photo upright: fitted to the width, red over blue (left side,
    // clear of the caption).
    let first = rgb_at(&video, 0.8);
    assert!(
        share_near(&first, (100, 300, 400, 800), [255, 0, 0]) > 0.8,
        "red on top"
    );
    assert!(
        share_near(&first, (100, 1000, 400, 1300), [0, 0, 255]) > 0.8,
        "blue below"
    );
    // The end card: the last 3 s are the card's box (black by default)
    // with the product's name, over the held last scene.
    let card = rgb_at(&video, 9.0);
    assert!(
        share_near(&card, (0, 0, 1080, 400), [0, 0, 0]) > 0.9,
        "the card covers the frame"
    );
    let before = rgb_at(&video, 6.0);
    assert!(
        share_near(&before, (0, 0, 1080, 400), [0, 0, 0]) < 0.5,
        "no card before its time"
    );
    mesh.shutdown().await.expect("shutdown");
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p.display().to_string());
            }
        }
    }
    out
}
