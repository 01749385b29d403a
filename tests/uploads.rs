//! Clip uploads through the edge: a presigned PUT made with plain `curl -T`,
//! the confirm that probes the clip through render and stores its metadata
//! and thumbnail, the task moving CREATED → UPLOADING, and every limit
//! (type, size, count, length) refused naming itself with the object
//! deleted. Runs on the embedded adapters and on PostgreSQL, Redis and S3.

mod support;

use scout::mesh::Mesh;
use scout_common::testing::{self, TestDatabase};
use scout_common::{ApiError, ErrorCode};
use scout_proto::scout::tasks::v1::tasks_service_client::TasksServiceClient;
use scout_proto::scout::tasks::v1::{
    ConfirmVideoRequest, CreateTaskRequest, CreateVideoUploadUrlRequest, DeleteVideoRequest,
    GetTaskRequest, ListVideosRequest, StartAnalysisRequest, TaskStatus, VideoStatus,
};
use support::*;

type Tasks = TasksServiceClient<AuthedChannel>;

async fn confirm(
    tasks: &mut Tasks,
    task_id: i64,
    key: &str,
) -> Result<scout_proto::scout::tasks::v1::Video, ApiError> {
    tasks
        .confirm_video(ConfirmVideoRequest {
            task_id,
            oss_key: key.into(),
            original_filename: "IMG_0001.MOV".into(),
        })
        .await
        .map(|r| r.into_inner().video.expect("video"))
        .map_err(|s| ApiError::from_status(&s))
}

