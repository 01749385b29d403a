//! Probe and frame extraction on the inputs a phone really produces.

mod support;

use scout_render::media::frames::{
    ExtractOptions, ExtractStats, ExtractedFrame, Pass, extract_frames, extract_with, thumbnail,
};
use scout_render::media::probe::probe;
use support::*;

#[test]
fn probe_reads_what_phones_produce() {
    let p = probe(&portrait(4), "portrait.mp4").expect("portrait");
    assert_eq!(
        (p.video_codec.as_str(), p.width, p.height, p.rotation),
        ("h264", 1080, 1920, 0)
    );
    assert_eq!((p.display_width, p.display_height), (1080, 1920));
    assert!((p.frame_rate - 30.0).abs() < 0.01 && !p.variable_frame_rate);
    assert!(
        (p.duration_seconds - 4.0).abs() < 0.1,
        "{}",
        p.duration_seconds
    );
    assert!(p.has_audio && p.audio_codec == "aac");
    assert_eq!((p.bit_depth, p.pixel_format.as_str()), (8, "yuv420p"));
    assert!(p.container.contains("mp4"));
    assert!(p.size_bytes > 0 && p.bit_rate > 0);

    let l = probe(&landscape(4), "landscape.mp4").expect("landscape");
    assert_eq!((l.display_width, l.display_height), (1920, 1080));

    let h = probe(&hevc10_rotated(), "hevc.mp4").expect("hevc");
    // `rotate=90` metadata is stored as a matrix FFmpeg reads back as 90°
    // counter-clockwise: the ffmpeg CLI shows it turned 270° clockwise, and so do we.
    assert_eq!(
        (h.video_codec.as_str(), h.bit_depth, h.rotation),
        ("hevc", 10, 270)
    );
    assert_eq!((h.width, h.height), (1280, 720));
    assert_eq!(
        (h.display_width, h.display_height),
        (720, 1280),
        "rotation swaps the display size"
    );
    assert!(!h.has_audio);

    let f = probe(&fps60(), "60fps.mp4").expect("60 fps");
    assert!((f.frame_rate - 60.0).abs() < 0.01);

    let v = probe(&vfr(), "vfr.mp4").expect("vfr");
    assert!(
        v.variable_frame_rate,
        "average {} vs nominal rate",
        v.frame_rate
    );

    let s = probe(&silent(), "silent.mp4").expect("no audio");
    assert!(!s.has_audio && s.audio_codec.is_empty());

    let o = probe(&one_second(), "1s.mp4").expect("one second");
    assert!((o.duration_seconds - 1.0).abs() < 0.1);

    let d = probe(&odd_dimensions(), "odd.mp4").expect("odd dimensions");
    assert_eq!((d.width, d.height), (1078, 1918));
}

#[test]
fn bad_files_are_refused_naming_the_file_and_the_problem() {
    for (path, name, needle) in [
        (not_media(), "videos/1/2/renamed.mp4", "not a media file"),
        (empty(), "videos/1/2/empty.mp4", "empty"),
        (
            truncated_plain(),
            "videos/1/2/cut-plain.mp4",
            "truncated upload",
        ),
        (
            truncated_faststart(),
            "videos/1/2/cut-faststart.mp4",
            "truncated",
        ),
    ] {
        let err = probe(&path, name).expect_err("refused");
        let msg = err.to_string();
        assert!(msg.starts_with(name), "error does not name the file: {msg}");
        assert!(msg.contains(needle), "{name}: expected {needle:?} in {msg}");
        let api = scout_common::ApiError::from(err);
        assert_eq!(api.code, scout_common::ErrorCode::InvalidMedia);
        assert_eq!(api.to_status().code(), tonic::Code::InvalidArgument);
    }
}

