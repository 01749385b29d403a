//! Kill the publish node in the middle of an upload: the publication's
//! lease runs out, another publish node takes it over and resumes the
//! platform's upload session where the platform's copy ends (not from the
//! start), and the video is posted once. Publish runs as its own process
//! (`scout serve publish`) and is SIGKILLed; the rest of the mesh,
//! PostgreSQL, Redis, Kafka and S3 carry on. Both nodes share the token keys
//! (as the chart requires), so the second opens what the first sealed.

mod support;

use std::time::{Duration, Instant};

use scout::mesh::{Mesh, MeshOptions};
use scout_proto::scout::publish::v1::publish_service_client::PublishServiceClient;
use scout_proto::scout::publish::v1::{
    ListPublicationsRequest, Platform, PublicationStatus, PublishRequest,
};
use scout_proto::scout::tasks::v1::tasks_service_client::TasksServiceClient;
use support::youtube::{self, lock};
use support::*;

#[tokio::test]
async fn a_publish_node_killed_mid_upload_is_resumed_by_another() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("files");
    let (fake, yt) = youtube::youtube().await;
    let (mut config, _dbs) = distributed_config(dir.path());
    let publish_db = scout_common::testing::postgres_database();
    config.publish.database_url = publish_db.url.clone();
    youtube::configure(&mut config, &yt);
    config.platforms.lease = Duration::from_secs(3);
    config.platforms.token_keys =
        vec!["shared:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY=".into()];
    let mesh = Mesh::start_with(
        config.clone(),
        MeshOptions {
            external: vec![scout_common::ServiceName::Publish],
            fixed_ports: true,
        },
    )
    .await
    .expect("mesh without publish");
    let publish_url = config.publish.endpoint_url();
    let start_publish = |n: usize| ScoutProcess::node(dir.path(), &config, "publish", n);
    let mut first = start_publish(1);
    first.wait_serving(&publish_url).await;

    let base = mesh.edge_url();
    let me = login(&base, dir.path()).await;
    let mut tasks = TasksServiceClient::new(authed_channel(&base, &me.access));
    let mut publish = PublishServiceClient::new(authed_channel(&base, &me.access));
    let task = completed_task(&mut tasks, files.path(), "南京大牌档(西单店)").await;
    let video = final_video(&mut tasks, task).await;
    link_account(&mut publish, Platform::Youtube, "good-code").await;

    // The upload stalls a third of the way in; the node is killed there.
    let third = video.len() / 3;
    lock(&fake).hang_at = Some(third);
    let made = publish
        .publish(PublishRequest {
            task_id: task,
            title: "南京大牌档的鸭血粉丝汤".into(),
            topics: vec!["#南京美食".into()],
            platforms: vec![Platform::Youtube as i32],
            ..Default::default()
        })
        .await
        .expect("publish")
        .into_inner()
        .publications;
    let deadline = Instant::now() + Duration::from_secs(60);
    while lock(&fake).hung == 0 {
        assert!(
            Instant::now() < deadline,
            "the upload never reached the stall"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let before = lock(&fake)
        .sessions
        .values()
        .map(|(_, b, _)| b.len())
        .sum::<usize>();
    assert!(
        before >= third && before < video.len(),
        "{before} of {}",
        video.len()
    );
    first.child.kill().expect("SIGKILL");
    let _ = first.child.wait();
    lock(&fake).hang_at = None;

    // Another node: once the lease has run out it resumes the session.
    let _second = start_publish(2);
    let deadline = Instant::now() + Duration::from_secs(90);
    let done = loop {
        let items = publish
            .list_publications(ListPublicationsRequest { task_id: task })
            .await
            .map(|r| r.into_inner().items)
            .unwrap_or_default();
        if let Some(p) = items.iter().find(|p| p.id == made[0].id)
            && p.status == PublicationStatus::Published as i32
        {
            break p.clone();
        }
        assert!(
            Instant::now() < deadline,
            "never published after the kill: {items:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(done.attempts, 2, "{done:?}");
    {
        let y = lock(&fake);
        assert_eq!(
            y.sessions.len(),
            1,
            "the second node resumed the first one's session"
        );
        assert!(
            !y.queries.is_empty(),
            "it asked YouTube how much had arrived"
        );
        assert_eq!(y.videos.len(), 1, "posted once");
        let (_, bytes, _) = &y.videos[&done.post_id];
        assert!(
            bytes == &video,
            "YouTube has the task's video, byte for byte"
        );
    }
    mesh.shutdown().await.expect("shutdown");
}