async fn uploads(production: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let clips = tempfile::tempdir().expect("clips");
    let mut config = embedded_config(dir.path());
    config.edge.rate_limits.default.limit = 10_000;
    let mut _db: Option<TestDatabase> = None;
    if production {
        let db = testing::postgres_database();
        config.tasks.database_url = db.url.clone();
        _db = Some(db);
        config.cache = testing::redis_config();
        config.blobs = testing::s3_config();
    }
    let mesh = Mesh::start(config).await.expect("mesh");
    let base = mesh.edge_url();
    let blobs = mesh.context().adapters.blobs.clone();
    let a = login(&base, dir.path()).await;
    let b = login(&base, dir.path()).await;
    let mut ta: Tasks = TasksServiceClient::new(authed_channel(&base, &a.access));
    let mut tb: Tasks = TasksServiceClient::new(authed_channel(&base, &b.access));
    let task = ta
        .create_task(CreateTaskRequest {
            shop_name: "海底捞火锅(望京店)".into(),
            shop_type: 1,
            promotion_text: String::new(),
            video_style: 1,
            ..CreateTaskRequest::default()
        })
        .await
        .expect("task")
        .into_inner()
        .task
        .expect("task");

    // Two clips with curl -T, confirmed and probed.
    let one = clip(clips.path(), "one.mp4", 3.0);
    let two = clip(clips.path(), "two.mp4", 2.0);
    let k1 = curl_upload(&mut ta, task.id, &one, "video/mp4").await;
    assert!(
        k1.starts_with(&format!("videos/{}/{}/", a.user_id, task.id)),
        "{k1}"
    );
    assert!(k1.ends_with(".mp4"));
    let v1 = confirm(&mut ta, task.id, &k1).await.expect("confirm one");
    assert_eq!((v1.width, v1.height), (360, 640));
    assert!(
        (v1.duration_seconds - 3.0).abs() < 0.2,
        "{}",
        v1.duration_seconds
    );
    assert_eq!(
        v1.file_size,
        std::fs::metadata(&one).expect("f").len() as i64
    );
    assert_eq!(v1.status, VideoStatus::Uploaded as i32);
    assert_eq!(v1.original_filename, "IMG_0001.MOV");
    // The thumbnail is a JPEG a phone can fetch.
    let thumb = reqwest::get(&v1.thumbnail_url).await.expect("thumbnail");
    assert!(thumb.status().is_success(), "{}", thumb.status());
    assert_eq!(
        &thumb.bytes().await.expect("jpeg")[..3],
        &[0xff, 0xd8, 0xff]
    );
    let status = ta
        .get_task(GetTaskRequest { task_id: task.id })
        .await
        .expect("task")
        .into_inner()
        .task
        .expect("task");
    assert_eq!(status.status, TaskStatus::Uploading as i32);
    assert_eq!(status.video_count, 1);
    // Confirming twice is idempotent.
    assert_eq!(
        confirm(&mut ta, task.id, &k1).await.expect("again").id,
        v1.id
    );
    let k2 = curl_upload(&mut ta, task.id, &two, "video/mp4").await;
    let v2 = confirm(&mut ta, task.id, &k2).await.expect("confirm two");
    let listed = ta
        .list_videos(ListVideosRequest { task_id: task.id })
        .await
        .expect("list")
        .into_inner()
        .items;
    assert_eq!(
        listed.iter().map(|v| v.id).collect::<Vec<_>>(),
        vec![v1.id, v2.id]
    );
    assert_eq!((listed[0].sort_order, listed[1].sort_order), (0, 1));

    // B can neither see nor confirm into A's task.
    let err = tb
        .list_videos(ListVideosRequest { task_id: task.id })
        .await
        .expect_err("not b's");
    assert_eq!(err.code(), tonic::Code::NotFound);
    let err = confirm(&mut tb, task.id, &k1).await.expect_err("not b's");
    assert_eq!(err.code, ErrorCode::NotFound);
    let b_task = tb
        .create_task(CreateTaskRequest {
            shop_name: "b".into(),
            shop_type: 4,
            ..Default::default()
        })
        .await
        .expect("b task")
        .into_inner()
        .task
        .expect("task");
    let err = confirm(&mut tb, b_task.id, &k1)
        .await
        .expect_err("a's key in b's task");
    assert_eq!(err.code, ErrorCode::NotFound);

    // Declared limits.
    for (ct, size, field) in [
        ("image/jpeg", 1000, "content_type"),
        ("video/mp4", 600 * 1024 * 1024, "file_size"),
        ("video/mp4", 0, "file_size"),
    ] {
        let err = ta
            .create_video_upload_url(CreateVideoUploadUrlRequest {
                task_id: task.id,
                filename: "x".into(),
                file_size: size,
                content_type: ct.into(),
            })
            .await
            .expect_err(field);
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{field}: {err:?}");
        let e = ApiError::from_status(&err);
        assert_eq!(
            e.metadata.get("field").map(String::as_str),
            Some(field),
            "{e}"
        );
    }
    // Checked limits: too short, not a video; each deleted from storage.
    let short = clip(clips.path(), "short.mp4", 0.5);
    let junk = clips.path().join("junk.mp4");
    std::fs::write(&junk, vec![7u8; 4096]).expect("junk");
    for (file, needle) in [(&short, "1 s to 10 min"), (&junk, "not a readable video")] {
        let key = curl_upload(&mut ta, task.id, file, "video/mp4").await;
        let err = confirm(&mut ta, task.id, &key).await.expect_err("refused");
        assert_eq!(err.spec().grpc, tonic::Code::InvalidArgument, "{err}");
        assert!(err.message.contains(needle), "{err}");
        assert!(
            blobs.head(&key).await.expect("head").is_none(),
            "{key} kept"
        );
    }
    // Confirming before uploading.
    let up = ta
        .create_video_upload_url(CreateVideoUploadUrlRequest {
            task_id: task.id,
            filename: "later.mp4".into(),
            file_size: 1000,
            content_type: "video/mp4".into(),
        })
        .await
        .expect("url")
        .into_inner();
    let err = confirm(&mut ta, task.id, &up.oss_key)
        .await
        .expect_err("nothing uploaded");
    assert_eq!(err.code, ErrorCode::FailedPrecondition);

    // At most 30 clips: the 31st is refused and its object deleted.
    let small = clip(clips.path(), "small.mp4", 1.2);
    for _ in 2..30 {
        let key = curl_upload(&mut ta, task.id, &small, "video/mp4").await;
        confirm(&mut ta, task.id, &key)
            .await
            .expect("within the limit");
    }
    let err = ta
        .create_video_upload_url(CreateVideoUploadUrlRequest {
            task_id: task.id,
            filename: "31.mp4".into(),
            file_size: 1000,
            content_type: "video/mp4".into(),
        })
        .await
        .expect_err("31st");
    assert!(
        ApiError::from_status(&err)
            .message
            .contains("at most 30 clips")
    );

    // Deleting clips: the last one takes the task back to CREATED.
    let all = ta
        .list_videos(ListVideosRequest { task_id: task.id })
        .await
        .expect("list")
        .into_inner()
        .items;
    assert_eq!(all.len(), 30);
    for v in &all {
        ta.delete_video(DeleteVideoRequest {
            task_id: task.id,
            video_id: v.id,
        })
        .await
        .expect("delete clip");
        assert!(blobs.head(&v.oss_key).await.expect("head").is_none());
    }
    let after = ta
        .get_task(GetTaskRequest { task_id: task.id })
        .await
        .expect("task")
        .into_inner()
        .task
        .expect("task");
    assert_eq!(after.status, TaskStatus::Created as i32);
    assert_eq!(after.video_count, 0);
    // And analysis cannot start without clips: the state machine says why.
    let err = ta
        .start_analysis(StartAnalysisRequest { task_id: task.id })
        .await
        .expect_err("no clips");
    let e = ApiError::from_status(&err);
    if e.code == ErrorCode::FailedPrecondition {
        assert!(e.message.contains("CREATED"), "{e}");
    }
    mesh.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn uploads_embedded() {
    uploads(false).await;
}

#[tokio::test]
async fn uploads_postgres_redis_s3() {
    uploads(true).await;
}
