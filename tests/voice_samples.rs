//! Voice samples end to end: a presigned upload with a plain HTTP PUT, the
//! confirm that checks the audio and queues a clone job on the bus, the
//! clone report, and isolation between users (NOT_FOUND, never
//! PERMISSION_DENIED, over gRPC and REST alike). Runs on the embedded
//! adapters and on PostgreSQL, Redis, Kafka and S3.

mod support;

use std::time::Duration;

use prost::Message as _;
use scout::mesh::Mesh;
use scout_common::testing::{self, TestDatabase};
use scout_common::{ApiError, ErrorCode};
use scout_proto::scout::identity::v1::identity_internal_service_client::IdentityInternalServiceClient;
use scout_proto::scout::identity::v1::identity_service_client::IdentityServiceClient;
use scout_proto::scout::identity::v1::{
    CreateVoiceSampleRequest, CreateVoiceSampleUploadUrlRequest, DeleteVoiceSampleRequest,
    GetVoiceSampleRequest, ListVoiceSamplesRequest, ReportVoiceCloneRequest, VoiceSampleStatus,
};
use scout_proto::scout::jobs::v1::VoiceCloneJob;
use support::*;

/// A mono 16 kHz WAV of a tone, `seconds` long.
fn wav(seconds: f64) -> Vec<u8> {
    wav_tone(16_000, seconds, 220.0)
}

