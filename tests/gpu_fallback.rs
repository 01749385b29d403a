//! The GPU stages' fallback, on any machine: a GPU decoder that fails in
//! the middle of a job (simulated here with `SCOUT_FAULTS_GPU_DECODE_AFTER_PACKETS`, which
//! labels the software decoder a GPU one and makes it fail after N packets)
//! is replaced by the CPU decoder for the rest of that work, the failure is
//! reported once, and the output is the one the CPU path makes: same spec,
//! same frames. A GPU encoder failing mid-job (`SCOUT_FAULTS_GPU_ENCODE_AFTER_FRAMES`:
//! libx264 answering like our NVENC session, failing after N frames) costs
//! the pass, which is redone with libx264: same spec, every frame; without
//! the fault that stand-in's Annex B output muxes to the same spec. Also: the
//! Capabilities of this node report its stage plans.

#[path = "../services/render/tests/support/mod.rs"]
mod media;
mod support;

use std::path::Path;
use std::process::Command;

use media::min_psnr;
use support::scout_bin;

fn run(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(scout_bin());
    cmd.args(args).current_dir(cwd).env_remove("SCOUT_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("scout runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ffprobe(path: &Path) -> serde_json::Value {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-print_format", "json", "-count_frames"])
        .args(["-show_streams", "-show_format"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).expect("json")
}

/// The output spec two video streams (ffprobe's JSON) must share, plus `more` keys.
fn same_spec(a: &serde_json::Value, b: &serde_json::Value, more: &[&str]) {
    for key in [
        "codec_name",
        "profile",
        "width",
        "height",
        "pix_fmt",
        "r_frame_rate",
        "nb_read_frames",
        "color_primaries",
    ]
    .iter()
    .chain(more)
    {
        assert_eq!(a[key], b[key], "{key}");
    }
}

/// Every GPU decode session leases one of the node's NVDEC slots: six
/// clips extracted at once (the simulated GPU decoder, which leases like
/// a real one) with `media.nvdec_sessions = 2` never run more than two
/// sessions at once, the others wait their turn; every session and its
/// frames are counted per slot, and the frames are the CPU's.
#[test]
fn decode_sessions_share_the_nodes_slots_and_are_counted() {
    use scout_common::config::{FaultsConfig, GpuMode};
    use scout_render::media::{frames, hw};
    let dir = tempfile::tempdir().expect("tempdir");
    let clip = dir.path().join("clip.mp4");
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=480x854:rate=30:duration=6")
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-g", "30"])
        .arg(&clip)
        .status()
        .expect("ffmpeg");
    assert!(ok.success());
    let extract = |gpu: bool| {
        let mut jpegs = Vec::new();
        frames::extract_with(
            &clip,
            "clip.mp4",
            frames::ExtractOptions::default(),
            480,
            gpu,
            &mut |f| {
                jpegs.push(f.jpeg);
                Ok(())
            },
        )
        .expect("frames");
        jpegs
    };
    let cpu = extract(false);
    hw::configure(
        GpuMode::Auto,
        &FaultsConfig {
            gpu_decode_after_packets: 1_000_000,
            ..FaultsConfig::default()
        },
    );
    hw::set_nvdec_sessions(2);
    let results: Vec<Vec<Vec<u8>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6).map(|_| s.spawn(|| extract(true))).collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("an extraction"))
            .collect()
    });
    for r in &results {
        assert!(r == &cpu, "the GPU-labelled frames differ from the CPU's");
    }
    let pool = hw::nvdec_pool();
    assert_eq!(pool.limit(), 2);
    assert_eq!(pool.peak(), 2, "two sessions at once, never more");
    let usage = pool.usage();
    assert_eq!(usage.len(), 2);
    // Each extraction runs a seeking worker per core (at most two), a
    // session each.
    let sessions: u64 = usage.iter().map(|u| u.sessions).sum();
    assert!(sessions == 6 || sessions == 12, "{usage:?}");
    assert!(
        usage
            .iter()
            .all(|u| u.sessions > 0 && u.frames > 0 && !u.busy),
        "{usage:?}"
    );
    assert!(pool.waits().0 > 0, "some sessions waited for a slot");
    assert_eq!(hw::fallbacks(), 0);
}

/// A clip whose keyframes are far apart is extracted in one pass (one
/// decode session, as our NVDEC path does it): the GPU failing in the
/// middle of that pass costs nothing but time, the same JPEGs come out.
#[test]
fn a_gpu_failing_in_a_one_pass_extraction_falls_back_with_the_same_frames() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=480x854:rate=30:duration=10")
        .args([
            "-c:v", "libx264", "-preset", "veryfast", "-g", "150", "-bf", "3",
        ])
        .arg(dir.path().join("long.mp4"))
        .status()
        .expect("ffmpeg");
    assert!(ok.success());
    let (code, cpu_out, err) = run(
        &["frames", "long.mp4", "--every", "2", "-o", "cpu"],
        dir.path(),
        &[("SCOUT_MEDIA_GPU", "off")],
    );
    assert_eq!(code, 0, "{err}");
    assert!(cpu_out.starts_with("5 frames"), "{cpu_out}");
    // The pass fails after 70 packets: past the second mark, before the end.
    let (code, out, err) = run(
        &["frames", "long.mp4", "--every", "2", "-o", "fault"],
        dir.path(),
        &[("SCOUT_FAULTS_GPU_DECODE_AFTER_PACKETS", "70")],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("the GPU failed 1 time(s); that work was redone on the CPU"),
        "{err}"
    );
    assert!(out.starts_with("5 frames"), "{out}");
    for i in 1..=5 {
        let a = std::fs::read(dir.path().join(format!("cpu/frame_{i}.jpg"))).expect("cpu frame");
        let b = std::fs::read(dir.path().join(format!("fault/frame_{i}.jpg"))).expect("frame");
        assert_eq!(a, b, "frame {i} differs");
    }
}

