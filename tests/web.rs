//! The web app in a real browser: `scout up` (this build, embedded
//! defaults) serving the app, and `web/e2e/flow.mjs` driving Debian's
//! Chromium through the whole reviewer's flow and its error paths (see that
//! file). Screenshots land in `target/web-screenshots/`. Also the app's
//! serving: caching headers, the CSP, history-mode fallback, and API paths
//! that stay the API's.

mod support;

use std::process::Command;
use std::time::Duration;

use support::*;

fn web_dist() -> std::path::PathBuf {
    root().join("web/dist")
}

/// The app must be built into this binary: `scripts/test.sh` builds it
/// (scripts/build-web.sh) before it builds and runs the tests.
fn require_built_app() {
    assert!(
        web_dist().join("index.html").is_file(),
        "web/dist is missing: run scripts/build-web.sh before the tests (scripts/test.sh does)"
    );
}

async fn start_scout(
    dir: &std::path::Path,
    faults: &[(&str, &str)],
    youtube_at: Option<&str>,
) -> (ScoutProcess, String) {
    let mut config = embedded_config(dir);
    if let Some(base) = youtube_at {
        support::youtube::configure(&mut config, base);
    }
    config.edge.addr = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
    // No retries: a failed compose fails the task at once (the page retries it).
    config.bus.compose_retry_delays = Vec::new();
    config.edge.request_timeout = Duration::from_secs(30);
    let base = format!("http://{}", config.edge.addr);
    let config_path = dir.join("scout.toml");
    std::fs::write(&config_path, toml::to_string(&config).expect("toml")).expect("config");
    let stderr_path = dir.join("stderr.log");
    let mut cmd = Command::new(scout_bin());
    cmd.arg("--config")
        .arg(&config_path)
        .arg("up")
        .env_remove("SCOUT_CONFIG")
        // What the mesh did, for whoever reads a failure.
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).expect("stderr"));
    for (k, v) in faults {
        cmd.env(k, v);
    }
    let process = ScoutProcess {
        child: cmd.spawn().expect("scout up starts"),
        stderr_path,
    };
    wait_ready(&base, Duration::from_secs(90)).await;
    (process, base)
}

#[tokio::test]
async fn the_app_is_served_with_the_right_headers() {
    require_built_app();
    let dir = tempfile::tempdir().expect("tempdir");
    let (_scout, base) = start_scout(dir.path(), &[], None).await;
    let http = reqwest::Client::new();

    // Pages: index.html for / and for any app route, never cached, with a CSP.
    for path in ["/", "/tasks", "/tasks/42", "/login?next=%2Ftasks"] {
        let resp = http.get(format!("{base}{path}")).send().await.expect("GET");
        assert_eq!(resp.status(), 200, "{path}");
        let h = resp.headers().clone();
        assert_eq!(h["cache-control"], "no-cache", "{path}");
        let csp = h["content-security-policy"].to_str().expect("csp");
        assert!(
            csp.contains("default-src 'self'") && csp.contains("script-src 'self'"),
            "{csp}"
        );
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{csp}"
        );
        let body = resp.text().await.expect("body");
        assert!(body.contains("<div id=\"app\">"), "{path}: {body}");
    }

    // Hashed assets: cached for a year, compressed when asked.
    let index = http
        .get(format!("{base}/"))
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("body");
    let script = index
        .split("src=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a script tag");
    assert!(script.starts_with("/assets/"), "{script}");
    let resp = http
        .get(format!("{base}{script}"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("GET asset");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/javascript")
    );
    assert_eq!(resp.headers()["content-encoding"], "gzip");

    // API paths stay the API's, also when unknown.
    let resp = http
        .get(format!("{base}/api/v1/nope"))
        .send()
        .await
        .expect("GET");
    assert_eq!(resp.status(), 404);
    let body: serde_json::Value = resp.json().await.expect("envelope");
    assert!(body["code"].as_i64().is_some(), "{body}");
    let resp = http
        .get(format!("{base}/assets/missing.js"))
        .send()
        .await
        .expect("GET");
    assert_eq!(resp.status(), 404);
    // A POST to a page path is not a page.
    let resp = http
        .post(format!("{base}/tasks"))
        .send()
        .await
        .expect("POST");
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn the_whole_flow_works_in_a_real_browser() {
    require_built_app();
    let dir = tempfile::tempdir().expect("tempdir");
    let clips = dir.path().join("clips");
    std::fs::create_dir_all(&clips).expect("clips dir");
    for (name, seconds) in [
        ("a-storefront.mp4", 4.0),
        ("b-dish.mp4", 3.5),
        ("c-room.mp4", 3.0),
    ] {
        clip(&clips, name, seconds);
    }
    std::fs::write(clips.join("not-a-video.txt"), "shop notes, not a video\n").expect("text file");
    // The brand kit's logo.
    let status = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "color=c=0xFF00FF:s=200x100",
        ])
        .args(["-frames:v", "1"])
        .arg(clips.join("logo.png"))
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg made no logo");
    // A local YouTube: the page links an account through its consent page
    // and posts the finished video to it.
    let (youtube, youtube_base) = support::youtube::youtube().await;
    let (scout, base) = start_scout(
        dir.path(),
        // The first compose attempt fails, so the page's retry is exercised.
        &[("SCOUT_FAULTS_COMPOSE_FAIL_ATTEMPTS", "1")],
        Some(&youtube_base),
    )
    .await;
    let shots = root().join("target/web-screenshots");
    let outbox = dir.path().join("sms-outbox.log");
    let run = browser_script(
        dir.path(),
        "flow.mjs",
        &[
            ("BASE_URL", base.as_str().as_ref()),
            ("OUTBOX", outbox.as_os_str()),
            ("CLIPS", clips.as_os_str()),
            ("SCREENSHOTS", shots.as_os_str()),
        ],
    )
    .await;
    let stdout = &run.stdout;
    assert!(
        run.passed,
        "the browser flow failed ({}):\n{stdout}\n{}\n--- scout stderr ---\n{}",
        run.outcome,
        run.stderr,
        scout.stderr()
    );
    let passed = stdout.lines().filter(|l| l.contains("\"ok\":true")).count();
    assert!(passed >= 30, "only {passed} checkpoints passed:\n{stdout}");
    // YouTube has the video the page posted.
    let posted = support::youtube::lock(&youtube).videos.len();
    assert_eq!(posted, 1, "the page posted one video to YouTube");
    for page in ["01-login", "05-script", "08-result"] {
        for width in ["phone", "desktop"] {
            let png = shots.join(format!("{page}-{width}.png"));
            assert!(png.is_file(), "screenshot {} missing", png.display());
        }
    }
}