#[test]
fn frames_come_every_two_seconds_without_decoding_the_whole_clip() {
    let clip = portrait(10);
    let mut frames = Vec::new();
    let (stats, thumb) =
        extract_frames(&clip, "portrait.mp4", ExtractOptions::default(), 480, |f| {
            frames.push(f);
            Ok(())
        })
        .expect("frames");
    let times: Vec<f64> = frames.iter().map(|f| f.time).collect();
    assert_eq!(frames.len(), 5, "{times:?}");
    for (i, f) in frames.iter().enumerate() {
        assert!(
            (f.time - 2.0 * i as f64).abs() <= 0.5,
            "frame {} at {:.2} s is not within 0.5 s of its mark",
            f.index,
            f.time
        );
        assert_eq!((f.width, f.height), (1080, 1920));
        assert!(
            f.jpeg.starts_with(&[0xFF, 0xD8]) && f.jpeg.ends_with(&[0xFF, 0xD9]),
            "not a JPEG"
        );
    }
    assert_eq!(stats.total, 300);
    assert!(
        stats.decoded <= 10,
        "decoded {} of {} frames for 5 marks",
        stats.decoded,
        stats.total
    );
    // The thumbnail comes from the frame nearest 3 s, without another decode.
    assert_eq!((thumb.width, thumb.height), (270, 480));
    assert!(
        (thumb.time - 3.0).abs() <= 1.01,
        "thumbnail at {}",
        thumb.time
    );

    // Downscaled for analysis.
    let mut small = Vec::new();
    extract_frames(
        &clip,
        "portrait.mp4",
        ExtractOptions {
            max_dimension: 640,
            ..Default::default()
        },
        0,
        |f| {
            small.push((f.width, f.height));
            Ok(())
        },
    )
    .expect("frames");
    assert!(
        small.iter().all(|&(w, h)| h == 640 && w == 360),
        "{small:?}"
    );
}

#[test]
fn extracted_frames_are_upright_like_ffmpegs_own_autorotation() {
    let clip = hevc10_rotated();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut first = None;
    extract_frames(&clip, "hevc.mp4", ExtractOptions::default(), 480, |f| {
        if first.is_none() {
            first = Some(f);
        }
        Ok(())
    })
    .expect("frames");
    let first = first.expect("one frame");
    assert_eq!(
        (first.width, first.height),
        (720, 1280),
        "not turned upright"
    );
    let ours = dir.path().join("ours.jpg");
    std::fs::write(&ours, &first.jpeg).expect("write");
    // The ffmpeg CLI autorotates by default: the reference orientation.
    let theirs = dir.path().join("theirs.png");
    ffmpeg(&[
        "-i",
        clip.to_str().expect("utf-8"),
        "-frames:v",
        "1",
        theirs.to_str().expect("utf-8"),
    ]);
    let (w1, h1, a) = gray_pixels(&ours);
    let (w2, h2, b) = gray_pixels(&theirs);
    assert_eq!((w1, h1), (w2, h2));
    let db = psnr(&a, &b);
    assert!(
        db > 30.0,
        "our frame differs from FFmpeg's upright frame: PSNR {db:.1} dB"
    );
}

