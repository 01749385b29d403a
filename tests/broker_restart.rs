//! Stop and restart the Kafka-protocol broker between two steps: nothing is
//! lost and the flow completes. The broker is a private tansu whose log
//! lives in the S3 server (so it survives its own restart), on a port of
//! its own, so the other tests' broker is untouched.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use scout_common::config::BlobConfig;
use scout_common::testing;
use scout_proto::scout::tasks::v1::tasks_service_client::TasksServiceClient;
use scout_proto::scout::tasks::v1::{
    ConfirmVideoRequest, CreateTaskRequest, GetOutputRequest, GetTaskRequest, Paragraph,
    ReportScriptRequest, StartAnalysisRequest, StartComposeRequest, TaskStatus,
};
use support::*;

/// A tansu broker storing its log in an S3 bucket.
struct Broker {
    child: Option<Child>,
    port: u16,
    bucket: String,
    s3: BlobConfig,
}

impl Broker {
    fn start(&mut self) {
        let child = Command::new("tansu")
            .args(["broker", "--storage-engine"])
            .arg(format!("s3://{}/", self.bucket))
            .arg("--listener-url")
            .arg(format!("tcp://127.0.0.1:{}", self.port))
            .arg("--advertised-listener-url")
            .arg(format!("tcp://127.0.0.1:{}", self.port))
            .env("AWS_ACCESS_KEY_ID", &self.s3.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &self.s3.secret_key)
            .env("AWS_DEFAULT_REGION", &self.s3.region)
            .env("AWS_ENDPOINT", &self.s3.endpoint)
            .env("AWS_ALLOW_HTTP", "true")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tansu runs (scripts/install.sh --test installs it)");
        self.child = Some(child);
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "tansu did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn restart(&mut self) {
        self.stop();
        std::thread::sleep(Duration::from_millis(500));
        self.start();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test]
async fn a_broker_restart_between_steps_loses_nothing() {
    // The broker's own bucket in the S3 server.
    let s3 = testing::s3_config();
    let bucket = format!("tansu-{}", testing::unique());
    scout_common::adapters::blob::from_config(
        &BlobConfig {
            bucket: bucket.clone(),
            create_bucket: true,
            ..s3.clone()
        },
        "http://127.0.0.1",
    )
    .await
    .expect("broker bucket");
    let mut broker = Broker {
        child: None,
        port: free_port(),
        bucket,
        s3: s3.clone(),
    };
    broker.start();

    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("files");
    let mut config = embedded_config(dir.path());
    let tasks_db = testing::postgres_database();
    config.tasks.database_url = tasks_db.url.clone();
    config.cache = testing::redis_config();
    config.bus = testing::kafka_config();
    config.bus.brokers = format!("127.0.0.1:{}", broker.port);
    config.blobs = s3;
    config.edge.request_timeout = Duration::from_secs(60);
    let mesh = mesh_without_vision(config).await;
    let base = mesh.edge_url();
    let ctx = mesh.context().clone();
    let me = login(&base, dir.path()).await;
    let mut tasks = TasksServiceClient::new(authed_channel(&base, &me.access));
    let mut sub = ctx
        .adapters
        .bus
        .subscribe(
            &format!("test-vision-{}", testing::unique()),
            &[format!("{}analyze", ctx.jobs.analyze.prefix)],
        )
        .await
        .expect("subscribe");
    let t = tasks
        .create_task(CreateTaskRequest {
            shop_name: "重启也不丢".into(),
            shop_type: 1,
            ..Default::default()
        })
        .await
        .expect("create")
        .into_inner()
        .task
        .expect("task");
    let file = clip(files.path(), "c.mp4", 2.0);
    let key = curl_upload(&mut tasks, t.id, &file, "video/mp4").await;
    let clip_id = tasks
        .confirm_video(ConfirmVideoRequest {
            task_id: t.id,
            oss_key: key,
            original_filename: "c.mp4".into(),
        })
        .await
        .expect("confirm")
        .into_inner()
        .video
        .expect("video")
        .id;
    tasks
        .start_analysis(StartAnalysisRequest { task_id: t.id })
        .await
        .expect("analyse");

    // Restart 1: between queuing the analysis and a worker taking it.
    broker.restart();
    // The analyze job survived the restart.
    let job = take_analyze_job(&mut sub, Duration::from_secs(90)).await;
    assert_eq!(job.task_id, t.id);
    tasks_worker(&mesh)
        .report_script(ReportScriptRequest {
            pictures: Vec::new(),
            library_clips: Vec::new(),
            job_id: job.job_id,
            task_id: t.id,
            paragraphs: vec![Paragraph {
                id: "para_1".into(),
                section: "开场".into(),
                shot_id: clip_id,
                text: "家人们，重启之后也照样出片！".into(),
                ..Default::default()
            }],
            provider: "template".into(),
            provider_note: String::new(),
            usage: None,
        })
        .await
        .expect("script");

    // Restart 2: between the script and the compose.
    broker.restart();
    tasks
        .start_compose(StartComposeRequest {
            task_id: t.id,
            ..Default::default()
        })
        .await
        .expect("compose queued after the restart");
    let start = Instant::now();
    loop {
        let now = tasks
            .get_task(GetTaskRequest { task_id: t.id })
            .await
            .expect("task")
            .into_inner()
            .task
            .expect("task");
        if now.status == TaskStatus::Completed as i32 {
            break;
        }
        assert_ne!(now.status, TaskStatus::Failed as i32, "{:?}", now.failure);
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "never completed"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let output = tasks
        .get_output(GetOutputRequest { task_id: t.id })
        .await
        .expect("output")
        .into_inner();
    assert_eq!(output.video.expect("video").height, 1920);
    mesh.shutdown().await.expect("clean shutdown");
}