/// The admin panel (`/admin`, REST only) in real Chromium: a normal user is
/// refused plainly and stays logged in; an admin finds that user, reads
/// their usage, changes their tier, finds their failed task with its
/// failure and cost, retries it, sees the queues, a live render node and
/// both audit logs (`web/e2e/admin.mjs`).
#[tokio::test]
async fn the_admin_panel_works_in_a_real_browser() {
    use scout_proto::scout::tasks::v1::tasks_service_client::TasksServiceClient;
    use scout_proto::scout::tasks::v1::{StartAnalysisRequest, StartComposeRequest, TaskStatus};
    require_built_app();
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("files");
    // The compose fails once (no retries), so the user has a FAILED task.
    let (scout, base) = start_scout(
        dir.path(),
        &[
            ("SCOUT_FAULTS_COMPOSE_FAIL_ATTEMPTS", "1"),
            // The page logs both users in again right after this test did.
            ("SCOUT_SMS_RESEND_INTERVAL", "1s"),
            // This test polls the task as fast as it likes.
            ("SCOUT_EDGE_RATE_LIMITS_DEFAULT_LIMIT", "100000"),
        ],
        None,
    )
    .await;
    let boss = login(&base, dir.path()).await;
    let user = login(&base, dir.path()).await;
    let mut tasks = TasksServiceClient::new(authed_channel(&base, &user.access));
    let shop = "失败的小馆";
    let (id, _) = task_with_clips(&mut tasks, files.path(), shop, &[2.0]).await;
    tasks
        .start_analysis(StartAnalysisRequest { task_id: id })
        .await
        .expect("analyse");
    wait_status(
        &mut tasks,
        id,
        TaskStatus::ScriptReady,
        Duration::from_secs(120),
    )
    .await;
    tasks
        .start_compose(StartComposeRequest {
            task_id: id,
            ..Default::default()
        })
        .await
        .expect("compose");
    wait_status(&mut tasks, id, TaskStatus::Failed, Duration::from_secs(120)).await;
    let granted = Command::new(scout_bin())
        .arg("--config")
        .arg(dir.path().join("scout.toml"))
        .args(["admin", "grant", &boss.phone])
        .env_remove("SCOUT_CONFIG")
        .output()
        .expect("scout admin grant");
    assert!(
        granted.status.success(),
        "{}",
        String::from_utf8_lossy(&granted.stderr)
    );

    let shots = root().join("target/web-screenshots");
    let outbox = dir.path().join("sms-outbox.log");
    let run = browser_script(
        dir.path(),
        "admin.mjs",
        &[
            ("BASE_URL", base.as_str().as_ref()),
            ("OUTBOX", outbox.as_os_str()),
            ("ADMIN_PHONE", boss.phone.as_str().as_ref()),
            ("USER_PHONE", user.phone.as_str().as_ref()),
            ("FAILED_SHOP", shop.as_ref()),
            ("SCREENSHOTS", shots.as_os_str()),
        ],
    )
    .await;
    let stdout = &run.stdout;
    assert!(
        run.passed,
        "the admin panel flow failed ({}):\n{stdout}\n{}\n--- scout stderr ---\n{}",
        run.outcome,
        run.stderr,
        scout.stderr()
    );
    let passed = stdout.lines().filter(|l| l.contains("\"ok\":true")).count();
    assert!(passed >= 10, "only {passed} checkpoints passed:\n{stdout}");
    assert!(shots.join("admin-users-desktop.png").is_file());
    // The retry the page made went through: the task composes again.
    wait_status(
        &mut tasks,
        id,
        TaskStatus::Completed,
        Duration::from_secs(180),
    )
    .await;
}

