//! Many nodes on one machine, as a cluster runs them (`scripts/cluster.sh`):
//! the six services as separate processes against PostgreSQL, Redis, Kafka
//! and S3, with two render and two vision nodes. Ten tasks go through while
//! render and vision nodes are SIGKILLed at random moments (at least ten
//! kills) and restarted: every task completes with exactly one `final.mp4`,
//! every job's result is applied exactly once, and both nodes of each kind
//! did jobs.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use scout_proto::scout::tasks::v1::tasks_service_client::TasksServiceClient;
use scout_proto::scout::tasks::v1::{StartAnalysisRequest, StartComposeRequest, TaskStatus};
use support::*;

const NODES: [&str; 4] = ["render-1", "render-2", "vision-1", "vision-2"];

fn cluster(args: &[&str]) -> std::process::Output {
    Command::new(root().join("scripts/cluster.sh"))
        .args(args)
        .env("CLUSTER_BIN", scout_bin())
        .env_remove("SCOUT_CONFIG")
        .output()
        .expect("scripts/cluster.sh runs")
}

/// Stops the killer, then every node, when the test ends, however it ends.
struct Running(PathBuf, Arc<AtomicBool>);

impl Drop for Running {
    fn drop(&mut self) {
        self.1.store(true, Ordering::SeqCst);
        let dir = self.0.to_string_lossy().to_string();
        let _ = cluster(&["stop", &dir]);
        // A restart the killer had under way when told to stop.
        std::thread::sleep(Duration::from_secs(2));
        let _ = cluster(&["stop", &dir]);
    }
}

/// Every JSON log line of a node (across its restarts).
fn log_lines(dir: &Path, node: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("logs").join(format!("{node}.log")))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn jobs_done(dir: &Path, node: &str, message: &str) -> Vec<(i64, bool)> {
    log_lines(dir, node)
        .iter()
        .filter(|v| v["message"] == message)
        .filter_map(|v| {
            Some((
                v["context"]["task_id"].as_i64()?,
                v["context"]["applied"].as_bool()?,
            ))
        })
        .collect()
}

#[tokio::test]
async fn ten_tasks_survive_render_and_vision_nodes_killed_at_random() {
    let dir = tempfile::tempdir().expect("tempdir");
    eprintln!("cluster under {}", dir.path().display());
    let files = tempfile::tempdir().expect("files");
    let (mut config, _dbs) = distributed_config(dir.path());
    // Two partitions per topic, so two nodes share the work; quick retries,
    // enough of them to outlast the kills.
    config.bus.partitions = 4;
    // Ten videos in a day: more than the free tier's quota.
    config.quotas.enabled = false;
    config.edge.addr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    config.bus.analyze_retry_delays = vec![Duration::from_millis(500); 8];
    config.bus.compose_retry_delays = vec![Duration::from_millis(500); 8];
    let config_path = dir.path().join("cluster.toml");
    std::fs::write(&config_path, toml::to_string(&config).expect("toml")).expect("config");
    let cdir = dir.path().join("cluster");
    let cdir_s = cdir.to_string_lossy().to_string();
    let up = cluster(&["start", &config_path.to_string_lossy(), &cdir_s, "2", "2"]);
    let stop = Arc::new(AtomicBool::new(false));
    let _running = Running(cdir.clone(), stop.clone());
    assert!(
        up.status.success(),
        "the cluster did not start: {}",
        String::from_utf8_lossy(&up.stderr)
    );
    let base = format!("http://{}", config.edge.addr);
    wait_ready(&base, Duration::from_secs(60)).await;
    let me = login(&base, dir.path()).await;
    let mut tasks = TasksServiceClient::new(authed_channel(&base, &me.access));

    // Ten tasks, their clips uploaded while every node is up.
    let mut ids = Vec::new();
    for n in 0..10 {
        let (id, _) =
            task_with_clips(&mut tasks, files.path(), &format!("集群小馆{n}号"), &[1.5]).await;
        ids.push(id);
    }

    // From here on, a node dies every few seconds and comes back.
    let kills = Arc::new(AtomicUsize::new(0));
    let killer = {
        let (kills, stop, cdir_s) = (kills.clone(), stop.clone(), cdir_s.clone());
        tokio::task::spawn_blocking(move || {
            let mut seed = std::process::id() as usize;
            // Twelve kills, then the cluster is left to finish in peace.
            while !stop.load(Ordering::SeqCst) && kills.load(Ordering::SeqCst) < 12 {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                let node = NODES[(seed >> 8) % NODES.len()];
                // A node down every 4-9 s: long enough for a compose to finish
                // between kills of its node, often enough to hit jobs in flight.
                std::thread::sleep(Duration::from_millis(4000 + (seed >> 4) as u64 % 5000));
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let _ = cluster(&["kill", &cdir_s, node]);
                kills.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(300));
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let back = cluster(&["restart", &cdir_s, node]);
                assert!(
                    back.status.success(),
                    "{node} did not come back: {}",
                    String::from_utf8_lossy(&back.stderr)
                );
            }
        })
    };

    for id in &ids {
        tasks
            .start_analysis(StartAnalysisRequest { task_id: *id })
            .await
            .expect("analyse");
    }
    for id in &ids {
        wait_status(
            &mut tasks,
            *id,
            TaskStatus::ScriptReady,
            Duration::from_secs(600),
        )
        .await;
        tasks
            .start_compose(StartComposeRequest {
                task_id: *id,
                ..Default::default()
            })
            .await
            .expect("compose");
    }
    for id in &ids {
        wait_status(
            &mut tasks,
            *id,
            TaskStatus::Completed,
            Duration::from_secs(600),
        )
        .await;
    }
    // At least ten kills, all while work was going on.
    while kills.load(Ordering::SeqCst) < 10 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, Ordering::SeqCst);
    killer.await.expect("killer");
    assert!(kills.load(Ordering::SeqCst) >= 10);

    // Exactly one final.mp4 per task in the object store (beside it the
    // kept pieces of the video and at most one preview).
    let blobs = scout_common::adapters::blob::from_config(&config.blobs, &base)
        .await
        .expect("blob store");
    for id in &ids {
        let keys = blobs.list(&format!("output/{id}/")).await.expect("list");
        let count = |name: &str| keys.iter().filter(|k| k.ends_with(name)).count();
        assert_eq!(count("final.mp4"), 1, "task {id}: {keys:?}");
        assert!(count("preview.mp4") <= 1, "task {id}: {keys:?}");
    }

    // Each task's script and video applied exactly once; the work spread
    // over both nodes of each kind.
    for (kind, message) in [
        ("vision", "analyze job done"),
        ("render", "compose job done"),
    ] {
        let mut applied: BTreeMap<i64, usize> = BTreeMap::new();
        let mut workers: BTreeSet<String> = BTreeSet::new();
        for n in 1..=2 {
            let node = format!("{kind}-{n}");
            for (task, was_applied) in jobs_done(&cdir, &node, message) {
                workers.insert(node.clone());
                if was_applied {
                    *applied.entry(task).or_default() += 1;
                }
            }
        }
        for id in &ids {
            assert_eq!(
                applied.get(id).copied().unwrap_or(0),
                1,
                "{kind}: task {id} applied {applied:?}"
            );
        }
        assert_eq!(workers.len(), 2, "{kind} work went to {workers:?} only");
    }
}
