//! Test media made by the suite itself (FFmpeg's lavfi sources encoded the
//! way phones encode), cached under the target directory, and ffprobe
//! read-back for asserting outputs.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// Where generated media is kept between runs.
pub fn media_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("test-media");
    std::fs::create_dir_all(&dir).expect("media dir");
    dir
}

static GENERATE: Mutex<()> = Mutex::new(());

/// Runs the ffmpeg CLI (test tooling only; the render node never shells out to it).
pub fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg runs (scripts/install.sh installs it)");
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Generates `name` once with `make(path)`.
pub fn cached(name: &str, make: impl FnOnce(&str)) -> PathBuf {
    let _guard = GENERATE.lock().unwrap_or_else(|e| e.into_inner());
    let path = media_dir().join(name);
    if !path.exists() {
        let tmp = media_dir().join(format!("tmp-{}-{name}", std::process::id()));
        make(tmp.to_str().expect("utf-8 path"));
        std::fs::rename(&tmp, &path).expect("rename");
    }
    path
}

fn lavfi_video(size: &str, rate: u32, seconds: f64) -> String {
    format!("testsrc2=size={size}:rate={rate}:duration={seconds}")
}

fn lavfi_audio(seconds: f64) -> String {
    format!("sine=frequency=440:sample_rate=48000:duration={seconds}")
}

/// Portrait phone clip: 1080x1920 H.264 30 fps, keyframe every second, AAC.
pub fn portrait(seconds: u32) -> PathBuf {
    cached(&format!("portrait-{seconds}s.mp4"), |p| {
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &lavfi_video("1080x1920", 30, f64::from(seconds)),
            "-f",
            "lavfi",
            "-i",
            &lavfi_audio(f64::from(seconds)),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "30",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
            p,
        ]);
    })
}

/// Landscape clip: 1920x1080 H.264 30 fps with audio.
pub fn landscape(seconds: u32) -> PathBuf {
    cached(&format!("landscape-{seconds}s.mp4"), |p| {
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &lavfi_video("1920x1080", 30, f64::from(seconds)),
            "-f",
            "lavfi",
            "-i",
            &lavfi_audio(f64::from(seconds)),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "30",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
            p,
        ]);
    })
}

/// HEVC 10-bit, 1280x720 coded, with a 90° display rotation (an iPhone in portrait).
pub fn hevc10_rotated() -> PathBuf {
    cached("hevc10-rot90.mp4", |p| {
        let plain = format!("{p}.plain.mp4");
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &lavfi_video("1280x720", 30, 3.0),
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-x265-params",
            "log-level=error:keyint=30",
            "-pix_fmt",
            "yuv420p10le",
            "-tag:v",
            "hvc1",
            "-an",
            &plain,
        ]);
        // FFmpeg 5.1 writes the display matrix on a remux.
        ffmpeg(&[
            "-i",
            &plain,
            "-c",
            "copy",
            "-metadata:s:v:0",
            "rotate=90",
            p,
        ]);
        let _ = std::fs::remove_file(&plain);
    })
}

/// 60 fps portrait clip.
pub fn fps60() -> PathBuf {
    cached("fps60.mp4", |p| {
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &lavfi_video("1080x1920", 60, 3.0),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "60",
            "-an",
            p,
        ]);
    })
}

/// Keyframes far apart, as a camera or an encoder's defaults make them:
/// 720x1280 H.264 30 fps, 12 s, a keyframe every 5 s, three B-frames.
pub fn long_gop() -> PathBuf {
    cached("long-gop.mp4", |p| {
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &lavfi_video("720x1280", 30, 12.0),
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-g",
            "150",
            "-bf",
            "3",
            "-pix_fmt",
            "yuv420p",
            "-an",
            p,
        ]);
    })
}

/// HEVC Main 10 with x265's default keyframe distance (250 frames) and
/// B-frames: 720x1280, 10 s.
pub fn hevc10_long_gop() -> PathBuf {
    cached("hevc10-long-gop.mp4", |p| {
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &lavfi_video("720x1280", 30, 10.0),
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-x265-params",
            "log-level=error:bframes=3",
            "-pix_fmt",
            "yuv420p10le",
            "-tag:v",
            "hvc1",
            "-an",
            p,
        ]);
    })
}

/// Variable frame rate: frames dropped irregularly, timestamps kept.
pub fn vfr() -> PathBuf {
    cached("vfr.mp4", |p| {
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &lavfi_video("1080x1920", 30, 3.0),
            "-vf",
            "select='not(eq(mod(n\\,5)\\,1))*not(eq(mod(n\\,7)\\,3))'",
            "-fps_mode",
            "vfr",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-an",
            p,
        ]);
    })
}

/// No audio track.
pub fn silent() -> PathBuf {
    cached("silent.mp4", |p| {
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &lavfi_video("1080x1920", 30, 3.0),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "30",
            "-an",
            p,
        ]);
    })
}

/// A one-second clip.
pub fn one_second() -> PathBuf {
    cached("one-second.mp4", |p| {
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &lavfi_video("1080x1920", 30, 1.0),
            "-f",
            "lavfi",
            "-i",
            &lavfi_audio(1.0),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
            "-shortest",
            p,
        ]);
    })
}

/// Unusual dimensions, as some phones crop: 1078x1918 (not macroblock-aligned).
pub fn odd_dimensions() -> PathBuf {
    cached("odd-1078x1918.mp4", |p| {
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &lavfi_video("1078x1918", 30, 2.0),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-an",
            p,
        ]);
    })
}

