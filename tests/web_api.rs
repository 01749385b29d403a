//! What the web app needs from the API beyond the seed's routes, through
//! the edge on embedded defaults: the voice catalogue and a sample to listen
//! to, subtitle styles shown on the user's own clip, clip order, the speaking
//! rate estimates use, and where a local install writes login codes.

mod support;

use scout::mesh::Mesh;
use scout_proto::scout::tasks::v1::tasks_service_client::TasksServiceClient;
use scout_proto::scout::tasks::v1::{ListVideosRequest, ReorderVideosRequest};
use support::*;

async fn mesh(dir: &std::path::Path) -> Mesh {
    Mesh::start(embedded_config(dir))
        .await
        .expect("mesh starts")
}

async fn fetch(url: &str) -> (u16, Option<String>, Vec<u8>) {
    let resp = reqwest::get(url).await.expect("GET");
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (status, ct, resp.bytes().await.expect("body").to_vec())
}

#[tokio::test]
async fn voices_are_listed_and_can_be_listened_to() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mesh = mesh(dir.path()).await;
    let base = mesh.edge_url();
    let me = login(&base, dir.path()).await;

    let list = get_json(&format!("{base}/api/v1/voices"), &me.access).await;
    let voices = list["data"]["voices"].as_array().expect("voices");
    assert!(voices.len() >= 4, "{list}");
    assert_eq!(voices[0]["id"], "xiaomei", "the default first: {list}");
    for v in voices {
        assert!(v["name"].as_str().is_some_and(|n| !n.is_empty()), "{v}");
        assert!(v["name_en"].as_str().is_some_and(|n| !n.is_empty()), "{v}");
        assert!(
            matches!(v["gender"].as_str(), Some("female" | "male")),
            "{v}"
        );
    }

    // A sample to listen to: a real WAV of the stated length, made once.
    let preview = get_json(
        &format!("{base}/api/v1/voices/xiaoshuai/preview?speed=1.2"),
        &me.access,
    )
    .await;
    let url = preview["data"]["audio_url"]
        .as_str()
        .expect("url")
        .to_string();
    let seconds = preview["data"]["duration_seconds"]
        .as_f64()
        .expect("duration");
    assert!(seconds > 1.0, "{preview}");
    let (status, ct, wav) = fetch(&url).await;
    assert_eq!(status, 200);
    assert_eq!(ct.as_deref(), Some("audio/wav"));
    assert_eq!(&wav[..4], b"RIFF");
    let measured = (wav.len() - 44) as f64 / 96_000.0;
    assert!((measured - seconds).abs() < 0.05, "{measured} vs {seconds}");
    let again = get_json(
        &format!("{base}/api/v1/voices/xiaoshuai/preview?speed=1.2"),
        &me.access,
    )
    .await;
    assert!(
        (again["data"]["duration_seconds"]
            .as_f64()
            .expect("duration")
            - seconds)
            .abs()
            < 0.05,
        "the kept sample is answered again: {again}"
    );

    // Bad requests name what is wrong.
    let bad = get_json(&format!("{base}/api/v1/voices/nobody/preview"), &me.access).await;
    assert_eq!(bad["code"], 40201, "{bad}");
    assert!(
        bad["message"]
            .as_str()
            .is_some_and(|m| m.contains("xiaomei")),
        "lists the voices: {bad}"
    );
    let fast = get_json(
        &format!("{base}/api/v1/voices/xiaomei/preview?speed=3"),
        &me.access,
    )
    .await;
    assert_eq!(fast["code"], 40201, "{fast}");
    // Without a token: refused like every user RPC.
    let anon: serde_json::Value = reqwest::get(format!("{base}/api/v1/voices"))
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(anon["code"], 40004, "{anon}");
    mesh.shutdown().await.expect("stops");
}