#[test]
fn thumbnails_and_short_or_odd_clips() {
    let t = thumbnail(&portrait(4), "portrait.mp4", 480).expect("thumbnail");
    assert_eq!((t.width, t.height), (270, 480));
    assert!(t.jpeg.len() > 1000);
    for (clip, name) in [
        (one_second(), "1s"),
        (odd_dimensions(), "odd"),
        (vfr(), "vfr"),
        (fps60(), "60fps"),
        (silent(), "silent"),
    ] {
        let mut n = 0;
        extract_frames(&clip, name, ExtractOptions::default(), 480, |_| {
            n += 1;
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(n >= 1, "{name}: no frame");
    }
    let err = extract_frames(
        &truncated_plain(),
        "cut.mp4",
        ExtractOptions::default(),
        480,
        |_| Ok(()),
    )
    .expect_err("refused");
    assert!(err.to_string().starts_with("cut.mp4"));
}

#[test]
fn frames_are_at_least_as_faithful_as_ffmpegs_q2_jpeg() {
    let clip = grainy();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ours = None;
    extract_frames(&clip, "grainy.mp4", ExtractOptions::default(), 480, |f| {
        if f.index == 1 {
            ours = Some(f);
        }
        Ok(())
    })
    .expect("frames");
    let ours = ours.expect("first frame");
    assert!(ours.time.abs() < 1e-6, "the first frame is at 0 s");
    let ours_path = dir.path().join("ours.jpg");
    std::fs::write(&ours_path, &ours.jpeg).expect("write");
    // The same frame, losslessly, and as the baseline encodes it.
    let (src, theirs) = (dir.path().join("src.yuv"), dir.path().join("ffmpeg-q2.jpg"));
    let clip_s = clip.to_str().expect("utf-8");
    ffmpeg(&[
        "-i",
        clip_s,
        "-frames:v",
        "1",
        "-pix_fmt",
        "yuvj420p",
        "-f",
        "rawvideo",
        src.to_str().expect("utf-8"),
    ]);
    ffmpeg(&[
        "-i",
        clip_s,
        "-frames:v",
        "1",
        "-q:v",
        "2",
        theirs.to_str().expect("utf-8"),
    ]);
    let ours_db = psnr_against_yuv(&ours_path, &src, "1080x1920");
    let theirs_db = psnr_against_yuv(&theirs, &src, "1080x1920");
    eprintln!(
        "PSNR ours {ours_db:.2} dB ({} bytes), ffmpeg -q:v 2 {theirs_db:.2} dB ({} bytes)",
        ours.jpeg.len(),
        std::fs::metadata(&theirs).map(|m| m.len()).unwrap_or(0)
    );
    assert!(
        ours_db >= theirs_db,
        "our JPEG ({ours_db:.2} dB) is less faithful than ffmpeg -q:v 2 ({theirs_db:.2} dB)"
    );
}

/// Every frame of one extraction on the CPU, the thumbnail and the cost.
fn extract_all(
    clip: &std::path::Path,
    name: &str,
    pass: Pass,
) -> (Vec<ExtractedFrame>, ExtractedFrame, ExtractStats) {
    let mut frames = Vec::new();
    let opts = ExtractOptions {
        max_dimension: 360,
        pass,
        ..ExtractOptions::default()
    };
    let (stats, thumb) = extract_with(clip, name, opts, 480, false, &mut |f| {
        frames.push(f);
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{name} ({pass:?}): {e}"));
    (frames, thumb, stats)
}

/// The one-pass extraction (which our NVDEC path uses, and the CPU where
/// keyframes are far apart) takes exactly the frames the seek per mark
/// takes: the same marks, times and JPEG bytes, and the same thumbnail, on
/// short and long GOPs, B-frames, HEVC 10-bit rotated, 60 fps and a
/// variable frame rate.
#[test]
fn one_pass_takes_exactly_the_frames_seeking_takes() {
    for (clip, name) in [
        (long_gop(), "long-gop"),
        (hevc10_long_gop(), "hevc10-long-gop"),
        (portrait(10), "portrait"),
        (hevc10_rotated(), "hevc10-rotated"),
        (fps60(), "60fps"),
        (vfr(), "vfr"),
    ] {
        let (seek, seek_thumb, _) = extract_all(&clip, name, Pass::Seek);
        let (sweep, sweep_thumb, _) = extract_all(&clip, name, Pass::Sweep);
        assert!(!seek.is_empty(), "{name}: no frames");
        let times = |v: &[ExtractedFrame]| -> Vec<(u32, String)> {
            v.iter()
                .map(|f| (f.index, format!("{:.4}", f.time)))
                .collect()
        };
        assert_eq!(times(&sweep), times(&seek), "{name}: other frames taken");
        for (a, b) in seek.iter().zip(&sweep) {
            assert!(
                a.jpeg == b.jpeg && (a.width, a.height) == (b.width, b.height),
                "{name}: frame {} differs",
                a.index
            );
        }
        assert!(
            sweep_thumb.jpeg == seek_thumb.jpeg && sweep_thumb.time == seek_thumb.time,
            "{name}: another thumbnail ({} s vs {} s)",
            sweep_thumb.time,
            seek_thumb.time
        );
    }
}

/// Where keyframes are far apart, seeking to each mark decodes the start
/// of a GOP again and again: the default pass then decodes each frame at
/// most once, and where they are close it still seeks (a frame or two per
/// mark).
#[test]
fn far_apart_keyframes_are_decoded_once_short_gops_are_sought() {
    let clip = long_gop();
    let (_, _, seek) = extract_all(&clip, "long-gop", Pass::Seek);
    let (frames, _, auto) = extract_all(&clip, "long-gop", Pass::Auto);
    assert_eq!(frames.len(), 6);
    assert_eq!(auto.total, 360);
    // Keyframes at 0, 5 and 10 s, marks every 2 s: one pass decodes 0-4 s,
    // 5-8 s and the keyframe at 10 s, about half the clip; seeking decodes
    // 0-1.5, 0-3.5, 5-5.5, 5-7.5 and 10 s.
    assert!(
        auto.decoded < seek.decoded && auto.decoded <= auto.total / 2 + 30,
        "one pass decoded {}, seeking {}, of {} frames",
        auto.decoded,
        seek.decoded,
        auto.total
    );
    let (_, _, short) = extract_all(&portrait(10), "portrait", Pass::Auto);
    assert!(
        short.decoded <= 10,
        "decoded {} frames for 5 marks",
        short.decoded
    );
}
