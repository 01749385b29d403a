//! The operator commands: scout probe, frames, say and compose, on files.

mod support;

use std::path::Path;
use std::process::Command;

use support::scout_bin;

fn run(args: &[&str], cwd: &Path) -> (i32, String, String) {
    let out = Command::new(scout_bin())
        .args(args)
        .current_dir(cwd)
        .env_remove("SCOUT_CONFIG")
        .output()
        .expect("scout runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn clip(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("clip.mp4");
    let ok = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1080x1920:rate=30:duration=3",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "30",
        ])
        .arg(&path)
        .status()
        .expect("ffmpeg");
    assert!(ok.success());
    path
}

#[test]
fn probe_frames_say_and_compose_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clip = clip(dir.path());

    let (code, out, err) = run(&["probe", clip.to_str().expect("utf-8")], dir.path());
    assert_eq!(code, 0, "{err}");
    let probe: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        (probe["width"].as_i64(), probe["video_codec"].as_str()),
        (Some(1080), Some("h264"))
    );

    let (code, out, err) = run(
        &["frames", "clip.mp4", "--every", "1", "-o", "frames"],
        dir.path(),
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("3 frames written"), "{out}");
    assert!(
        dir.path().join("frames/frame_3.jpg").exists()
            && dir.path().join("frames/thumb.jpg").exists()
    );

    let (code, out, err) = run(&["say", "你好，欢迎光临", "-o", "hello.wav"], dir.path());
    assert_eq!(code, 0, "{err}");
    let seconds: f64 = out
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .expect("duration");

    let timeline = serde_json::json!({
        "segments": [{"id": "p1", "clip": {"media": {"local_path": "clip.mp4"}}, "duration_seconds": seconds + 0.5}],
        "voice": [{"media": {"local_path": "hello.wav"}, "offset_seconds": 0}],
        "subtitles": {"style": "vibrant_yellow", "events": [{"start_seconds": 0, "end_seconds": seconds, "text": "你好，欢迎光临"}]},
        "branding": {"logo": {"local_path": "frames/thumb.jpg"}, "logo_scale": 0.2}
    });
    std::fs::write(dir.path().join("timeline.json"), timeline.to_string()).expect("write");
    let (code, out, err) = run(&["compose", "timeline.json", "-o", "out.mp4"], dir.path());
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("out.mp4 written: 1080x1920"), "{out}");
    for f in [
        "out.mp4",
        "out.ass",
        "out.jpg",
        "out.assets.zip",
        "out.jianying-draft.zip",
    ] {
        assert!(dir.path().join(f).exists(), "{f} missing");
    }
}

#[test]
fn operator_errors_are_one_clear_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("notes.mp4"), "not a video").expect("write");
    std::fs::write(
        dir.path().join("bad.json"),
        "{\"segments\": [{\"duration_seconds\": \"long\"}]}",
    )
    .expect("write");
    std::fs::write(dir.path().join("empty.json"), "{}").expect("write");
    for (args, needle) in [
        (vec!["probe", "notes.mp4"], "notes.mp4: not a media file"),
        (
            vec!["probe", "missing.mp4"],
            "missing.mp4: cannot read the file",
        ),
        (
            vec!["frames", "notes.mp4", "-o", "f"],
            "notes.mp4: not a media file",
        ),
        (
            vec!["frames", "missing.mp4", "--every", "0", "-o", "f"],
            "frame interval",
        ),
        (
            vec!["compose", "nope.json", "-o", "x.mp4"],
            "cannot read nope.json",
        ),
        (
            vec!["compose", "bad.json", "-o", "x.mp4"],
            "segments[0].duration_seconds",
        ),
        (
            vec!["compose", "empty.json", "-o", "x.mp4"],
            "the timeline has no segments",
        ),
        (vec!["say", "", "-o", "x.wav"], "text is empty"),
    ] {
        let (code, _, err) = run(&args, dir.path());
        assert_ne!(code, 0, "{args:?} succeeded");
        assert!(
            err.contains(needle),
            "{args:?}: expected {needle:?} in {err}"
        );
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: not one line: {err}"
        );
    }
}