#[test]
fn a_gpu_failing_mid_job_falls_back_and_the_output_is_the_cpu_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=720x1280:rate=30:duration=4")
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-g", "30"])
        .arg(dir.path().join("clip.mp4"))
        .status()
        .expect("ffmpeg");
    assert!(ok.success());

    // Frame extraction: the fault lands in the middle; the same frames come out.
    let (code, cpu_out, err) = run(
        &["frames", "clip.mp4", "--every", "1", "-o", "cpu"],
        dir.path(),
        &[("SCOUT_MEDIA_GPU", "off")],
    );
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("GPU failed"), "{err}");
    let (code, out, err) = run(
        &["frames", "clip.mp4", "--every", "1", "-o", "fault"],
        dir.path(),
        &[("SCOUT_FAULTS_GPU_DECODE_AFTER_PACKETS", "2")],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("the GPU failed 1 time(s); that work was redone on the CPU"),
        "{err}"
    );
    assert_eq!(
        out.split(" frames").next(),
        cpu_out.split(" frames").next(),
        "{out} vs {cpu_out}"
    );
    for i in 1..=4 {
        let a = std::fs::read(dir.path().join(format!("cpu/frame_{i}.jpg"))).expect("cpu frame");
        let b = std::fs::read(dir.path().join(format!("fault/frame_{i}.jpg"))).expect("frame");
        assert_eq!(a, b, "frame {i} differs");
    }

    // Compose: the fault lands mid-segment; the window is decoded again on
    // the CPU without duplicating or dropping a frame.
    let timeline = serde_json::json!({
        "segments": [
            {"id": "a", "clip": {"media": {"local_path": "clip.mp4"}, "in_seconds": 0, "out_seconds": 2}, "duration_seconds": 2.0},
            {"id": "b", "clip": {"media": {"local_path": "clip.mp4"}, "in_seconds": 2, "out_seconds": 4}, "duration_seconds": 2.0}
        ]
    });
    std::fs::write(dir.path().join("timeline.json"), timeline.to_string()).expect("write");
    let (code, _, err) = run(
        &["compose", "timeline.json", "-o", "cpu.mp4"],
        dir.path(),
        &[("SCOUT_MEDIA_GPU", "off")],
    );
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(
        &["compose", "timeline.json", "-o", "fault.mp4"],
        dir.path(),
        &[("SCOUT_FAULTS_GPU_DECODE_AFTER_PACKETS", "25")],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("fault.mp4 written: 1080x1920"), "{out}");
    assert!(
        err.contains("the GPU failed 1 time(s); that work was redone on the CPU"),
        "{err}"
    );
    let (a, b) = (
        ffprobe(&dir.path().join("cpu.mp4")),
        ffprobe(&dir.path().join("fault.mp4")),
    );
    let video = |p: &serde_json::Value| {
        p["streams"]
            .as_array()
            .expect("streams")
            .iter()
            .find(|s| s["codec_type"] == "video")
            .cloned()
            .expect("video")
    };
    let (va, vb) = (video(&a), video(&b));
    same_spec(&va, &vb, &[]);
    assert_eq!(va["nb_read_frames"], "120");
    let psnr = min_psnr(&dir.path().join("cpu.mp4"), &dir.path().join("fault.mp4"));
    assert!(
        psnr > 40.0,
        "a frame was dropped or repeated: min PSNR {psnr:.1} dB"
    );

    // Encode: a GPU encoder (simulated: libx264 answering like our NVENC
    // session) fails after 50 of the 120 frames; the pass is redone with
    // libx264 and the output is the CPU one, same spec, every frame.
    let (code, out, err) = run(
        &["compose", "timeline.json", "-o", "encode-fault.mp4"],
        dir.path(),
        &[("SCOUT_FAULTS_GPU_ENCODE_AFTER_FRAMES", "50")],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("encode-fault.mp4 written: 1080x1920"), "{out}");
    // The result names the encoder that made the file: the CPU one.
    assert!(out.contains("encoded by libx264"), "{out}");
    assert!(
        err.contains("the GPU failed 1 time(s); that work was redone on the CPU"),
        "{err}"
    );
    let c = video(&ffprobe(&dir.path().join("encode-fault.mp4")));
    same_spec(&va, &c, &[]);
    let psnr = min_psnr(
        &dir.path().join("cpu.mp4"),
        &dir.path().join("encode-fault.mp4"),
    );
    assert!(psnr > 40.0, "min PSNR {psnr:.1} dB");

    // And with no fault, what our own encoders hand the muxer makes the
    // same spec (the simulated NVENC session encodes the whole job).
    let (code, out, err) = run(
        &["compose", "timeline.json", "-o", "annexb.mp4"],
        dir.path(),
        &[("SCOUT_FAULTS_GPU_ENCODE_AFTER_FRAMES", "100000")],
    );
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("GPU failed"), "{err}");
    assert!(out.contains("encoded by simulated-nvenc"), "{out}");
    let d = video(&ffprobe(&dir.path().join("annexb.mp4")));
    same_spec(&va, &d, &["color_range"]);
}