#[tokio::test]
async fn subtitle_styles_are_shown_on_the_users_own_clip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mesh = mesh(dir.path()).await;
    let base = mesh.edge_url();
    let me = login(&base, dir.path()).await;
    let mut tasks = TasksServiceClient::new(authed_channel(&base, &me.access));

    // No clip yet: nothing to draw on, said plainly.
    let empty = create_task(&mut tasks, "海底捞火锅(望京店)").await;
    let none = get_json(
        &format!("{base}/api/v1/tasks/{}/subtitle-previews", empty.id),
        &me.access,
    )
    .await;
    assert_eq!(none["code"], 40303, "{none}");
    assert!(
        none["message"]
            .as_str()
            .is_some_and(|m| m.contains("upload a clip")),
        "{none}"
    );

    let files = tempfile::tempdir().expect("files");
    let (task, _) = task_with_clips(&mut tasks, files.path(), "海底捞火锅(望京店)", &[3.0]).await;
    let previews = get_json(
        &format!("{base}/api/v1/tasks/{task}/subtitle-previews"),
        &me.access,
    )
    .await;
    let list = previews["data"]["previews"].as_array().expect("previews");
    let styles: Vec<&str> = list.iter().filter_map(|p| p["style"].as_str()).collect();
    assert_eq!(
        styles,
        [
            "simple_white",
            "vibrant_yellow",
            "xiaohongshu",
            "douyin_hot",
            "neon",
            "karaoke"
        ],
        "{previews}"
    );
    let mut images = Vec::new();
    for p in list {
        let (status, ct, jpeg) = fetch(p["image_url"].as_str().expect("url")).await;
        assert_eq!(status, 200);
        assert_eq!(ct.as_deref(), Some("image/jpeg"));
        assert_eq!(&jpeg[..2], &[0xff, 0xd8], "a JPEG");
        let img = image::load_from_memory(&jpeg).expect("decodes");
        assert_eq!(
            (img.width(), img.height()),
            (540, 960),
            "the output's shape, scaled"
        );
        images.push(img.to_luma8());
    }
    // Each style draws the caption differently on the same frame.
    for (i, a) in images.iter().enumerate() {
        for b in &images[i + 1..] {
            let differ = a
                .pixels()
                .zip(b.pixels())
                .filter(|(x, y)| x.0 != y.0)
                .count();
            assert!(
                differ > 500,
                "two styles look the same ({differ} pixels differ)"
            );
        }
    }
    // Asked again, the kept images are answered at once.
    let again = get_json(
        &format!("{base}/api/v1/tasks/{task}/subtitle-previews"),
        &me.access,
    )
    .await;
    assert_eq!(again["data"]["previews"].as_array().map(Vec::len), Some(6));

    // Another user's task does not exist for this one.
    let other = login(&base, dir.path()).await;
    let theirs = get_json(
        &format!("{base}/api/v1/tasks/{task}/subtitle-previews"),
        &other.access,
    )
    .await;
    assert_eq!(theirs["code"], 40301, "{theirs}");
    mesh.shutdown().await.expect("stops");
}

#[tokio::test]
async fn clips_can_be_reordered_while_they_may_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mesh = mesh(dir.path()).await;
    let base = mesh.edge_url();
    let me = login(&base, dir.path()).await;
    let mut tasks = TasksServiceClient::new(authed_channel(&base, &me.access));
    let files = tempfile::tempdir().expect("files");
    let (task, ids) = task_with_clips(
        &mut tasks,
        files.path(),
        "海底捞火锅(望京店)",
        &[3.0, 3.0, 3.0],
    )
    .await;

    let order = vec![ids[2], ids[0], ids[1]];
    let reordered = tasks
        .reorder_videos(ReorderVideosRequest {
            task_id: task,
            video_ids: order.clone(),
        })
        .await
        .expect("reorder")
        .into_inner();
    let got: Vec<i64> = reordered.items.iter().map(|v| v.id).collect();
    assert_eq!(got, order);
    let listed: Vec<i64> = tasks
        .list_videos(ListVideosRequest { task_id: task })
        .await
        .expect("list")
        .into_inner()
        .items
        .iter()
        .map(|v| v.id)
        .collect();
    assert_eq!(listed, order, "the order is kept");

    // Not every clip, or one twice: refused naming the field, nothing moves.
    for bad in [
        vec![ids[0], ids[1]],
        vec![ids[0], ids[0], ids[1]],
        vec![ids[0], ids[1], 999_999],
    ] {
        let err = tasks
            .reorder_videos(ReorderVideosRequest {
                task_id: task,
                video_ids: bad,
            })
            .await
            .expect_err("refused");
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(err.message().starts_with("video_ids:"), "{}", err.message());
    }
    // Over REST, with the seed's envelope.
    let resp: serde_json::Value = reqwest::Client::new()
        .put(format!("{base}/api/v1/tasks/{task}/videos/order"))
        .bearer_auth(&me.access)
        .json(&serde_json::json!({ "video_ids": ids }))
        .send()
        .await
        .expect("PUT")
        .json()
        .await
        .expect("json");
    assert_eq!(resp["code"], 0, "{resp}");
    mesh.shutdown().await.expect("stops");
}

#[tokio::test]
async fn the_login_page_learns_where_a_local_code_went_and_scripts_their_rate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mesh = mesh(dir.path()).await;
    let base = mesh.edge_url();
    let sent: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/send-code"))
        .json(&serde_json::json!({ "phone": random_phone() }))
        .send()
        .await
        .expect("send-code")
        .json()
        .await
        .expect("json");
    let hint = sent["data"]["hint"].as_str().expect("hint");
    assert!(hint.ends_with("sms-outbox.log"), "{sent}");
    assert_eq!(
        std::path::Path::new(hint),
        dir.path().join("sms-outbox.log"),
        "{sent}"
    );
    mesh.shutdown().await.expect("stops");
}
