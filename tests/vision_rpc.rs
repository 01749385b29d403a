//! VisionService's internal RPCs, as another service calls them with the
//! mesh credential: AnalyzeClip measures a stored clip frame by frame
//! (faces counted by the detector) and aggregates it; WriteScript writes
//! over the shots it is given and never points at another. Bad requests
//! name the field; a missing clip is a clear error; without the mesh
//! credential nothing is answered.

mod support;

use scout::mesh::Mesh;
use scout_proto::scout::common::v1::{ShopInfo, ShotCategory};
use scout_proto::scout::vision::v1::vision_service_client::VisionServiceClient;
use scout_proto::scout::vision::v1::{AnalyzeClipRequest, ShotSummary, WriteScriptRequest};
use support::*;

#[tokio::test]
async fn analyze_clip_and_write_script_over_grpc() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("files");
    let mesh = Mesh::start(embedded_config(dir.path()))
        .await
        .expect("mesh");
    let ctx = mesh.context().clone();
    let file = clip(files.path(), "c.mp4", 4.0);
    ctx.adapters
        .blobs
        .put_file("videos/1/1/c.mp4", &file, Some("video/mp4"))
        .await
        .expect("put");
    let mut vision = VisionServiceClient::new(
        ctx.auth.internal_channel(
            scout_common::grpc::channel(&mesh.service_url(scout_common::ServiceName::Vision))
                .expect("channel"),
        ),
    );

    let a = vision
        .analyze_clip(AnalyzeClipRequest {
            task_id: 1,
            video_id: 7,
            oss_key: "videos/1/1/c.mp4".into(),
        })
        .await
        .expect("analyse")
        .into_inner();
    assert_eq!(a.provider, "local");
    // One frame every 2 s of a 4 s clip, each measured and stored.
    assert_eq!(a.frames.len(), 2, "{:?}", a.frames);
    assert_eq!(a.frame_keys.len(), 2);
    assert!(a.frame_keys.iter().all(|k| k.starts_with("frames/1/7/")));
    for f in &a.frames {
        let q = f.quality_factors.expect("factors");
        for x in [
            q.clarity,
            q.composition,
            q.lighting,
            q.stability,
            f.quality_score,
        ] {
            assert!((0..=100).contains(&x), "{f:?}");
        }
        // A test card has no face in it.
        assert_eq!(f.faces, 0);
    }
    assert!(a.category != 0 && !a.tags.is_empty() && a.tags.len() <= 5);
    assert!(!a.description.is_empty());

    let shots: Vec<ShotSummary> = [(7, ShotCategory::Food), (8, ShotCategory::Environment)]
        .into_iter()
        .map(|(id, c)| ShotSummary {
            id,
            category: c as i32,
            tags: vec!["美食".into()],
            description: "一锅红油".into(),
            quality_score: 80,
            is_recommended: true,
            duration_seconds: 4.0,
        })
        .collect();
    let w = vision
        .write_script(WriteScriptRequest {
            shop: Some(ShopInfo {
                name: "海底捞火锅(望京店)".into(),
                r#type: 1,
                promotion_text: "人均89，招牌毛肚七上八下".into(),
                style: 2,
            }),
            shots: shots.clone(),
            chars_per_second: 0.0,
            seed: 3,
            // A slow voice (espeak-ng's Mandarin): the script is sized for it.
            speech_rate: Some(scout_proto::scout::common::v1::SpeechRate {
                cjk_chars_per_second: 2.6,
                words_per_second: 2.0,
                paragraph_seconds: 1.3,
                provider: "espeak-ng".into(),
            }),
        })
        .await
        .expect("write")
        .into_inner();
    assert_eq!(w.provider, "template");
    assert!((5..=7).contains(&w.paragraphs.len()));
    assert!(
        w.paragraphs
            .iter()
            .all(|p| p.shot_id == 7 || p.shot_id == 8)
    );
    assert!(
        w.paragraphs
            .iter()
            .any(|p| p.text.contains("人均89，招牌毛肚七上八下"))
    );
    let sum: f64 = w.paragraphs.iter().map(|p| p.estimated_duration).sum();
    assert!((w.total_duration - sum).abs() < 1e-6);
    assert!((sum - 60.0).abs() <= 3.5, "sized to about a minute: {sum}");

    // Bad requests name the field; a missing clip says so.
    let e = vision
        .analyze_clip(AnalyzeClipRequest {
            task_id: 1,
            video_id: 7,
            oss_key: String::new(),
        })
        .await
        .expect_err("no key");
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(e.message().contains("oss_key"), "{}", e.message());
    let e = vision
        .write_script(WriteScriptRequest {
            shop: Some(ShopInfo {
                name: "店".into(),
                ..Default::default()
            }),
            shots: vec![],
            ..Default::default()
        })
        .await
        .expect_err("no shots");
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(e.message().contains("shots"), "{}", e.message());
    let e = vision
        .analyze_clip(AnalyzeClipRequest {
            task_id: 1,
            video_id: 9,
            oss_key: "videos/1/1/missing.mp4".into(),
        })
        .await
        .expect_err("missing clip");
    assert!(
        matches!(
            e.code(),
            tonic::Code::FailedPrecondition | tonic::Code::Unavailable
        ),
        "{e:?}"
    );
    assert!(e.message().contains("clip 9"), "{}", e.message());

    // Without the mesh credential: nothing.
    let mut outsider = VisionServiceClient::new(
        scout_common::grpc::channel(&mesh.service_url(scout_common::ServiceName::Vision))
            .expect("channel"),
    );
    let e = outsider
        .write_script(WriteScriptRequest::default())
        .await
        .expect_err("no credential");
    assert_eq!(e.code(), tonic::Code::Unauthenticated, "{e:?}");
    mesh.shutdown().await.expect("shutdown");
}