/// The recipes in the browser (`web/e2e/recipes.mjs`): an ad creative made
/// from the form, its images and track uploaded, composed without a
/// script, played and downloaded; a document explainer from a Markdown
/// file, its slides as the script, composed.
#[tokio::test]
async fn the_product_recipes_work_in_a_real_browser() {
    require_built_app();
    let dir = tempfile::tempdir().expect("tempdir");
    let media = tempfile::tempdir().expect("media");
    for (i, colour) in ["orange", "teal", "purple"].iter().enumerate() {
        let status = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg(format!("color=c={colour}:s=600x800"))
            .args(["-frames:v", "1"])
            .arg(media.path().join(format!("{i}-{colour}.png")))
            .status()
            .expect("ffmpeg runs");
        assert!(status.success());
    }
    std::fs::write(media.path().join("track.wav"), wav_tone(48_000, 4.0, 330.0)).expect("track");
    clip(media.path(), "clip.mp4", 1.5);
    std::fs::write(
        media.path().join("guide.md"),
        "# Rust 入门\n\n安全又快。\n\n## 要点\n\n- 所有权\n- 借用\n\n## 代码\n\n```rust\nfn main() {}\n```\n",
    )
    .expect("guide");
    let (scout, base) = start_scout(dir.path(), &[], None).await;
    let shots = root().join("target/web-screenshots");
    let outbox = dir.path().join("sms-outbox.log");
    let run = browser_script(
        dir.path(),
        "recipes.mjs",
        &[
            ("BASE_URL", base.as_str().as_ref()),
            ("OUTBOX", outbox.as_os_str()),
            ("MEDIA", media.path().as_os_str()),
            ("SCREENSHOTS", shots.as_os_str()),
        ],
    )
    .await;
    let stdout = &run.stdout;
    assert!(
        run.passed,
        "the recipes flow failed ({}):\n{stdout}\n{}\n--- scout stderr ---\n{}",
        run.outcome,
        run.stderr,
        scout.stderr()
    );
    let passed = stdout.lines().filter(|l| l.contains("\"ok\":true")).count();
    assert!(passed >= 10, "only {passed} checkpoints passed:\n{stdout}");
    assert!(shots.join("recipe-03-result-phone.png").is_file());
}

/// How long one browser script may run before it is stopped: each step in
/// it has its own, shorter, deadline; this one catches a script that hangs
/// where none applies, so the test fails with what it printed so far
/// instead of being killed silently by the runner.
const BROWSER_SCRIPT_DEADLINE: Duration = Duration::from_secs(420);

struct ScriptRun {
    passed: bool,
    outcome: String,
    stdout: String,
    stderr: String,
}

/// Runs `web/e2e/{script}` with node, its output to files under `dir` (so
/// that what it printed survives a kill), stopped at the deadline.
async fn browser_script(
    dir: &std::path::Path,
    script: &str,
    env: &[(&str, &std::ffi::OsStr)],
) -> ScriptRun {
    let (out_path, err_path) = (
        dir.join(format!("{script}.stdout")),
        dir.join(format!("{script}.stderr")),
    );
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(root().join("web/e2e").join(script))
        .current_dir(root().join("web"))
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .spawn()
        .expect("node runs (scripts/install.sh installs it)");
    let (passed, outcome) = match tokio::time::timeout(BROWSER_SCRIPT_DEADLINE, child.wait()).await
    {
        Ok(status) => {
            let status = status.expect("wait for node");
            (status.success(), status.to_string())
        }
        Err(_) => {
            let _ = child.kill().await;
            (
                false,
                format!("still running after {BROWSER_SCRIPT_DEADLINE:?}, killed"),
            )
        }
    };
    let read = |p: &std::path::Path| std::fs::read_to_string(p).unwrap_or_default();
    ScriptRun {
        passed,
        outcome,
        stdout: read(&out_path),
        stderr: read(&err_path),
    }
}
