//! The render service over gRPC: media by blob key in, results by blob key out.

mod support;

use std::sync::Arc;
use std::time::Duration;

use scout_common::adapters::Adapters;
use scout_common::adapters::blob::BlobStore;
use scout_common::config::Config;
use scout_common::service::Shared;
use scout_common::shutdown::Shutdown;
use scout_proto::scout::render::v1::render_service_client::RenderServiceClient;
use scout_proto::scout::render::v1::{
    ComposeRequest, ExtractFramesRequest, MediaRef, ProbeRequest, SynthesizeRequest, VoiceSpec,
    compose_response::Event, media_ref::Location,
};
use scout_render::compose::narration::{self, Paragraph};
use support::*;
use tonic::Code;

struct Node {
    client: RenderServiceClient<scout_common::auth::InternalChannel>,
    blobs: Arc<dyn BlobStore>,
    shutdown: Shutdown,
    _dir: tempfile::TempDir,
}

async fn start() -> Node {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    config.blobs.dir = dir.path().join("blobs");
    config.media.work_dir = dir.path().join("work");
    let adapters = Adapters::from_config(&config).await.expect("adapters");
    let blobs = adapters.blobs.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let shutdown = Shutdown::new();
    let shared = Shared::with_adapters(&config, adapters).expect("shared");
    let ctx = shared.context::<scout_render::Settings>(&config);
    let auth = ctx.auth.clone();
    tokio::spawn(scout_render::serve(ctx, listener, shutdown.clone()));
    scout_common::grpc::wait_serving(&url, Duration::from_secs(30))
        .await
        .expect("serving");
    let client = RenderServiceClient::new(
        auth.internal_channel(scout_common::grpc::channel(&url).expect("channel")),
    );
    Node {
        client,
        blobs,
        shutdown,
        _dir: dir,
    }
}

fn key(k: &str) -> Option<MediaRef> {
    Some(MediaRef {
        location: Some(Location::BlobKey(k.into())),
    })
}

#[tokio::test]
async fn probe_frames_speech_and_compose_by_blob_key() {
    let mut node = start().await;
    node.blobs
        .put_file("videos/1/9/a.mp4", &portrait(4), Some("video/mp4"))
        .await
        .expect("put");
    node.blobs
        .put_file("videos/1/9/b.mp4", &hevc10_rotated(), Some("video/mp4"))
        .await
        .expect("put");

    let info = node
        .client
        .probe(ProbeRequest {
            media: key("videos/1/9/b.mp4"),
            thumbnail_key: "videos/1/9/b_thumb.jpg".into(),
        })
        .await
        .expect("probe")
        .into_inner();
    assert_eq!(info.thumbnail_key, "videos/1/9/b_thumb.jpg");
    let thumb = node
        .blobs
        .get("videos/1/9/b_thumb.jpg")
        .await
        .expect("thumbnail written");
    assert_eq!(&thumb[..3], &[0xff, 0xd8, 0xff], "a JPEG");
    let info = info.info.expect("info");
    assert_eq!(
        (info.display_width, info.display_height, info.bit_depth),
        (720, 1280, 10)
    );

    let frames = node
        .client
        .extract_frames(ExtractFramesRequest {
            media: key("videos/1/9/a.mp4"),
            every_seconds: 2.0,
            output_prefix: "frames/9/1/".into(),
            thumbnail_key: "videos/1/9/a_thumb.jpg".into(),
            max_dimension: 0,
        })
        .await
        .expect("frames")
        .into_inner();
    let keys: Vec<&str> = frames.frames.iter().map(|f| f.key.as_str()).collect();
    assert_eq!(
        keys,
        vec!["frames/9/1/frame_1.jpg", "frames/9/1/frame_2.jpg"]
    );
    for k in keys.iter().chain([&"videos/1/9/a_thumb.jpg"]) {
        assert!(
            node.blobs
                .head(k)
                .await
                .expect("head")
                .is_some_and(|m| m.size > 1000),
            "{k} missing"
        );
    }

    let speech = node
        .client
        .synthesize(SynthesizeRequest {
            text: "家人们，今天探店海底捞！".into(),
            voice: Some(VoiceSpec::default()),
            output_key: "audio/9/tts_para_1.wav".into(),
        })
        .await
        .expect("speech")
        .into_inner();
    assert_eq!(
        (speech.sample_rate, speech.provider.as_str()),
        (48_000, "espeak-ng")
    );
    let wav = node.blobs.get("audio/9/tts_para_1.wav").await.expect("wav");
    assert_eq!(
        ((wav.len() - 44) / 2) as f64 / 48_000.0,
        speech.duration_seconds,
        "stored audio is the measured duration"
    );

    let timeline = narration::timeline(
        &[Paragraph {
            id: "para_1".into(),
            clip: key("videos/1/9/b.mp4").expect("ref"),
            voice: key("audio/9/tts_para_1.wav").expect("ref"),
            voice_seconds: speech.duration_seconds,
            text: "家人们，今天探店海底捞！".into(),
            words: Vec::new(),
            fit: Default::default(),
            focus: Vec::new(),
            scene: None,
            still: false,
        }],
        Some(scout_proto::scout::common::v1::SubtitleStyle::Xiaohongshu),
        None,
        None,
    );
    let mut stream = node
        .client
        .compose(ComposeRequest {
            job_id: "j1".into(),
            timeline: Some(timeline),
            output_prefix: "output/9/".into(),
        })
        .await
        .expect("compose")
        .into_inner();
    let mut result = None;
    let mut ticks = 0;
    while let Some(msg) = stream.message().await.expect("stream") {
        match msg.event {
            Some(Event::Progress(_)) => ticks += 1,
            Some(Event::Result(r)) => result = Some(r),
            None => {}
        }
    }
    let result = result.expect("result");
    assert!(ticks > 0);
    assert!((result.duration_seconds - (speech.duration_seconds + 0.5)).abs() <= 0.1);
    assert_eq!(
        (result.width, result.height, result.encoder.as_str()),
        (1080, 1920, "libx264")
    );
    for k in [
        &result.video_key,
        &result.subtitle_key,
        &result.cover_key,
        &result.assets_key,
    ] {
        assert!(
            node.blobs.head(k).await.expect("head").is_some(),
            "{k} missing"
        );
    }
    node.shutdown.trigger();
}