async fn voice_samples(production: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = embedded_config(dir.path());
    let mut _dbs: Vec<TestDatabase> = Vec::new();
    if production {
        let db = testing::postgres_database();
        config.identity.database_url = db.url.clone();
        _dbs.push(db);
        config.cache = testing::redis_config();
        config.bus = testing::kafka_config();
        config.blobs = testing::s3_config();
    }
    let mesh = Mesh::start(config).await.expect("mesh");
    let base = mesh.edge_url();
    let ctx = mesh.context().clone();
    let a = login(&base, dir.path()).await;
    let b = login(&base, dir.path()).await;
    let mut ids_a = IdentityServiceClient::new(authed_channel(&base, &a.access));
    let mut ids_b = IdentityServiceClient::new(authed_channel(&base, &b.access));

    // Bad declarations are refused before any upload.
    for (ct, size, code) in [
        ("video/mp4", 1000, ErrorCode::UnsupportedMediaType),
        (
            "application/octet-stream",
            1000,
            ErrorCode::UnsupportedMediaType,
        ),
        ("audio/wav", 30 * 1024 * 1024, ErrorCode::PayloadTooLarge),
        ("audio/wav", 0, ErrorCode::InvalidArgument),
    ] {
        let err = ids_a
            .create_voice_sample_upload_url(CreateVoiceSampleUploadUrlRequest {
                filename: "x".into(),
                file_size: size,
                content_type: ct.into(),
            })
            .await
            .expect_err(ct);
        assert_eq!(
            ApiError::from_status(&err).code,
            code,
            "{ct} {size}: {err:?}"
        );
    }

    // A good sample: someone talking.
    let key = upload_voice_sample(&mut ids_a, speech_wav(dir.path()), "audio/wav").await;
    assert!(key.starts_with(&format!("voice/{}/", a.user_id)), "{key}");
    // B cannot confirm A's upload: it does not exist for B.
    let err = ids_b
        .create_voice_sample(CreateVoiceSampleRequest {
            oss_key: key.clone(),
            name: "stolen".into(),
            consent: true,
        })
        .await
        .expect_err("not b's");
    assert_eq!(err.code(), tonic::Code::NotFound);
    let name = "店长的声音 🎙️ '); DROP TABLE voice_samples;--";
    let created = ids_a
        .create_voice_sample(CreateVoiceSampleRequest {
            oss_key: key.clone(),
            name: name.into(),
            consent: true,
        })
        .await
        .expect("confirm")
        .into_inner()
        .sample
        .expect("sample");
    assert_eq!(created.status, VoiceSampleStatus::Processing as i32);
    assert_eq!(created.name, name);
    assert!(
        (5.0..=60.0).contains(&created.duration_seconds),
        "{}",
        created.duration_seconds
    );
    assert!(created.consented_at.is_some());
    // Confirming again is idempotent.
    let again = ids_a
        .create_voice_sample(CreateVoiceSampleRequest {
            oss_key: key.clone(),
            name: name.into(),
            consent: true,
        })
        .await
        .expect("confirm again")
        .into_inner()
        .sample
        .expect("sample");
    assert_eq!(again.id, created.id);

    // The clone job is on the voice-clone topic, once.
    let topic = format!("{}voice-clone", ctx.jobs.analyze.prefix);
    let mut sub = ctx
        .adapters
        .bus
        .subscribe(
            &format!("test-clone-{}", scout_common::testing::unique()),
            std::slice::from_ref(&topic),
        )
        .await
        .expect("subscribe");
    let delivery = tokio::time::timeout(Duration::from_secs(30), sub.next())
        .await
        .expect("a clone job within 30 s")
        .expect("delivery");
    let job = VoiceCloneJob::decode(delivery.message.payload.clone()).expect("job decodes");
    assert_eq!(
        (job.user_id, job.sample_id, job.sample_key.as_str()),
        (a.user_id, created.id, key.as_str())
    );
    sub.commit(&delivery).await.expect("commit");

    // Render's clone worker takes the job: on the embedded defaults
    // (espeak-ng, which cannot clone) it fails the sample saying so; a
    // repeated report of the same job changes nothing.
    let mut internal = IdentityInternalServiceClient::new(
        ctx.auth.internal_channel(
            scout_common::grpc::channel(&mesh.service_url(scout_common::ServiceName::Identity))
                .expect("channel"),
        ),
    );
    let start = std::time::Instant::now();
    let listed = loop {
        let listed = ids_a
            .list_voice_samples(ListVoiceSamplesRequest {})
            .await
            .expect("list")
            .into_inner()
            .items;
        if listed[0].status != VoiceSampleStatus::Processing as i32 {
            break listed;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "never settled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].status, VoiceSampleStatus::Failed as i32);
    assert!(
        listed[0].error_message.contains("cannot clone voices"),
        "{}",
        listed[0].error_message
    );
    let report = ReportVoiceCloneRequest {
        job_id: job.job_id.clone(),
        sample_id: created.id,
        clone_voice_id: "S_clone_1".into(),
        error_message: String::new(),
    };
    assert!(
        !internal
            .report_voice_clone(report)
            .await
            .expect("again")
            .into_inner()
            .applied
    );

    // B sees nothing of A's, over gRPC and REST alike.
    assert!(
        ids_b
            .list_voice_samples(ListVoiceSamplesRequest {})
            .await
            .expect("list")
            .into_inner()
            .items
            .is_empty()
    );
    let err = ids_b
        .delete_voice_sample(DeleteVoiceSampleRequest {
            sample_id: created.id,
        })
        .await
        .expect_err("not b's");
    assert_eq!(err.code(), tonic::Code::NotFound);
    let http = reqwest::Client::new();
    let resp = http
        .delete(format!("{base}/api/v1/voice/samples/{}", created.id))
        .bearer_auth(&b.access)
        .send()
        .await
        .expect("rest");
    assert_eq!(resp.status().as_u16(), 404);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["code"], ErrorCode::NotFound as i32);
    assert_eq!(body["message"], err.message(), "REST and gRPC agree");
    let listed: serde_json::Value =
        get_json(&format!("{base}/api/v1/voice/samples"), &b.access).await;
    assert_eq!(listed["data"]["items"], serde_json::json!([]));
    let err = internal
        .get_voice_sample(GetVoiceSampleRequest {
            user_id: b.user_id,
            sample_id: created.id,
        })
        .await
        .expect_err("not b's");
    assert_eq!(err.code(), tonic::Code::NotFound);
    // A's sample survived B's attempts.
    assert_eq!(
        internal
            .get_voice_sample(GetVoiceSampleRequest {
                user_id: a.user_id,
                sample_id: created.id,
            })
            .await
            .expect("a's")
            .into_inner()
            .sample
            .expect("sample")
            .id,
        created.id
    );

    // Too short, and not audio at all: refused naming why, and the object deleted.
    for (bytes, needle) in [
        (wav(2.0), "must be 5-60 s"),
        (b"this is not audio at all".to_vec(), "not readable audio"),
    ] {
        let key = upload_voice_sample(&mut ids_a, bytes, "audio/wav").await;
        let err = ids_a
            .create_voice_sample(CreateVoiceSampleRequest {
                oss_key: key.clone(),
                name: String::new(),
                consent: true,
            })
            .await
            .expect_err("refused");
        let e = ApiError::from_status(&err);
        assert_eq!(e.code, ErrorCode::InvalidMedia, "{e}");
        assert!(e.message.contains(needle), "{e}");
        assert!(
            ctx.adapters.blobs.head(&key).await.expect("head").is_none(),
            "rejected upload still stored"
        );
    }
    // Confirming before uploading.
    let up = ids_a
        .create_voice_sample_upload_url(CreateVoiceSampleUploadUrlRequest {
            filename: "later.wav".into(),
            file_size: 1000,
            content_type: "audio/wav".into(),
        })
        .await
        .expect("url")
        .into_inner();
    let err = ids_a
        .create_voice_sample(CreateVoiceSampleRequest {
            oss_key: up.oss_key,
            name: String::new(),
            consent: true,
        })
        .await
        .expect_err("nothing uploaded");
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);

    // A deletes: the row and the audio go.
    ids_a
        .delete_voice_sample(DeleteVoiceSampleRequest {
            sample_id: created.id,
        })
        .await
        .expect("delete");
    assert!(ctx.adapters.blobs.head(&key).await.expect("head").is_none());
    assert!(
        ids_a
            .list_voice_samples(ListVoiceSamplesRequest {})
            .await
            .expect("list")
            .into_inner()
            .items
            .is_empty()
    );
    mesh.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn voice_samples_embedded() {
    voice_samples(false).await;
}

#[tokio::test]
async fn voice_samples_postgres_redis_kafka_s3() {
    voice_samples(true).await;
}
