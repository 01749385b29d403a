//! The face-aware crop, end to end on real parts: a landscape clip with
//! people off to the right is analysed as the vision worker analyses it
//! (frames every 2 s at 360 px, the bundled face detector), and composed
//! with CROP_FACE along the focus points it found: every sampled frame of
//! the 9:16 output shows faces (the detector finds them again), where the
//! centre crop of the same clip shows none.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use scout_common::config::MediaConfig;
use scout_proto::scout::common::v1::FocusPoint;
use scout_proto::scout::render::v1::{
    ClipSource, FitMode, MediaRef, Segment, ShortSourcePolicy, Timeline, media_ref::Location,
    segment::Source,
};
use scout_render::compose::compose_to_dir;
use scout_render::store::MediaSource;
use scout_vision::analyzer::{self, Frame};
use scout_vision::engine::{FRAME_EVERY, FRAME_SIZE};

fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// 6 s of 1920x1080: a grey room, the right third of a group photograph
/// (people's faces) near the right edge, drifting slowly left.
fn people_on_the_right(dir: &Path) -> PathBuf {
    let photo = root().join("services/vision/testdata/faces.jpg");
    let clip = dir.join("people-right.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=0x707070:s=1920x1080:d=6:r=30",
        "-loop",
        "1",
        "-i",
        photo.to_str().expect("utf-8"),
        "-filter_complex",
        "[1]crop=170:360:390:0,scale=560:-2[f];[0][f]overlay=x=1340-15*t:y=(H-h)/2:shortest=1,format=yuv420p",
        "-t",
        "6",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        clip.to_str().expect("utf-8"),
    ]);
    clip
}

/// What shot analysis finds: a frame every 2 s at 360 px, measured.
fn focus_of(clip: &Path, dir: &Path) -> Vec<FocusPoint> {
    let mut points = Vec::new();
    let mut t = 0.0;
    while t < 6.0 {
        let jpeg = dir.join(format!("analysed-{t}.jpg"));
        ffmpeg(&[
            "-ss",
            &format!("{t:.2}"),
            "-i",
            clip.to_str().expect("utf-8"),
            "-frames:v",
            "1",
            "-vf",
            &format!("scale={FRAME_SIZE}:-2"),
            jpeg.to_str().expect("utf-8"),
        ]);
        let bytes = std::fs::read(&jpeg).expect("frame");
        let m = analyzer::measure(&Frame::from_jpeg(&bytes).expect("jpeg"));
        let (x, y, face) = analyzer::focus(&m);
        points.push(FocusPoint {
            time_seconds: t,
            x,
            y,
            face,
        });
        t += FRAME_EVERY;
    }
    points
}

async fn compose(dir: &Path, clip: &Path, fit: FitMode, focus: &[FocusPoint]) -> PathBuf {
    let out = dir.join(format!("out-{}", fit.as_str_name()));
    std::fs::create_dir_all(&out).expect("out");
    let scratch = dir.join(format!("scratch-{}", fit.as_str_name()));
    std::fs::create_dir_all(&scratch).expect("scratch");
    let timeline = Timeline {
        segments: vec![Segment {
            id: "person".into(),
            source: Some(Source::Clip(ClipSource {
                media: Some(MediaRef {
                    location: Some(Location::LocalPath(clip.display().to_string())),
                }),
                in_seconds: 0.0,
                out_seconds: 0.0,
                focus: focus.to_vec(),
            })),
            duration_seconds: 5.0,
            fit: fit as i32,
            short_source: ShortSourcePolicy::SlowThenHold as i32,
            audio: None,
            transition_in: None,
        }],
        ..Default::default()
    };
    let media = MediaConfig {
        work_dir: dir.join("work"),
        ..MediaConfig::default()
    };
    compose_to_dir(
        &MediaSource::local_files(),
        &timeline,
        &media,
        &scratch,
        &out,
        Arc::new(|_| {}),
        Arc::new(AtomicBool::new(false)),
    )
    .await
    .expect("compose")
    .video
}

/// Faces the bundled detector finds in the frame at `t` of `video` (scaled
/// to 360 px wide, as analysis sees frames).
fn faces_at(video: &Path, t: f64, dir: &Path) -> usize {
    let raw = Command::new("ffmpeg")
        .args(["-v", "error", "-ss", &format!("{t:.2}"), "-i"])
        .arg(video)
        .args([
            "-frames:v",
            "1",
            "-vf",
            "scale=360:640",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "gray",
            "-",
        ])
        .current_dir(dir)
        .output()
        .expect("ffmpeg runs");
    assert!(raw.status.success());
    scout_vision::faces::detect(&raw.stdout, 360, 640).len()
}

#[tokio::test]
async fn a_person_shot_is_cropped_around_the_faces() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clip = people_on_the_right(dir.path());
    let focus = focus_of(&clip, dir.path());
    assert!(
        focus.iter().filter(|p| p.face).count() >= 2,
        "analysis finds the faces: {focus:?}"
    );
    assert!(
        focus.iter().filter(|p| p.face).all(|p| p.x > 0.7),
        "off to the right: {focus:?}"
    );
    let cropped = compose(dir.path(), &clip, FitMode::CropFace, &focus).await;
    let centred = compose(dir.path(), &clip, FitMode::CropCenter, &focus).await;
    for t in [0.3, 1.5, 2.5, 3.5, 4.6] {
        let found = faces_at(&cropped, t, dir.path());
        assert!(found >= 1, "no face in the face crop at {t} s");
        assert_eq!(
            faces_at(&centred, t, dir.path()),
            0,
            "the centre crop would have cut them out at {t} s"
        );
    }
}