#[tokio::test]
async fn bad_requests_get_clear_errors() {
    let mut node = start().await;
    let local = Some(MediaRef {
        location: Some(Location::LocalPath("/etc/passwd".into())),
    });
    let s = node
        .client
        .probe(ProbeRequest {
            media: local,
            thumbnail_key: String::new(),
        })
        .await
        .expect_err("local paths are CLI-only");
    assert_eq!(s.code(), Code::InvalidArgument);
    assert!(s.message().contains("operator CLI"), "{}", s.message());

    let s = node
        .client
        .probe(ProbeRequest {
            media: key("videos/1/1/none.mp4"),
            thumbnail_key: String::new(),
        })
        .await
        .expect_err("missing");
    assert_eq!(s.code(), Code::InvalidArgument);
    assert!(
        s.message().contains("videos/1/1/none.mp4"),
        "{}",
        s.message()
    );

    let s = node
        .client
        .probe(ProbeRequest {
            media: None,
            thumbnail_key: String::new(),
        })
        .await
        .expect_err("no media");
    assert_eq!(s.code(), Code::InvalidArgument);

    node.blobs
        .put_file("videos/1/1/bad.mp4", &not_media(), None)
        .await
        .expect("put");
    let s = node
        .client
        .probe(ProbeRequest {
            media: key("videos/1/1/bad.mp4"),
            thumbnail_key: String::new(),
        })
        .await
        .expect_err("not media");
    assert_eq!(s.code(), Code::InvalidArgument);
    assert!(
        s.message()
            .starts_with("videos/1/1/bad.mp4: not a media file"),
        "{}",
        s.message()
    );

    let s = node
        .client
        .extract_frames(ExtractFramesRequest {
            media: key("videos/1/1/bad.mp4"),
            output_prefix: String::new(),
            ..Default::default()
        })
        .await
        .expect_err("no prefix");
    assert!(s.message().contains("output_prefix"), "{}", s.message());

    let s = node
        .client
        .synthesize(SynthesizeRequest {
            text: "  ".into(),
            voice: None,
            output_key: "audio/1/x.wav".into(),
        })
        .await
        .expect_err("empty text");
    assert_eq!(s.code(), Code::InvalidArgument);

    let s = node
        .client
        .compose(ComposeRequest {
            job_id: "j".into(),
            timeline: None,
            output_prefix: "output/1/".into(),
        })
        .await
        .expect_err("no timeline");
    assert_eq!(s.code(), Code::InvalidArgument);
    assert!(node.blobs.list("output/").await.expect("list").is_empty());
    node.shutdown.trigger();
}
