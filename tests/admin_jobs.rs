//! The admin panel's tasks side on PostgreSQL + Redis + Kafka + S3: compose
//! jobs that run out of attempts land in the dead letters; an admin lists
//! them, replays one (its task completes) and discards another (its task
//! stays failed until the admin retries it); the queues show each topic's
//! depth and lag; a task's cost estimate comes from what it actually used;
//! a user's usage; the render nodes with their capabilities; every action
//! in the tasks audit log.

mod support;

use std::time::Duration;

use reqwest::Method;
use scout_proto::scout::tasks::v1::TaskStatus;
use scout_proto::scout::tasks::v1::tasks_service_client::TasksServiceClient;
use serde_json::{Value, json};
use support::*;

/// Polls `url` until `ready` holds for its `data` (or panics after `limit`).
async fn until(url: &str, token: &str, limit: Duration, ready: impl Fn(&Value) -> bool) -> Value {
    let start = std::time::Instant::now();
    loop {
        let (status, body) = rest_call(Method::GET, url, token, None).await;
        assert_eq!(status, 200, "{url}: {body}");
        if ready(&body["data"]) {
            return body["data"].clone();
        }
        assert!(start.elapsed() < limit, "{url} never got there: {body}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn pending_of(data: &Value, task_id: i64) -> Option<i64> {
    data["items"]
        .as_array()?
        .iter()
        .find(|d| d["task_id"] == task_id && d["state"] == "pending")
        .and_then(|d| d["id"].as_i64())
}

#[tokio::test]
async fn dead_letters_are_replayed_or_discarded_by_an_admin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("files");
    let (mut config, _dbs) = distributed_config(dir.path());
    // Two attempts per compose, and the first four attempts fail: both
    // tasks' jobs are dead-lettered, and a replay then succeeds.
    config.bus.compose_retry_delays = vec![Duration::from_millis(300)];
    config.faults.compose_fail_attempts = 4;
    let mesh = mesh_without_vision(config.clone()).await;
    let base = mesh.edge_url();
    let mut jobs = analyze_jobs(&mesh).await;
    let boss = login(&base, dir.path()).await;
    let user = login(&base, dir.path()).await;
    scout_identity::admin::set_role(&config, &boss.phone, "admin")
        .await
        .expect("grant");
    let admin = refresh(&base, &boss.refresh).await.access;
    let mut tasks = TasksServiceClient::new(authed_channel(&base, &user.access));

    let a = ready_task(&mesh, &mut tasks, &mut jobs, files.path(), 1).await;
    let b = ready_task(&mesh, &mut tasks, &mut jobs, files.path(), 2).await;
    compose(&mut tasks, a).await.expect("compose a");
    let failed = wait_status(&mut tasks, a, TaskStatus::Failed, Duration::from_secs(120)).await;
    assert_eq!(failed.failure.expect("failure").attempts, 2);
    compose(&mut tasks, b).await.expect("compose b");
    wait_status(&mut tasks, b, TaskStatus::Failed, Duration::from_secs(120)).await;

    // The admin's task list: the failed ones, with their step and attempts.
    let (status, listed) = rest_call(
        Method::GET,
        &format!(
            "{base}/api/v1/admin/tasks?status=failed&user_id={}",
            user.user_id
        ),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 200, "{listed}");
    let items = listed["data"]["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{listed}");
    for t in items {
        assert_eq!(t["user_id"], user.user_id);
        assert_eq!(t["task"]["status"], "failed");
        assert_eq!(t["task"]["failure"]["step"], "compose");
        assert_eq!(t["task"]["failure"]["attempts"], 2);
        assert!(
            t["task"]["failure"]["message"]
                .as_str()
                .expect("message")
                .contains("injected compose failure"),
            "{t}"
        );
    }
    let (_, none) = rest_call(
        Method::GET,
        &format!("{base}/api/v1/admin/tasks?status=failed&shop_type=beauty"),
        &admin,
        None,
    )
    .await;
    assert_eq!(none["data"]["pagination"]["total"], 0, "{none}");

    // Both jobs are in the dead letters.
    let letters_url = format!("{base}/api/v1/admin/jobs/dead-letters?kind=compose");
    let letters = until(&letters_url, &admin, Duration::from_secs(60), |d| {
        pending_of(d, a).is_some() && pending_of(d, b).is_some()
    })
    .await;
    let (dl_a, dl_b) = (
        pending_of(&letters, a).expect("a's letter"),
        pending_of(&letters, b).expect("b's letter"),
    );
    let letter = letters["items"]
        .as_array()
        .and_then(|i| i.iter().find(|d| d["id"] == dl_a))
        .expect("a's letter");
    assert_eq!(letter["kind"], "compose");
    assert_eq!(letter["attempts"], 2);
    assert!(letter["job_id"].as_str().is_some_and(|j| !j.is_empty()));

    // The queues: every compose topic with its group and lag; the letters waiting.
    let queues = until(
        &format!("{base}/api/v1/admin/jobs/queues"),
        &admin,
        Duration::from_secs(30),
        |d| d["dead_letters_pending"] == 2,
    )
    .await;
    let topics = queues["topics"].as_array().expect("topics");
    let find = |kind: &str, role: &str| {
        topics
            .iter()
            .find(|t| t["kind"] == kind && t["role"] == role)
            .unwrap_or_else(|| panic!("{kind} {role} in {queues}"))
    };
    let main = find("compose", "main");
    assert!(
        main["consumer_group"]
            .as_str()
            .expect("group")
            .ends_with("render-compose")
    );
    assert!(main["messages"].as_i64().unwrap_or(0) >= 2, "{main}");
    assert_eq!(
        main["lag"].as_i64().unwrap_or(0),
        0,
        "render took them all: {main}"
    );
    assert!(find("compose", "dlq")["messages"].as_i64().unwrap_or(0) >= 2);
    find("compose", "retry");
    find("analyze", "main");
    find("voice-clone", "dlq");

    // Replay a's job: the same job runs again and the task completes.
    let (status, replayed) = rest_call(
        Method::POST,
        &format!("{base}/api/v1/admin/jobs/dead-letters/replay"),
        &admin,
        Some(json!({"ids": [dl_a], "reason": "render fixed"})),
    )
    .await;
    assert_eq!(status, 200, "{replayed}");
    let outcome = &replayed["data"]["outcomes"][0];
    assert_eq!(outcome["id"], dl_a);
    assert_eq!(outcome["done"], true, "{replayed}");
    wait_status(
        &mut tasks,
        a,
        TaskStatus::Completed,
        Duration::from_secs(180),
    )
    .await;
    // Once only.
    let (_, again) = rest_call(
        Method::POST,
        &format!("{base}/api/v1/admin/jobs/dead-letters/replay"),
        &admin,
        Some(json!({"ids": [dl_a]})),
    )
    .await;
    assert_eq!(again["data"]["outcomes"][0]["done"], false, "{again}");

    // Discard b's: nothing runs; then the admin retries the task itself.
    let (status, discarded) = rest_call(
        Method::POST,
        &format!("{base}/api/v1/admin/jobs/dead-letters/discard"),
        &admin,
        Some(json!({"all": true, "kind": "compose", "reason": "duplicate"})),
    )
    .await;
    assert_eq!(status, 200, "{discarded}");
    let outcomes = discarded["data"]["outcomes"].as_array().expect("outcomes");
    assert_eq!(outcomes.len(), 1, "only b's was pending: {discarded}");
    assert_eq!(outcomes[0]["id"], dl_b);
    let (_, bad) = rest_call(
        Method::POST,
        &format!("{base}/api/v1/admin/jobs/dead-letters/discard"),
        &admin,
        Some(json!({})),
    )
    .await;
    assert_eq!(bad["code"], 40201, "neither ids nor all: {bad}");
    let (status, retried) = rest_call(
        Method::POST,
        &format!("{base}/api/v1/admin/tasks/{b}/retry"),
        &admin,
        Some(json!({"reason": "user asked"})),
    )
    .await;
    assert_eq!(status, 200, "{retried}");
    assert_eq!(retried["data"]["task"]["status"], "composing", "{retried}");
    wait_status(
        &mut tasks,
        b,
        TaskStatus::Completed,
        Duration::from_secs(180),
    )
    .await;

    // What a cost: speech spoken locally, compute, the clip and video stored.
    let (status, cost) = rest_call(
        Method::GET,
        &format!("{base}/api/v1/admin/tasks/{a}/cost"),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 200, "{cost}");
    let line = |item: &str| {
        cost["data"]["lines"]
            .as_array()
            .and_then(|l| l.iter().find(|x| x["item"] == item))
            .cloned()
            .unwrap_or_else(|| panic!("{item} in {cost}"))
    };
    assert!(
        line("local_tts_characters")["quantity"]
            .as_f64()
            .unwrap_or(0.0)
            > 0.0
    );
    assert!(line("compute")["quantity"].as_f64().unwrap_or(0.0) > 0.0);
    assert!(line("storage")["quantity"].as_f64().unwrap_or(0.0) > 0.0);
    assert_eq!(line("vision_images")["unit_price"], 0.008, "seed 000 §11.1");
    assert_eq!(cost["data"]["currency"], "CNY");
    assert!(
        cost["data"]["total"].as_f64().unwrap_or(0.0) > 0.0,
        "{cost}"
    );

    // The user's usage.
    let (status, usage) = rest_call(
        Method::GET,
        &format!("{base}/api/v1/admin/users/{}/usage", user.user_id),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 200, "{usage}");
    assert_eq!(usage["data"]["videos_today"], 2, "{usage}");
    assert!(usage["data"]["storage_bytes"].as_i64().unwrap_or(0) > 0);
    assert!(
        usage["data"]["tasks"].as_array().is_some_and(|t| t
            .iter()
            .any(|s| s["status"] == "completed" && s["count"] == 2)),
        "{usage}"
    );

    // The render node of this mesh, alive, with what it can do.
    let nodes = until(
        &format!("{base}/api/v1/admin/render-nodes"),
        &admin,
        Duration::from_secs(30),
        |d| d["nodes"].as_array().is_some_and(|n| !n.is_empty()),
    )
    .await;
    let node = &nodes["nodes"][0];
    assert_eq!(node["alive"], true, "{nodes}");
    assert!(
        !node["capabilities"]["compose_encoder"]
            .as_str()
            .unwrap_or("")
            .is_empty()
    );
    assert!(
        node["capabilities"]["h264_encoders"]
            .as_array()
            .is_some_and(|e| !e.is_empty())
    );

    // Delete a task as the admin; then the log says who did all of it.
    let (status, _) = rest_call(
        Method::DELETE,
        &format!("{base}/api/v1/admin/tasks/{a}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (_, log) = rest_call(
        Method::GET,
        &format!("{base}/api/v1/admin/tasks-audit-log"),
        &admin,
        None,
    )
    .await;
    let actions: Vec<&str> = log["data"]["items"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["action"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        actions,
        [
            "delete_task",
            "retry_task",
            "discard_dead_letter",
            "replay_dead_letter"
        ],
        "{log}"
    );
    for e in log["data"]["items"].as_array().expect("entries") {
        assert_eq!(e["admin_id"], boss.user_id);
    }
    drop(jobs);
    mesh.shutdown().await.expect("shutdown");
}