/// A clip cut short after upload started: index first (faststart), data cut at 60 %.
pub fn truncated_faststart() -> PathBuf {
    cached("truncated-faststart.mp4", |p| {
        let whole = format!("{p}.whole.mp4");
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &lavfi_video("640x1136", 30, 4.0),
            "-f",
            "lavfi",
            "-i",
            &lavfi_audio(4.0),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
            "-movflags",
            "+faststart",
            &whole,
        ]);
        cut(&whole, p, 0.6);
    })
}

/// A clip cut short with its index at the end (the index is lost).
pub fn truncated_plain() -> PathBuf {
    cached("truncated-plain.mp4", |p| {
        let whole = format!("{p}.whole.mp4");
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &lavfi_video("640x1136", 30, 4.0),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            &whole,
        ]);
        cut(&whole, p, 0.6);
    })
}

fn cut(from: &str, to: &str, fraction: f64) {
    let data = std::fs::read(from).expect("read");
    std::fs::write(to, &data[..(data.len() as f64 * fraction) as usize]).expect("write");
    let _ = std::fs::remove_file(from);
}

/// A file that is not media at all.
pub fn not_media() -> PathBuf {
    cached("not-media.mp4", |p| {
        std::fs::write(
            p,
            b"this is a text file someone renamed to .mp4\n".repeat(50),
        )
        .expect("write")
    })
}

/// An empty file.
pub fn empty() -> PathBuf {
    cached("empty.mp4", |p| std::fs::write(p, b"").expect("write"))
}

/// Grainy, high-bit-rate portrait footage like a phone camera's (the
/// benchmark corpus's kind), where JPEG fidelity is hardest.
pub fn grainy() -> PathBuf {
    cached("grainy.mp4", |p| {
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1080x1920:rate=30:duration=2,format=yuv420p,noise=alls=10:allf=t+u",
            "-c:v",
            "libx264",
            "-preset",
            "fast",
            "-b:v",
            "12M",
            "-g",
            "30",
            "-an",
            p,
        ]);
    })
}

/// PSNR (dB, all planes) of an image against a raw yuvj420p frame, by ffmpeg's psnr filter.
pub fn psnr_against_yuv(image: &Path, yuv: &Path, size: &str) -> f64 {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-i"])
        .arg(image)
        .args(["-f", "rawvideo", "-pix_fmt", "yuvj420p", "-s", size, "-i"])
        .arg(yuv)
        .args([
            "-lavfi",
            "[0:v]format=yuvj420p[a];[a][1:v]psnr",
            "-f",
            "null",
            "-",
        ])
        .output()
        .expect("ffmpeg runs");
    let text = String::from_utf8_lossy(&out.stderr);
    text.split("average:")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no PSNR in {text}"))
}

/// A JPEG still.
pub fn still_jpeg() -> PathBuf {
    cached("still.jpg", |p| {
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1600x1200:duration=1",
            "-frames:v",
            "1",
            p,
        ])
    })
}

/// ffprobe's JSON for a file (streams and format).
pub fn ffprobe(path: &Path) -> serde_json::Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_streams",
            "-show_format",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    assert!(
        out.status.success(),
        "ffprobe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("ffprobe json")
}

/// The end time of the last packet of stream `kind` ("v" or "a"), seconds.
pub fn stream_end(path: &Path, kind: &str) -> f64 {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            kind,
            "-show_entries",
            "packet=pts_time,duration_time",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut it = l.split(',');
            let pts: f64 = it.next()?.parse().ok()?;
            let dur: f64 = it.next()?.parse().unwrap_or(0.0);
            Some(pts + dur)
        })
        .fold(0.0, f64::max)
}

/// Order of the top-level MP4 boxes.
pub fn mp4_boxes(path: &Path) -> Vec<String> {
    let data = std::fs::read(path).expect("read");
    let mut out = Vec::new();
    let mut i = 0usize;
    while i + 8 <= data.len() {
        let size = u32::from_be_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]) as usize;
        out.push(String::from_utf8_lossy(&data[i + 4..i + 8]).into_owned());
        let size = if size == 1 && i + 16 <= data.len() {
            u64::from_be_bytes(data[i + 8..i + 16].try_into().expect("8 bytes")) as usize
        } else {
            size
        };
        if size < 8 {
            break;
        }
        i += size;
    }
    out
}

/// Luma plane of a PNG/JPEG as decoded by ffmpeg (gray8), with its size.
pub fn gray_pixels(path: &Path) -> (u32, u32, Vec<u8>) {
    let probe = ffprobe(path);
    let w = probe["streams"][0]["width"].as_u64().expect("width") as u32;
    let h = probe["streams"][0]["height"].as_u64().expect("height") as u32;
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "rawvideo", "-pix_fmt", "gray", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(out.status.success());
    (w, h, out.stdout)
}

/// PSNR (dB) between two same-sized gray images.
pub fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len(), "images differ in size");
    let mse: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    if mse == 0.0 {
        99.0
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

/// The lowest per-frame PSNR (dB, the average over planes) between the
/// video streams of `a` and `b`, by FFmpeg's `psnr` filter. x264 on
/// several threads under a VBV is not bit-exact run to run (about 45 dB
/// between two CPU runs here), but a dropped or repeated frame shifts the
/// picture and falls to about 25 dB.
pub fn min_psnr(a: &Path, b: &Path) -> f64 {
    let out = Command::new("ffmpeg")
        .args(["-v", "info", "-i"])
        .arg(a)
        .arg("-i")
        .arg(b)
        .args(["-lavfi", "[0:v][1:v]psnr", "-f", "null", "-"])
        .output()
        .expect("ffmpeg runs");
    let err = String::from_utf8_lossy(&out.stderr);
    err.split("min:")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|v| {
            if v == "inf" {
                Some(f64::INFINITY)
            } else {
                v.parse().ok()
            }
        })
        .unwrap_or_else(|| panic!("no PSNR in {err}"))
}
