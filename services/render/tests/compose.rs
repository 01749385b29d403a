//! Compose for real: phone inputs and espeak speech in, a verified
//! 1080x1920 H.264/AAC file out, read back with ffprobe.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use futures::StreamExt;
use scout_common::adapters::blob::{BlobStore, LocalBlobStore};
use scout_common::config::{BlobConfig, MediaConfig};
use scout_proto::scout::common::v1::SubtitleStyle;
use scout_proto::scout::render::v1::{
    ClipSource, ComposeRequest, FitMode, MediaRef, MusicTrack, Segment, SegmentAudio,
    ShortSourcePolicy, StillSource, Timeline, compose_response::Event, media_ref::Location,
    segment::Source,
};
use scout_render::compose::narration::{self, Paragraph};
use scout_render::compose::{Composer, LocalOutputs, compose_to_dir};
use scout_render::store::MediaSource;
use scout_render::voice::{Espeak, VoiceProvider};
use support::*;

fn local(path: &Path) -> MediaRef {
    MediaRef {
        location: Some(Location::LocalPath(path.display().to_string())),
    }
}

/// A segment playing `clip` for `seconds` (its window centred in the clip).
fn clip_segment(
    clip: &Path,
    seconds: f64,
    fit: FitMode,
    policy: ShortSourcePolicy,
    audio: Option<SegmentAudio>,
) -> Segment {
    Segment {
        id: clip
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        source: Some(Source::Clip(ClipSource {
            media: Some(local(clip)),
            in_seconds: 0.0,
            out_seconds: 0.0,
            focus: Vec::new(),
        })),
        duration_seconds: seconds,
        fit: fit as i32,
        short_source: policy as i32,
        audio,
        transition_in: None,
    }
}

/// A second of the sample JPEG, blur-padded.
fn still_segment(ken_burns: bool) -> Segment {
    Segment {
        id: "still".into(),
        source: Some(Source::Still(StillSource {
            media: Some(local(&still_jpeg())),
            ken_burns,
        })),
        duration_seconds: 1.0,
        fit: FitMode::BlurPad as i32,
        short_source: 0,
        audio: None,
        transition_in: None,
    }
}

fn media_config(dir: &Path) -> MediaConfig {
    MediaConfig {
        work_dir: dir.join("work"),
        ..MediaConfig::default()
    }
}

/// Speaks `texts` with espeak-ng into WAVs under `dir`: (path, seconds).
async fn speak(dir: &Path, texts: &[&str]) -> Vec<(PathBuf, f64)> {
    let espeak = Espeak::new("espeak-ng", dir);
    let mut out = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        let s = espeak
            .synthesize(t, &Default::default())
            .await
            .expect("speech");
        let path = dir.join(format!("tts_para_{}.wav", i + 1));
        scout_render::media::audio::write_wav(&path, &s.samples).expect("wav");
        out.push((path, s.duration));
    }
    out
}

async fn compose(
    dir: &Path,
    timeline: &Timeline,
) -> Result<LocalOutputs, scout_render::RenderError> {
    let out = dir.join("out");
    std::fs::create_dir_all(&out).expect("out dir");
    let scratch = dir.join("scratch");
    std::fs::create_dir_all(&scratch).expect("scratch");
    compose_to_dir(
        &MediaSource::local_files(),
        timeline,
        &media_config(dir),
        &scratch,
        &out,
        Arc::new(|_| {}),
        Arc::new(AtomicBool::new(false)),
    )
    .await
}

/// Every field of the output spec, the duration and the A/V sync.
fn assert_output_spec(path: &Path, expected_duration: f64) {
    let p = ffprobe(path);
    let streams = p["streams"].as_array().expect("streams");
    let v = streams
        .iter()
        .find(|s| s["codec_type"] == "video")
        .expect("a video stream");
    let a = streams
        .iter()
        .find(|s| s["codec_type"] == "audio")
        .expect("an audio stream");
    assert_eq!(v["codec_name"], "h264");
    assert_eq!(v["profile"], "High");
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(1080), Some(1920))
    );
    assert_eq!(v["pix_fmt"], "yuv420p");
    assert_eq!(v["r_frame_rate"], "30/1");
    assert_eq!(v["avg_frame_rate"], "30/1", "not constant frame rate");
    assert_eq!(v["color_primaries"], "bt709");
    assert_eq!(v["color_transfer"], "bt709");
    assert_eq!(v["color_space"], "bt709");
    let vbr: f64 = v["bit_rate"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("video bit rate");
    assert!(
        (2_500_000.0..=5_500_000.0).contains(&vbr),
        "video bit rate {vbr} is not about 4 Mbps"
    );
    assert_eq!(a["codec_name"], "aac");
    assert_eq!(a["profile"], "LC");
    assert_eq!(a["sample_rate"], "48000");
    assert_eq!(a["channels"].as_u64(), Some(2));
    let abr: f64 = a["bit_rate"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("audio bit rate");
    assert!(
        (100_000.0..=140_000.0).contains(&abr),
        "audio bit rate {abr}"
    );
    let boxes = mp4_boxes(path);
    let moov = boxes.iter().position(|b| b == "moov").expect("moov");
    let mdat = boxes.iter().position(|b| b == "mdat").expect("mdat");
    assert!(moov < mdat, "not faststart: {boxes:?}");
    let duration: f64 = p["format"]["duration"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("duration");
    assert!(
        (duration - expected_duration).abs() <= 0.1,
        "duration {duration:.3} s, expected {expected_duration:.3} s"
    );
    // Closed GOPs: after a keyframe (in decode order) nothing is shown
    // before it, so a player seeking to any keyframe can decode from there
    // (Chromium fails on open-GOP leading pictures after a seek).
    let packets = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v",
            "-show_entries",
            "packet=pts_time,flags",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    let mut keyframe_pts: Option<f64> = None;
    for line in String::from_utf8_lossy(&packets.stdout).lines() {
        let mut cols = line.split(',');
        let pts: f64 = cols.next().and_then(|v| v.parse().ok()).expect("pts");
        let key = cols.next().is_some_and(|f| f.starts_with('K'));
        if key {
            keyframe_pts = Some(pts);
        } else if let Some(k) = keyframe_pts {
            assert!(
                pts > k,
                "open GOP: a picture at {pts} s follows the keyframe at {k} s"
            );
        }
    }
    let (v_end, a_end) = (stream_end(path, "v"), stream_end(path, "a"));
    assert!(
        (v_end - a_end).abs() < 0.04,
        "audio and video drift apart: video ends {v_end:.3} s, audio {a_end:.3} s"
    );
}

#[tokio::test]
async fn a_narrated_video_meets_the_output_spec() {
    let dir = tempfile::tempdir().expect("tempdir");
    let speech = speak(
        dir.path(),
        &[
            "家人们！今天探店望京的海底捞。",
            "人均八十九，招牌毛肚七上八下。",
            "喜欢记得点赞关注哦！",
        ],
    )
    .await;
    let clips = [portrait(6), landscape(6), hevc10_rotated()];
    let paragraphs: Vec<Paragraph> = speech
        .iter()
        .zip(&clips)
        .enumerate()
        .map(|(i, ((wav, secs), clip))| Paragraph {
            id: format!("para_{}", i + 1),
            clip: local(clip),
            voice: local(wav),
            voice_seconds: *secs,
            text: [
                "家人们！今天探店望京的海底捞。",
                "人均八十九，招牌毛肚七上八下。",
                "喜欢记得点赞关注哦！",
            ][i]
                .into(),
            words: Vec::new(),
            fit: Default::default(),
            focus: Vec::new(),
            scene: None,
            still: false,
        })
        .collect();
    let expected: f64 = speech.iter().map(|(_, s)| s + 0.5).sum();
    let timeline = narration::timeline(&paragraphs, Some(SubtitleStyle::DouyinHot), None, None);
    let out = compose(dir.path(), &timeline).await.expect("compose");
    assert_output_spec(&out.video, expected);
    assert_eq!((out.width, out.height), (1080, 1920));
    assert!((out.duration - expected).abs() <= 0.1);

    // The subtitle, cover and assets pack are there and whole.
    let ass = std::fs::read_to_string(out.subtitle.as_ref().expect("subtitle")).expect("ass");
    assert!(ass.contains("海底捞") && ass.contains("Style: DouyinHot"));
    let cover = ffprobe(&out.cover);
    assert_eq!(
        (
            cover["streams"][0]["width"].as_u64(),
            cover["streams"][0]["height"].as_u64()
        ),
        (Some(1080), Some(1920))
    );
    let zip = std::fs::File::open(&out.assets).expect("assets");
    let mut archive = zip::ZipArchive::new(zip).expect("a zip");
    let names: Vec<String> = (0..archive.len())
        .map(|i| {
            archive
                .by_index(i)
                .expect("entry")
                .name()
                .expect("name")
                .to_string()
        })
        .collect();
    assert_eq!(
        names,
        vec!["final.mp4", "subtitle.ass", "voice.wav", "segments.json"]
    );
    let segments: serde_json::Value =
        serde_json::from_reader(archive.by_name("segments.json").expect("segments")).expect("json");
    assert_eq!(segments["segments"].as_array().map(Vec::len), Some(3));
    // The rotated 3 s HEVC shot is shorter than its slot: slowed, never black.
    let third = &segments["segments"][2];
    assert!(
        third["play"]["Clip"]["speed"].as_f64().expect("speed") < 1.0,
        "{third}"
    );

    // No frame is black: sample one per paragraph from the output.
    let frames_dir = dir.path().join("check");
    std::fs::create_dir_all(&frames_dir).expect("dir");
    for (i, t) in [0.5, speech[0].1 + 1.0, expected - 0.2].iter().enumerate() {
        let png = frames_dir.join(format!("f{i}.png"));
        ffmpeg(&[
            "-ss",
            &format!("{t:.2}"),
            "-i",
            out.video.to_str().expect("utf-8"),
            "-frames:v",
            "1",
            png.to_str().expect("utf-8"),
        ]);
        let (_, _, luma) = gray_pixels(&png);
        let mean = luma.iter().map(|v| f64::from(*v)).sum::<f64>() / luma.len() as f64;
        assert!(
            mean > 40.0,
            "frame at {t:.2} s is black (mean luma {mean:.1})"
        );
    }
}

#[tokio::test]
async fn every_kind_of_phone_input_composes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let speech = speak(dir.path(), &["六十帧的画面。", "可变帧率的画面。"]).await;
    let seg = |clip: PathBuf, d: f64, fit: FitMode, policy: ShortSourcePolicy, mix: bool| {
        clip_segment(
            &clip,
            d,
            fit,
            policy,
            Some(SegmentAudio { mix, volume: 0.8 }),
        )
    };
    let mut timeline = Timeline {
        segments: vec![
            seg(
                fps60(),
                1.5,
                FitMode::BlurPad,
                ShortSourcePolicy::SlowThenHold,
                false,
            ),
            seg(
                vfr(),
                1.5,
                FitMode::BlurPad,
                ShortSourcePolicy::SlowThenHold,
                false,
            ),
            seg(
                silent(),
                1.0,
                FitMode::BlurPad,
                ShortSourcePolicy::SlowThenHold,
                true,
            ),
            seg(
                one_second(),
                2.5,
                FitMode::BlurPad,
                ShortSourcePolicy::Loop,
                false,
            ),
            seg(
                odd_dimensions(),
                1.0,
                FitMode::CropCenter,
                ShortSourcePolicy::Hold,
                false,
            ),
            seg(
                landscape(4),
                1.5,
                FitMode::Letterbox,
                ShortSourcePolicy::SlowThenHold,
                true,
            ),
            seg(
                landscape(4),
                1.0,
                FitMode::CropCenter,
                ShortSourcePolicy::SlowThenHold,
                false,
            ),
        ],
        ..Default::default()
    };
    timeline.segments.push(still_segment(true));
    timeline.voice = speech
        .iter()
        .enumerate()
        .map(|(i, (wav, _))| scout_proto::scout::render::v1::AudioTrack {
            media: Some(local(wav)),
            offset_seconds: 3.0 * i as f64,
            volume: 1.0,
            id: format!("v{i}"),
        })
        .collect();
    // Music: the portrait clip's tone, looped and ducked under the voice.
    timeline.music = Some(MusicTrack {
        media: Some(local(&portrait(4))),
        volume: 0.3,
        duck_under_voice: true,
        fade_seconds: 0.5,
    });
    let expected: f64 = timeline.segments.iter().map(|s| s.duration_seconds).sum();
    let out = compose(dir.path(), &timeline).await.expect("compose");
    assert_output_spec(&out.video, expected);
    assert!(out.subtitle.is_none());
}

#[tokio::test]
async fn a_truncated_clip_fails_naming_it_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let blobs_dir = dir.path().join("blobs");
    let store = Arc::new(
        LocalBlobStore::new(
            &BlobConfig {
                dir: blobs_dir.clone(),
                ..BlobConfig::default()
            },
            "http://127.0.0.1:1",
        )
        .expect("store"),
    );
    let good = std::fs::read(portrait(4)).expect("read");
    let cut = std::fs::read(truncated_faststart()).expect("read");
    store
        .put("videos/1/7/good.mp4", good.into(), None)
        .await
        .expect("put");
    store
        .put("videos/1/7/cut.mp4", cut.into(), None)
        .await
        .expect("put");
    let speech = speak(dir.path(), &["你好"]).await;
    store
        .put_file("audio/7/tts_para_1.wav", &speech[0].0, None)
        .await
        .expect("put");
    let key = |k: &str| MediaRef {
        location: Some(Location::BlobKey(k.into())),
    };
    let composer = Composer::new(MediaSource::blobs(store.clone()), &media_config(dir.path()));

    let bad = narration::timeline(
        &[
            Paragraph {
                id: "p1".into(),
                clip: key("videos/1/7/good.mp4"),
                voice: key("audio/7/tts_para_1.wav"),
                voice_seconds: speech[0].1,
                text: "你好".into(),
                words: Vec::new(),
                fit: Default::default(),
                focus: Vec::new(),
                scene: None,
                still: false,
            },
            Paragraph {
                id: "p2".into(),
                clip: key("videos/1/7/cut.mp4"),
                voice: key("audio/7/tts_para_1.wav"),
                voice_seconds: speech[0].1,
                text: "你好".into(),
                words: Vec::new(),
                fit: Default::default(),
                focus: Vec::new(),
                scene: None,
                still: false,
            },
        ],
        Some(SubtitleStyle::SimpleWhite),
        None,
        None,
    );
    let mut stream = composer
        .start(ComposeRequest {
            job_id: "job-1".into(),
            timeline: Some(bad),
            output_prefix: "output/7/".into(),
        })
        .expect("started");
    let mut error = None;
    while let Some(item) = stream.next().await {
        if let Err(status) = item {
            error = Some(status);
        }
    }
    let status = error.expect("the job failed");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(
        status.message().contains("videos/1/7/cut.mp4") && status.message().contains("truncated"),
        "{}",
        status.message()
    );
    assert!(
        store.list("output/").await.expect("list").is_empty(),
        "a failed job published outputs"
    );
    assert!(
        std::fs::read_dir(dir.path().join("work"))
            .map(|d| d.count())
            .unwrap_or(0)
            == 0,
        "scratch left behind"
    );

    // The same job with good clips streams progress, then publishes all four outputs.
    let good_tl = narration::timeline(
        &[Paragraph {
            id: "p1".into(),
            clip: key("videos/1/7/good.mp4"),
            voice: key("audio/7/tts_para_1.wav"),
            voice_seconds: speech[0].1,
            text: "你好".into(),
            words: Vec::new(),
            fit: Default::default(),
            focus: Vec::new(),
            scene: None,
            still: false,
        }],
        Some(SubtitleStyle::SimpleWhite),
        None,
        None,
    );
    let mut stream = composer
        .start(ComposeRequest {
            job_id: "job-2".into(),
            timeline: Some(good_tl),
            output_prefix: "output/7".into(),
        })
        .expect("started");
    let mut progress = Vec::new();
    let mut result = None;
    while let Some(item) = stream.next().await {
        match item.expect("no error").event {
            Some(Event::Progress(p)) => progress.push(p.percent),
            Some(Event::Result(r)) => result = Some(r),
            None => {}
        }
    }
    let result = result.expect("a result");
    assert!(
        progress.len() >= 2 && progress.windows(2).all(|w| w[0] <= w[1]),
        "{progress:?}"
    );
    assert_eq!(result.video_key, "output/7/final.mp4");
    let listed = store.list("output/7/").await.expect("list");
    let (pieces, outputs): (Vec<&String>, Vec<&String>) = listed
        .iter()
        .partition(|k| k.starts_with("output/7/pieces/"));
    assert_eq!(
        outputs,
        vec![
            "output/7/assets.zip",
            "output/7/cover.jpg",
            "output/7/final.mp4",
            "output/7/jianying-draft.zip",
            "output/7/preview.mp4",
            "output/7/subtitle.ass"
        ]
    );
    // The one piece of the video, kept for the next compose, and its still.
    assert_eq!(pieces.len(), 2, "{pieces:?}");
    let meta = store
        .head("output/7/final.mp4")
        .await
        .expect("head")
        .expect("exists");
    assert_eq!(meta.size as i64, result.file_size);
}

/// The frame at `t` seconds of `video`, as gray pixels (width, height, luma).
fn frame_at(video: &Path, t: f64, png: &Path) -> (u32, u32, Vec<u8>) {
    ffmpeg(&[
        "-ss",
        &format!("{t:.2}"),
        "-i",
        video.to_str().expect("utf-8"),
        "-frames:v",
        "1",
        png.to_str().expect("utf-8"),
    ]);
    gray_pixels(png)
}

/// Mean absolute difference of two frames inside a rectangle.
fn region_difference(
    a: &(u32, u32, Vec<u8>),
    b: &(u32, u32, Vec<u8>),
    (x0, y0, x1, y1): (u32, u32, u32, u32),
) -> f64 {
    let w = a.0 as usize;
    let mut sum = 0.0;
    let mut n = 0.0;
    for y in y0 as usize..y1 as usize {
        for x in x0 as usize..x1 as usize {
            sum += (f64::from(a.2[y * w + x]) - f64::from(b.2[y * w + x])).abs();
            n += 1.0;
        }
    }
    sum / n
}

#[tokio::test]
async fn the_ai_labels_are_in_the_picture_and_the_metadata() {
    use scout_proto::scout::render::v1::{AigcLabel, AigcMark, Corner};
    let dir = tempfile::tempdir().expect("tempdir");
    let text = "家人们！今天探店望京的海底捞。";
    let speech = speak(dir.path(), &[text]).await;
    let paragraphs = vec![Paragraph {
        id: "para_1".into(),
        clip: local(&portrait(6)),
        voice: local(&speech[0].0),
        voice_seconds: speech[0].1,
        text: text.into(),
        words: Vec::new(),
        fit: Default::default(),
        focus: Vec::new(),
        scene: None,
        still: false,
    }];
    let plain = narration::timeline(&paragraphs, Some(SubtitleStyle::SimpleWhite), None, None);
    let mut labelled = plain.clone();
    labelled.aigc = Some(AigcLabel {
        mark: Some(AigcMark {
            text: "AI生成".into(),
            corner: Corner::TopLeft as i32,
            seconds: 1.5,
        }),
        producer: "Shop Video Scout".into(),
        content_id: "scout-task-1-job".into(),
        generated: vec!["script".into(), "voice".into()],
    });
    let a = dir.path().join("plain");
    let b = dir.path().join("labelled");
    let plain_out = compose(&a, &plain).await.expect("compose");
    let labelled_out = compose(&b, &labelled).await.expect("compose labelled");
    assert_output_spec(&labelled_out.video, plain_out.duration);

    // Implicit: the AIGC tag in the container, as ffprobe reads it.
    let tags = &ffprobe(&labelled_out.video)["format"]["tags"];
    let aigc: serde_json::Value = serde_json::from_str(
        tags["AIGC"]
            .as_str()
            .unwrap_or_else(|| panic!("no AIGC tag: {tags}")),
    )
    .expect("the AIGC tag is JSON");
    assert_eq!(aigc["Label"], "1");
    assert_eq!(aigc["ProduceID"], "scout-task-1-job");
    assert_eq!(aigc["ReservedCode1"], "script,voice");
    assert!(ffprobe(&plain_out.video)["format"]["tags"]["AIGC"].is_null());

    // Explicit: the mark's corner differs while it shows, and not after.
    let corner = (
        scout_render::subtitles::MARK_MARGIN_X,
        scout_render::subtitles::MARK_MARGIN_V,
        scout_render::subtitles::MARK_MARGIN_X + 200,
        scout_render::subtitles::MARK_MARGIN_V + 60,
    );
    let check = dir.path().join("check");
    std::fs::create_dir_all(&check).expect("dir");
    let during = region_difference(
        &frame_at(&plain_out.video, 0.5, &check.join("p1.png")),
        &frame_at(&labelled_out.video, 0.5, &check.join("l1.png")),
        corner,
    );
    let after = region_difference(
        &frame_at(&plain_out.video, 2.5, &check.join("p2.png")),
        &frame_at(&labelled_out.video, 2.5, &check.join("l2.png")),
        corner,
    );
    assert!(during > 12.0, "the mark shows in its corner: {during:.1}");
    assert!(after < 3.0, "and is gone after its seconds: {after:.1}");
    // The user's subtitle file carries the captions only.
    let ass =
        std::fs::read_to_string(labelled_out.subtitle.as_ref().expect("subtitle")).expect("ass");
    assert!(!ass.contains("AigcMark"), "{ass}");
}

/// Mono f32 samples of `video`'s audio at 48 kHz.
fn audio_of(video: &Path) -> Vec<f32> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(video)
        .args(["-ac", "1", "-ar", "48000", "-f", "f32le", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(out.status.success());
    out.stdout
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Captions follow the voice: each paragraph's captions split at its
/// phrases, each starting within 150 ms of where its first word's sound
/// starts in the encoded output, karaoke timing for every word.
#[tokio::test]
async fn captions_start_with_their_words_in_the_output() {
    use scout_render::voice::Speech;
    let dir = tempfile::tempdir().expect("tempdir");
    let texts = [
        "家人们好，今天带你们探店，这家火锅真的绝了！",
        "人均八十九，毛肚七上八下，服务也很贴心。",
    ];
    let espeak = Espeak::new("espeak-ng", dir.path());
    let clips = [portrait(8), landscape(8)];
    let mut paragraphs = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let s: Speech = espeak
            .synthesize(text, &Default::default())
            .await
            .expect("speech");
        let wav = dir.path().join(format!("tts_{i}.wav"));
        scout_render::media::audio::write_wav(&wav, &s.samples).expect("wav");
        paragraphs.push(Paragraph {
            id: format!("para_{}", i + 1),
            clip: local(&clips[i]),
            voice: local(&wav),
            voice_seconds: s.duration,
            text: (*text).into(),
            words: s.word_times(text),
            fit: Default::default(),
            focus: Vec::new(),
            scene: None,
            still: false,
        });
    }
    let timeline = narration::timeline(&paragraphs, Some(SubtitleStyle::Karaoke), None, None);
    let events = timeline
        .subtitles
        .as_ref()
        .expect("subtitles")
        .events
        .clone();
    // Each paragraph's three phrases make two captions (a line's worth each).
    assert_eq!(events.len(), 4, "split at phrases: {events:#?}");
    assert!(events[0].text.ends_with('，') && events[1].text.ends_with('！'));
    assert!(events.iter().all(|e| !e.words.is_empty()));
    let out = compose(dir.path(), &timeline).await.expect("compose");
    let audio = audio_of(&out.video);
    // The output's loudness in 10 ms frames; a word starts where it rises.
    let frames: Vec<f32> = audio
        .chunks(480)
        .map(|c| (c.iter().map(|v| v * v).sum::<f32>() / c.len() as f32).sqrt())
        .collect();
    let peak = frames.iter().copied().fold(0.0f32, f32::max);
    let loud = |i: usize| frames.get(i).is_some_and(|e| *e > peak * 0.04);
    for e in &events {
        let at = (e.start_seconds * 100.0).round() as usize;
        // A word's sound starts (quiet, then loud) within 150 ms of the caption.
        let onset = (at.saturating_sub(15)..=at + 15).find(|&i| i > 0 && loud(i) && !loud(i - 1));
        assert!(
            onset.is_some(),
            "no word starts within 150 ms of the caption at {:.2} s: {}",
            e.start_seconds,
            e.text
        );
    }
    // The karaoke style lights each word as it is spoken.
    let ass = std::fs::read_to_string(out.subtitle.as_ref().expect("subtitle")).expect("ass");
    assert!(ass.contains("Style: Karaoke"), "{ass}");
    assert!(ass.contains("\\kf"), "no karaoke timing: {ass}");
}

/// Each decoded frame's MD5 (`ffmpeg -f framemd5`), in order.
fn frame_hashes(video: &Path) -> Vec<String> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(video)
        .args(["-map", "0:v", "-f", "framemd5", "-"])
        .output()
        .expect("ffmpeg runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit(',').next().map(|h| h.trim().to_string()))
        .collect()
}

/// Runs a compose job on `composer` to the end: its preview key (if one
/// was announced) and its result.
async fn compose_job(
    composer: &Composer,
    prefix: &str,
    timeline: &Timeline,
) -> (
    Option<String>,
    scout_proto::scout::render::v1::ComposeResult,
) {
    let mut stream = composer
        .start(ComposeRequest {
            job_id: format!("job-{}", scout_common::testing::unique()),
            timeline: Some(timeline.clone()),
            output_prefix: prefix.into(),
        })
        .expect("started");
    let (mut preview, mut result) = (None, None);
    while let Some(item) = stream.next().await {
        match item.expect("no error").event {
            Some(Event::Progress(p)) if !p.preview_key.is_empty() => {
                assert!(result.is_none(), "the preview came after the result");
                preview = Some(p.preview_key);
            }
            Some(Event::Result(r)) => result = Some(r),
            _ => {}
        }
    }
    (preview, result.expect("a result"))
}

/// A re-compose after a one-paragraph edit encodes that paragraph's piece
/// alone and joins it with the kept ones: the output meets the spec, is
/// frame for frame what a from-scratch compose of the edited script makes
/// (so PSNR is unbounded outside the edit, and inside it), and audio and
/// video stay in step. The first compose hands out a 540x960 preview with
/// captions and audio before its result; the re-compose, mostly reused,
/// needs none.
#[tokio::test]
async fn a_re_compose_encodes_only_the_edited_paragraph() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(
        LocalBlobStore::new(
            &BlobConfig {
                dir: dir.path().join("blobs"),
                ..BlobConfig::default()
            },
            "http://127.0.0.1:1",
        )
        .expect("store"),
    );
    let texts = [
        "家人们好！今天带你们来一家望京的宝藏火锅店。",
        "一进门就是满满的烟火气，服务员特别热情。",
        "人均八十九，招牌毛肚七上八下刚刚好。",
        "喜欢的话记得点赞关注，下期见！",
    ];
    let speech = speak(dir.path(), &texts).await;
    let clips = [portrait(4), landscape(4), portrait(4), landscape(4)];
    let mut paragraphs = Vec::new();
    for (i, ((wav, secs), clip)) in speech.iter().zip(&clips).enumerate() {
        let (clip_key, voice_key) = (format!("videos/1/9/{i}.mp4"), format!("audio/9/{i}.wav"));
        store
            .put_file(&clip_key, clip, None)
            .await
            .expect("put clip");
        store
            .put_file(&voice_key, wav, None)
            .await
            .expect("put voice");
        paragraphs.push(Paragraph {
            id: format!("para_{}", i + 1),
            clip: MediaRef {
                location: Some(Location::BlobKey(clip_key)),
            },
            voice: MediaRef {
                location: Some(Location::BlobKey(voice_key)),
            },
            voice_seconds: *secs,
            text: texts[i].into(),
            words: Vec::new(),
            fit: Default::default(),
            focus: Vec::new(),
            scene: None,
            still: false,
        });
    }
    let labelled = |paragraphs: &[Paragraph]| {
        let mut t = narration::timeline(paragraphs, Some(SubtitleStyle::SimpleWhite), None, None);
        t.aigc = Some(scout_proto::scout::render::v1::AigcLabel {
            mark: Some(scout_proto::scout::render::v1::AigcMark {
                text: "AI生成".into(),
                corner: 0,
                seconds: 0.0,
            }),
            ..Default::default()
        });
        t
    };
    let composer = Composer::new(MediaSource::blobs(store.clone()), &media_config(dir.path()));
    let (preview, first) = compose_job(&composer, "output/9/", &labelled(&paragraphs)).await;
    assert_eq!((first.pieces, first.reused_pieces), (4, 0));
    // The preview: small, captioned, with its audio, as long as the video.
    let preview = preview.expect("a preview before the result");
    assert_eq!(preview, "output/9/preview.mp4");
    let local_preview = dir.path().join("preview.mp4");
    fetch(&store, &preview, &local_preview).await;
    let p = ffprobe(&local_preview);
    let streams = p["streams"].as_array().expect("streams");
    let v = streams
        .iter()
        .find(|s| s["codec_type"] == "video")
        .expect("video");
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(540), Some(960))
    );
    assert!(streams.iter().any(|s| s["codec_type"] == "audio"));
    let preview_end = stream_end(&local_preview, "v");
    assert!(
        (preview_end - first.duration_seconds).abs() < 0.1,
        "preview {preview_end:.2} s, video {:.2} s",
        first.duration_seconds
    );

    let original = dir.path().join("original.mp4");
    fetch(&store, "output/9/final.mp4", &original).await;

    // One paragraph's words edited (a longer caption over the same speech).
    paragraphs[1].text = "一进门就是满满的烟火气，服务员小姐姐特别热情！".into();
    let edited = labelled(&paragraphs);
    let (preview, again) = compose_job(&composer, "output/9/", &edited).await;
    assert_eq!(
        (again.pieces, again.reused_pieces),
        (4, 3),
        "only the edited paragraph is encoded again"
    );
    assert!(preview.is_none(), "a mostly reused compose has no preview");
    let recomposed = dir.path().join("recomposed.mp4");
    fetch(&store, "output/9/final.mp4", &recomposed).await;
    let expected: f64 = speech.iter().map(|(_, s)| s + 0.5).sum();
    assert_output_spec(&recomposed, expected);
    // Only the pieces of this compose are kept.
    let kept = store.list("output/9/pieces/").await.expect("list");
    assert_eq!(kept.len(), 8, "{kept:?}");

    // A kept piece damaged in the store (cut short) is encoded again, not
    // joined: the compose still succeeds, with the same output.
    let damaged = kept
        .iter()
        .find(|k| k.ends_with(".mp4"))
        .expect("a kept piece");
    let bytes = store.get(damaged).await.expect("piece");
    store
        .put(damaged, bytes.slice(..bytes.len() / 2), None)
        .await
        .expect("damage");
    let (_, mended) = compose_job(&composer, "output/9/", &edited).await;
    assert_eq!((mended.pieces, mended.reused_pieces), (4, 3));
    let again = dir.path().join("mended.mp4");
    fetch(&store, "output/9/final.mp4", &again).await;
    assert_output_spec(&again, expected);

    // From scratch (another task, nothing kept), the same script gives the
    // same pictures: libx264 under a VBV on several threads is not bit
    // exact from run to run, so they are compared by PSNR, every frame.
    let (_, fresh) = compose_job(&composer, "output/10/", &edited).await;
    assert_eq!(fresh.reused_pieces, 0);
    let scratch = dir.path().join("scratch.mp4");
    fetch(&store, "output/10/final.mp4", &scratch).await;
    assert_output_spec(&scratch, expected);
    let (a, b) = (frame_hashes(&recomposed), frame_hashes(&scratch));
    assert_eq!(a.len(), b.len());
    assert!(!a.is_empty());
    let worst = min_psnr(&recomposed, &scratch);
    assert!(
        worst >= 40.0,
        "a frame differs from a from-scratch compose: min PSNR {worst:.1} dB"
    );
    // Against the first compose: outside the edited paragraph every frame
    // is the same (the same encoded pieces); inside it the new caption shows.
    let c = frame_hashes(&original);
    assert_eq!(c.len(), a.len(), "the edit kept the speech, so the length");
    let fps = 30.0;
    let start = ((speech[0].1 + 0.5) * fps).round() as usize;
    let end = start + ((speech[1].1 + 0.5) * fps).round() as usize;
    let outside: Vec<usize> = (0..a.len())
        .filter(|&i| (i < start || i >= end) && a[i] != c[i])
        .collect();
    assert!(
        outside.is_empty(),
        "frames outside the edit changed: {outside:?}"
    );
    assert!(
        (start..end).filter(|&i| a[i] != c[i]).count() > (end - start) / 2,
        "the edited caption does not show"
    );
}

/// A segment of one frame between two ordinary ones: the encoder has no
/// reorder delay in so short a piece, and the join still gives rising
/// decode times and every frame.
#[tokio::test]
async fn a_one_frame_segment_joins_with_its_neighbours() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seg = |clip: PathBuf, d: f64| {
        let silent = SegmentAudio {
            mix: false,
            volume: 0.0,
        };
        clip_segment(
            &clip,
            d,
            FitMode::BlurPad,
            ShortSourcePolicy::SlowThenHold,
            Some(silent),
        )
    };
    let still = |d: f64| Segment {
        source: still_segment(false).source,
        ..seg(portrait(4), d)
    };
    let timeline = Timeline {
        segments: vec![
            seg(portrait(4), 1.0),
            still(1.0 / 30.0),
            still(2.0 / 30.0),
            seg(landscape(4), 1.0),
        ],
        ..Default::default()
    };
    let out = compose(dir.path(), &timeline).await.expect("compose");
    assert_eq!(out.frames, 63);
    assert_eq!(frame_hashes(&out.video).len(), 63);
    let packets = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v",
            "-show_entries",
            "packet=dts",
            "-of",
            "csv=p=0",
        ])
        .arg(&out.video)
        .output()
        .expect("ffprobe runs");
    let dts: Vec<i64> = String::from_utf8_lossy(&packets.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    assert_eq!(dts.len(), 63);
    assert!(dts.windows(2).all(|w| w[0] < w[1]), "{dts:?}");
}

/// Copies blob `key` of `store` to the local file `to`.
async fn fetch(store: &LocalBlobStore, key: &str, to: &Path) {
    std::fs::write(to, store.get(key).await.expect("blob")).expect("write");
}

/// Reads a zip entry as JSON.
fn zip_json(archive: &mut zip::ZipArchive<std::fs::File>, name: &str) -> serde_json::Value {
    serde_json::from_reader(
        archive
            .by_name(name)
            .unwrap_or_else(|e| panic!("{name}: {e}")),
    )
    .unwrap_or_else(|e| panic!("{name} is not JSON: {e}"))
}

/// An output's 剪映 draft, its folder `name`: checked to hold together.
struct OpenedDraft {
    archive: zip::ZipArchive<std::fs::File>,
    entries: Vec<String>,
    content: serde_json::Value,
    meta: serde_json::Value,
}

fn opened_draft(out: &scout_render::compose::LocalOutputs, name: &str) -> OpenedDraft {
    let mut archive = zip::ZipArchive::new(
        std::fs::File::open(out.editor_draft.as_ref().expect("a draft")).expect("draft"),
    )
    .expect("zip");
    let entries: Vec<String> = archive
        .file_names()
        .map(|n| n.expect("an entry name").to_string())
        .collect();
    let content = zip_json(&mut archive, &format!("{name}/draft_content.json"));
    let meta = zip_json(&mut archive, &format!("{name}/draft_meta_info.json"));
    let inside = |p: &str| entries.contains(&format!("{name}/{p}"));
    let problems = scout_render::compose::draft::validate(&content, &meta, name, &inside);
    assert!(problems.is_empty(), "{problems:#?}");
    OpenedDraft {
        archive,
        entries,
        content,
        meta,
    }
}

#[tokio::test]
async fn the_editable_draft_holds_the_timeline() {
    use scout_proto::scout::render::v1::{AigcLabel, AigcMark, Corner};
    use scout_render::compose::draft;
    let dir = tempfile::tempdir().expect("tempdir");
    let texts = [
        "家人们！今天探店望京的海底捞，人均八十九，招牌毛肚七上八下，服务也是一如既往的贴心。",
        "喜欢记得点赞关注哦！",
    ];
    let speech = speak(dir.path(), &texts).await;
    let (wide, tall) = (landscape(6), portrait(4));
    let paragraphs: Vec<Paragraph> = speech
        .iter()
        .zip([(&wide, FitMode::CropCenter), (&tall, FitMode::BlurPad)])
        .zip(texts)
        .enumerate()
        .map(|(i, (((wav, secs), (clip, fit)), text))| Paragraph {
            id: format!("para_{}", i + 1),
            clip: local(clip),
            voice: local(wav),
            voice_seconds: *secs,
            text: text.into(),
            words: Vec::new(),
            fit,
            focus: Vec::new(),
            scene: None,
            still: false,
        })
        .collect();
    let mut timeline = narration::timeline(
        &paragraphs,
        Some(SubtitleStyle::VibrantYellow),
        Some(MusicTrack {
            media: Some(local(&one_second())),
            volume: 0.3,
            duck_under_voice: true,
            fade_seconds: 0.5,
        }),
        None,
    );
    // A looped one-second clip and a still after the narration.
    timeline.segments.push(clip_segment(
        &one_second(),
        2.5,
        FitMode::BlurPad,
        ShortSourcePolicy::Loop,
        None,
    ));
    timeline.segments.push(still_segment(false));
    timeline.aigc = Some(AigcLabel {
        mark: Some(AigcMark {
            text: "AI生成".into(),
            corner: Corner::TopLeft as i32,
            seconds: 1.5,
        }),
        producer: "Shop Video Scout".into(),
        content_id: "scout-task-1-job".into(),
        generated: vec!["voice".into()],
    });
    // A title with a path separator still names one folder.
    timeline.title = "海底捞/望京店".into();
    let out = compose(dir.path(), &timeline).await.expect("compose");
    let name = "海底捞_望京店";
    let OpenedDraft {
        mut archive,
        entries,
        content,
        meta,
    } = opened_draft(&out, name);
    assert!(
        entries.iter().all(|e| e.starts_with(&format!("{name}/"))),
        "one folder named after the title: {entries:?}"
    );
    for file in [
        "draft_content.json",
        "draft_meta_info.json",
        "draft_cover.jpg",
    ] {
        assert!(
            entries.contains(&format!("{name}/{file}")),
            "{file}: {entries:?}"
        );
    }

    // Times add up to the video's length (µs, within a frame).
    let duration = content["duration"].as_i64().expect("duration");
    assert!(
        (duration as f64 - out.duration * 1e6).abs() <= 34_000.0,
        "draft {duration} µs vs video {} s",
        out.duration
    );
    assert_eq!(
        (
            content["canvas_config"]["width"].as_i64(),
            content["canvas_config"]["height"].as_i64()
        ),
        (Some(1080), Some(1920))
    );
    let tracks = content["tracks"].as_array().expect("tracks");
    let of_kind =
        |k: &str| -> Vec<&serde_json::Value> { tracks.iter().filter(|t| t["type"] == k).collect() };
    let segs = |t: &serde_json::Value| t["segments"].as_array().cloned().unwrap_or_default();
    let materials = &content["materials"];
    let material = |id: &serde_json::Value| -> serde_json::Value {
        ["videos", "audios", "texts"]
            .iter()
            .flat_map(|l| materials[*l].as_array().cloned().unwrap_or_default())
            .find(|m| &m["id"] == id)
            .unwrap_or_else(|| panic!("material {id}"))
    };

    // The main track: the two paragraphs, the loop repeated, the still.
    let video = segs(of_kind("video")[0]);
    let sources: Vec<String> = video
        .iter()
        .map(|s| {
            material(&s["material_id"])["material_name"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    let name_of = |p: &Path| p.file_name().expect("name").to_string_lossy().into_owned();
    assert_eq!(sources[0], name_of(&wide));
    assert_eq!(sources[1], name_of(&tall));
    assert!(
        sources[2..sources.len() - 1]
            .iter()
            .all(|s| *s == name_of(&one_second()))
            && sources.len() >= 5,
        "{sources:?}"
    );
    assert_eq!(
        material(&video[video.len() - 1]["material_id"])["type"],
        "photo"
    );
    // The cropped landscape clip covers the canvas; the blurred one fits inside it.
    assert!(
        video[0]["clip"]["scale"]["x"].as_f64().expect("scale") > 2.0,
        "{}",
        video[0]["clip"]
    );
    assert_eq!(video[1]["clip"]["scale"]["x"].as_f64(), Some(1.0));
    let canvases = materials["canvases"].as_array().expect("canvases");
    let blurred = |seg: &serde_json::Value| {
        seg["extra_material_refs"]
            .as_array()
            .expect("refs")
            .iter()
            .any(|r| {
                canvases
                    .iter()
                    .any(|c| &c["id"] == r && c["type"] == "canvas_blur")
            })
    };
    assert!(
        blurred(&video[1]) && !blurred(&video[0]),
        "BLUR_PAD sits on a blurred canvas, a crop on none"
    );

    // The media is in the folder, byte for byte.
    for file in [&wide, &tall, &still_jpeg()] {
        let m = ["videos"]
            .iter()
            .flat_map(|l| materials[*l].as_array().cloned().unwrap_or_default())
            .find(|m| m["material_name"] == name_of(file))
            .expect("material");
        let at = m["path"]
            .as_str()
            .expect("path")
            .strip_prefix(draft::PLACEHOLDER)
            .expect("in the folder");
        let mut entry = archive
            .by_name(&format!("{name}{at}"))
            .expect("media entry");
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).expect("read");
        assert!(
            bytes == std::fs::read(file).expect("source"),
            "{at} is a copy of its source"
        );
    }

    // Narration: one segment per paragraph where the video speaks it.
    let pack = zip_json(
        &mut zip::ZipArchive::new(std::fs::File::open(&out.assets).expect("assets")).expect("zip"),
        "segments.json",
    );
    let audio = of_kind("audio");
    let voice = segs(audio[0]);
    assert_eq!(voice.len(), 2);
    for (seg, planned) in voice.iter().zip(pack["voice"].as_array().expect("voice")) {
        let start = seg["target_timerange"]["start"].as_i64().expect("start") as f64;
        assert!((start - planned["offset"].as_f64().expect("offset") * 1e6).abs() <= 1.0);
    }
    // Music: repeated to the video's length.
    let music = segs(audio[1]);
    assert!(music.len() > 1);
    let music_end = music
        .iter()
        .map(|s| {
            s["target_timerange"]["start"].as_i64().unwrap_or(0)
                + s["target_timerange"]["duration"].as_i64().unwrap_or(0)
        })
        .max();
    assert_eq!(music_end, Some(duration));

    // Captions as burned in: the subtitle file's events, in order, with
    // their words; the AI mark on a text track of its own.
    let texts_of = |t: &serde_json::Value| -> Vec<(i64, String)> {
        segs(t)
            .iter()
            .map(|s| {
                let c: serde_json::Value = serde_json::from_str(
                    material(&s["material_id"])["content"]
                        .as_str()
                        .expect("content"),
                )
                .expect("content JSON");
                (
                    s["target_timerange"]["start"].as_i64().expect("start"),
                    c["text"].as_str().expect("text").to_string(),
                )
            })
            .collect()
    };
    let text_tracks = of_kind("text");
    let captions = texts_of(text_tracks[0]);
    let ass = std::fs::read_to_string(out.subtitle.as_ref().expect("subtitle")).expect("ass");
    let dialogue: Vec<&str> = ass.lines().filter(|l| l.starts_with("Dialogue:")).collect();
    assert_eq!(captions.len(), dialogue.len(), "{captions:?}\n{ass}");
    for ((start, text), line) in captions.iter().zip(&dialogue) {
        let at: Vec<f64> = line
            .split(',')
            .nth(1)
            .expect("start")
            .split(':')
            .map(|p| p.parse().expect("time"))
            .collect();
        let ass_start = (at[0] * 3600.0 + at[1] * 60.0 + at[2]) * 1e6;
        assert!(
            (*start as f64 - ass_start).abs() <= 10_001.0,
            "{start} vs {line}"
        );
        assert!(
            text.split('\n').all(|l| line.contains(l.trim())),
            "{text:?} vs {line}"
        );
    }
    let spoken: String = captions.iter().map(|(_, t)| t.replace('\n', "")).collect();
    assert_eq!(spoken.replace(' ', ""), texts.concat());
    let mark = texts_of(text_tracks[1]);
    assert_eq!(mark, vec![(0, "AI生成".to_string())]);
    assert_eq!(meta["draft_name"], name);
    assert_eq!(meta["tm_duration"].as_i64(), Some(duration));

    // The validator is not blind: each kind of break is reported.
    let inside = |p: &str| entries.contains(&format!("{name}/{p}"));
    let broken = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut c = content.clone();
        f(&mut c);
        draft::validate(&c, &meta, name, &inside)
    };
    let said = |problems: Vec<String>, what: &str| {
        assert!(
            problems.iter().any(|p| p.contains(what)),
            "{what}: {problems:?}"
        )
    };
    said(
        broken(&|c| c["materials"]["videos"][0]["id"] = "gone".into()),
        "is not in videos",
    );
    said(
        broken(&|c| c["tracks"][0]["segments"][1]["target_timerange"]["start"] = 1.into()),
        "overlap",
    );
    said(
        broken(&|c| c["duration"] = (duration + 1).into()),
        "is not the end of the last segment",
    );
    said(
        broken(&|c| c["materials"]["speeds"][0]["speed"] = 2.5.into()),
        "speed material",
    );
    said(
        broken(&|c| c["materials"]["texts"][0]["content"] = "plain".into()),
        "not a JSON string",
    );
    said(
        broken(&|c| c["materials"]["videos"][0]["path"] = "clip.mp4".into()),
        "neither absolute",
    );
    said(
        draft::validate(&content, &meta, name, &|_| false),
        "is not in the draft folder",
    );
}

/// Mean grey level of `frame` inside `(x0, y0, x1, y1)`.
fn region_mean(frame: &(u32, u32, Vec<u8>), (x0, y0, x1, y1): (u32, u32, u32, u32)) -> f64 {
    let w = frame.0 as usize;
    let mut sum = 0.0;
    for y in y0 as usize..y1 as usize {
        for x in x0 as usize..x1 as usize {
            sum += f64::from(frame.2[y * w + x]);
        }
    }
    sum / f64::from((x1 - x0) * (y1 - y0))
}

#[tokio::test]
async fn the_logo_is_drawn_where_and_as_see_through_as_asked() {
    use scout_proto::scout::render::v1::{Branding, Corner};
    let dir = tempfile::tempdir().expect("tempdir");
    // A 2:1 white logo.
    let logo = dir.path().join("logo.png");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=white:s=200x100",
        "-frames:v",
        "1",
        logo.to_str().expect("utf-8"),
    ]);
    let clip = portrait(2);
    let with_logo = |opacity: f64| Timeline {
        segments: vec![clip_segment(
            &clip,
            2.0,
            FitMode::BlurPad,
            ShortSourcePolicy::Unspecified,
            None,
        )],
        branding: (opacity > 0.0).then(|| Branding {
            logo: Some(local(&logo)),
            logo_corner: Corner::TopRight as i32,
            logo_scale: 0.25,
            logo_opacity: opacity,
            ..Default::default()
        }),
        ..Default::default()
    };
    let plain = compose(&dir.path().join("plain"), &with_logo(0.0))
        .await
        .expect("plain");
    let opaque = compose(&dir.path().join("opaque"), &with_logo(1.0))
        .await
        .expect("opaque");
    let half = compose(&dir.path().join("half"), &with_logo(0.5))
        .await
        .expect("half");
    assert_eq!((half.width, half.height), (1080, 1920));
    assert!((half.duration - 2.0).abs() < 0.05, "{}", half.duration);
    let check = dir.path().join("check");
    std::fs::create_dir_all(&check).expect("dir");
    let frames: Vec<(u32, u32, Vec<u8>)> = [&plain, &opaque, &half]
        .iter()
        .enumerate()
        .map(|(i, o)| frame_at(&o.video, 1.0, &check.join(format!("{i}.png"))))
        .collect();
    // A quarter of the width (270x136), 48 px from the right, 170 from the
    // top: inside it (a few pixels in from its edges), the opaque logo is
    // white and the half one halfway between it and the picture.
    let inside = (762 + 6, 170 + 6, 762 + 270 - 6, 170 + 136 - 6);
    let (p, o, h) = (
        region_mean(&frames[0], inside),
        region_mean(&frames[1], inside),
        region_mean(&frames[2], inside),
    );
    assert!(o > 230.0, "the opaque logo is there: {o:.1}");
    assert!(
        (h - (p + o) / 2.0).abs() < 8.0,
        "half see-through: {h:.1} between {p:.1} and {o:.1}"
    );
    // Around it, nothing changed.
    for outside in [(600, 170, 740, 306), (762, 330, 1032, 420)] {
        let d = region_difference(&frames[0], &frames[2], outside);
        assert!(d < 3.0, "{outside:?} differs by {d:.1}");
    }
    // The editable draft has it: a see-through photo on a second video track.
    let content = opened_draft(&half, "探店宝视频").content;
    let overlay = &content["tracks"][1];
    assert_eq!(overlay["type"], "video");
    assert_eq!(overlay["segments"][0]["clip"]["alpha"].as_f64(), Some(0.5));

    // A logo that is not a picture is refused, naming it.
    let mut moving = with_logo(1.0);
    if let Some(b) = moving.branding.as_mut() {
        b.logo = Some(local(&portrait(2)));
    }
    let e = compose(&dir.path().join("moving"), &moving)
        .await
        .expect_err("a clip as the logo");
    assert!(e.to_string().contains("branding logo"), "{e}");
}

/// A 540x960 30 fps clip of one colour (`0xRRGGBB`), `seconds` long, with
/// a little moving grain when `grain`, under `dir`.
fn colour_clip(dir: &Path, name: &str, colour: &str, seconds: u32, grain: bool) -> PathBuf {
    let path = dir.join(name);
    let grain = if grain { ",noise=alls=2:allf=t" } else { "" };
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &format!("color=c={colour}:s=540x960:r=30:d={seconds}{grain}"),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        path.to_str().expect("utf-8"),
    ]);
    path
}

/// Output frame `n` of `video`, as gray pixels.
fn frame_number(video: &Path, n: u64, png: &Path) -> (u32, u32, Vec<u8>) {
    ffmpeg(&[
        "-i",
        video.to_str().expect("utf-8"),
        "-vf",
        &format!("select=eq(n\\,{n})"),
        "-fps_mode",
        "passthrough",
        "-frames:v",
        "1",
        png.to_str().expect("utf-8"),
    ]);
    gray_pixels(png)
}

/// Transitions take the first frames of the incoming segment's slot, the
/// segment before playing on under them: a crossfade's middle frame is the
/// mean of its two neighbours (measured), fade through black is black in
/// its middle, a slide has the old picture left of its edge and the new
/// right of it. Frames outside the transition are untouched, and the video
/// is exactly as long as its slots.
#[tokio::test]
async fn transitions_blend_the_neighbours_and_keep_the_length() {
    use scout_proto::scout::render::v1::{Transition, TransitionKind};
    let dir = tempfile::tempdir().expect("tempdir");
    // A light and a dark clip, each with a little motion.
    let (light, dark) = (
        colour_clip(dir.path(), "light.mp4", "0xD0D0D0", 3, true),
        colour_clip(dir.path(), "dark.mp4", "0x303030", 3, true),
    );
    let with = |kind: TransitionKind| Timeline {
        segments: vec![
            clip_segment(
                &light,
                2.0,
                FitMode::BlurPad,
                ShortSourcePolicy::Unspecified,
                None,
            ),
            Segment {
                transition_in: Some(Transition {
                    kind: kind as i32,
                    // 15 frames: the middle one (7) is exactly half way.
                    duration_seconds: 0.5,
                }),
                ..clip_segment(
                    &dark,
                    2.0,
                    FitMode::BlurPad,
                    ShortSourcePolicy::Unspecified,
                    None,
                )
            },
        ],
        ..Default::default()
    };
    let check = dir.path().join("check");
    std::fs::create_dir_all(&check).expect("dir");
    let whole = (0, 0, 1080, 1920);
    let mut light_y = None;
    let mut dark_y = None;
    for (kind, name) in [
        (TransitionKind::Crossfade, "crossfade"),
        (TransitionKind::FadeBlack, "fade"),
        (TransitionKind::Slide, "slide"),
    ] {
        let out = compose(&dir.path().join(name), &with(kind))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            (out.duration - 4.0).abs() < 0.02,
            "{name}: {}",
            out.duration
        );
        let probe = ffprobe(&out.video);
        let video = probe["streams"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["codec_type"] == "video"))
            .expect("a video stream");
        assert_eq!(
            video["nb_frames"].as_str(),
            Some("120"),
            "{name}: 2 + 2 s of frames"
        );
        // The draft has the editor's nearest transition, as long, on the
        // segment before (the editor's rule).
        let content = opened_draft(&out, "探店宝视频").content;
        let transitions = content["materials"]["transitions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(transitions.len(), 1, "{name}: {transitions:?}");
        let t = &transitions[0];
        let editor_name = match kind {
            TransitionKind::Crossfade => "叠化",
            TransitionKind::FadeBlack => "闪黑",
            _ => "左移",
        };
        assert_eq!(t["name"], editor_name);
        assert_eq!(t["duration"], 500_000, "{name}: as long as ours");
        let main = &content["tracks"][0]["segments"];
        let refs = |i: usize| {
            main[i]["extra_material_refs"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        };
        assert!(refs(0).contains(&t["id"]), "{name}: on the segment before");
        assert!(!refs(1).contains(&t["id"]));
        let frame = |n: u64| frame_number(&out.video, n, &check.join(format!("{name}-{n}.png")));
        let (before, first, middle, after) = (frame(59), frame(60), frame(67), frame(75));
        let (a, b) = (region_mean(&before, whole), region_mean(&after, whole));
        let (a, b) = (*light_y.get_or_insert(a), *dark_y.get_or_insert(b));
        assert!(a > 180.0 && b < 70.0, "{name}: light {a:.1}, dark {b:.1}");
        // Outside the transition, each segment as it is.
        assert!(
            (region_mean(&before, whole) - a).abs() < 2.0,
            "{name}: frame 59"
        );
        assert!(
            (region_mean(&after, whole) - b).abs() < 2.0,
            "{name}: frame 75"
        );
        let m = region_mean(&middle, whole);
        match kind {
            TransitionKind::Crossfade => {
                assert!(
                    (m - (a + b) / 2.0).abs() < 3.0,
                    "crossfade middle {m:.1}: not the mean of {a:.1} and {b:.1}"
                );
                let f = region_mean(&first, whole);
                assert!(
                    f > (a + b) / 2.0 && f < a,
                    "the first frame is mostly the old picture: {f:.1}"
                );
            }
            TransitionKind::FadeBlack => {
                assert!(m < 6.0, "fade through black: the middle frame is {m:.1}");
            }
            _ => {
                let (left, right) = (
                    region_mean(&middle, (0, 0, 530, 1920)),
                    region_mean(&middle, (550, 0, 1080, 1920)),
                );
                assert!(
                    (left - a).abs() < 3.0 && (right - b).abs() < 3.0,
                    "slide middle: left {left:.1} (old {a:.1}), right {right:.1} (new {b:.1})"
                );
            }
        }
    }
}

/// The earlier segment of a transition plays on under it; when its clip
/// has ended (held on its last frame, in a file whose sound runs longer
/// than its pictures) the last frame is what it plays on with.
#[tokio::test]
async fn a_transition_after_a_clip_that_has_ended_blends_its_last_frame() {
    use scout_proto::scout::render::v1::{Transition, TransitionKind};
    let dir = tempfile::tempdir().expect("tempdir");
    let short = dir.path().join("short.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=0x303030:s=540x960:r=30:d=1",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=1.3",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        short.to_str().expect("utf-8"),
    ]);
    let light = colour_clip(dir.path(), "light.mp4", "0xD0D0D0", 3, false);
    let held =
        |clip: &Path| clip_segment(clip, 2.0, FitMode::BlurPad, ShortSourcePolicy::Hold, None);
    let timeline = Timeline {
        segments: vec![
            held(&short),
            Segment {
                transition_in: Some(Transition {
                    kind: TransitionKind::Crossfade as i32,
                    duration_seconds: 0.5,
                }),
                ..held(&light)
            },
        ],
        ..Default::default()
    };
    let out = compose(dir.path(), &timeline).await.expect("composed");
    assert!((out.duration - 4.0).abs() < 0.02, "{}", out.duration);
    let whole = (0, 0, 1080, 1920);
    let frame = |n: u64| frame_number(&out.video, n, &dir.path().join(format!("{n}.png")));
    let (dark, middle, after) = (
        region_mean(&frame(59), whole),
        region_mean(&frame(67), whole),
        region_mean(&frame(75), whole),
    );
    assert!(
        (middle - (dark + after) / 2.0).abs() < 3.0,
        "the middle {middle:.1} blends the held {dark:.1} and the new {after:.1}"
    );
}

/// The frame at `t` seconds of `video` as RGB (width, height, bytes).
fn rgb_frame_at(video: &Path, t: f64, raw: &Path) -> Vec<u8> {
    ffmpeg(&[
        "-ss",
        &format!("{t:.2}"),
        "-i",
        video.to_str().expect("utf-8"),
        "-frames:v",
        "1",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        raw.to_str().expect("utf-8"),
    ]);
    std::fs::read(raw).expect("raw frame")
}

/// A brand's colours and font go onto the captions: the style's white
/// fill turns the brand's red in the picture (counted pixel by pixel in
/// the caption band), the ASS names the brand's outline colour and font,
/// and a colour that is not #RRGGBB is refused naming the field.
#[tokio::test]
async fn captions_take_the_brands_colours_and_font() {
    use scout_proto::scout::render::v1::{Branding, SubtitleEvent, Subtitles};
    let dir = tempfile::tempdir().expect("tempdir");
    // A dark clip, so neither white nor red comes from the picture.
    let clip = colour_clip(dir.path(), "dark.mp4", "0x202020", 2, false);
    let timeline = |brand: Option<Branding>| Timeline {
        segments: vec![clip_segment(
            &clip,
            2.0,
            FitMode::BlurPad,
            ShortSourcePolicy::Unspecified,
            None,
        )],
        subtitles: Some(Subtitles {
            style: SubtitleStyle::SimpleWhite as i32,
            events: vec![SubtitleEvent {
                start_seconds: 0.0,
                end_seconds: 2.0,
                text: "品牌红色字幕 Brand red".into(),
                words: Vec::new(),
            }],
            font_family: String::new(),
        }),
        branding: brand,
        ..Default::default()
    };
    let red = Branding {
        caption_colour: "#E01010".into(),
        caption_outline_colour: "#FFFFFF".into(),
        caption_font: "Noto Sans CJK TC".into(),
        ..Default::default()
    };
    let plain = compose(&dir.path().join("plain"), &timeline(None))
        .await
        .expect("plain");
    let branded = compose(&dir.path().join("branded"), &timeline(Some(red.clone())))
        .await
        .expect("branded");
    // Red pixels (and white ones) in the lower third, where captions sit.
    let count = |video: &Path, name: &str| {
        let rgb = rgb_frame_at(video, 1.0, &dir.path().join(name));
        let (w, h) = (1080usize, 1920usize);
        assert_eq!(rgb.len(), w * h * 3);
        let (mut reds, mut whites) = (0, 0);
        for y in h * 2 / 3..h {
            for x in 0..w {
                let p = &rgb[(y * w + x) * 3..(y * w + x) * 3 + 3];
                if p[0] > 170 && p[1] < 80 && p[2] < 80 {
                    reds += 1;
                }
                if p[0] > 200 && p[1] > 200 && p[2] > 200 {
                    whites += 1;
                }
            }
        }
        (reds, whites)
    };
    let (plain_red, plain_white) = count(&plain.video, "plain.rgb");
    let (brand_red, _) = count(&branded.video, "branded.rgb");
    assert!(
        plain_white > 2000 && plain_red == 0,
        "the style's own white captions: {plain_white} white, {plain_red} red"
    );
    assert!(
        brand_red > 2000,
        "the brand's red captions: {brand_red} red pixels"
    );
    let ass =
        std::fs::read_to_string(branded.subtitle.as_ref().expect("subtitle.ass")).expect("ass");
    let style = ass
        .lines()
        .find(|l| l.starts_with("Style: SimpleWhite,"))
        .expect("the caption style");
    assert!(
        style.starts_with("Style: SimpleWhite,Noto Sans CJK TC,")
            && style.contains("&H001010E0")
            && style.contains("&H00FFFFFF"),
        "{style}"
    );
    // Not a colour: refused before anything is encoded, naming the field.
    let e = compose(
        &dir.path().join("bad"),
        &timeline(Some(Branding {
            caption_colour: "red".into(),
            ..red
        })),
    )
    .await
    .expect_err("refused");
    assert!(
        e.to_string()
            .contains("branding.caption_colour must be a colour as #RRGGBB"),
        "{e}"
    );
}

/// Share of the frame's pixels near an RGB colour (each channel within 40).
fn share_near(rgb: &[u8], colour: [u8; 3]) -> f64 {
    let near = rgb
        .chunks_exact(3)
        .filter(|p| {
            p.iter()
                .zip(colour)
                .all(|(a, b)| (i32::from(*a) - i32::from(b)).abs() <= 40)
        })
        .count();
    near as f64 / (rgb.len() / 3) as f64
}

/// The brand's intro and outro cards cover the start and the end of the
/// video in their colours with their words in white (measured), the AI
/// mark stays visible over them, the middle is untouched and the length
/// stays; a card without a title, or longer than half the video, is
/// refused naming it.
#[tokio::test]
async fn intro_and_outro_cards_cover_the_ends_and_nothing_else() {
    use scout_proto::scout::render::v1::{AigcLabel, AigcMark, Branding, Card};
    let dir = tempfile::tempdir().expect("tempdir");
    let clip = colour_clip(dir.path(), "grey.mp4", "0x606060", 6, false);
    let card = |title: &str, line: &str, seconds: f64, colour: &str| Card {
        title: title.into(),
        line: line.into(),
        seconds,
        background_colour: colour.into(),
    };
    let timeline = |intro: Card, outro: Option<Card>| Timeline {
        segments: vec![clip_segment(
            &clip,
            6.0,
            FitMode::BlurPad,
            ShortSourcePolicy::Unspecified,
            None,
        )],
        branding: Some(Branding {
            intro: Some(intro),
            outro,
            ..Default::default()
        }),
        aigc: Some(AigcLabel {
            mark: Some(AigcMark {
                text: "AI生成".into(),
                corner: 0,
                seconds: 0.0,
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let out = compose(
        &dir.path().join("cards"),
        &timeline(
            card("海底捞火锅", "望京店 人均 89 元", 1.5, "#C01818"),
            Some(card("快来打卡", "", 1.5, "#1830C0")),
        ),
    )
    .await
    .expect("composed");
    assert!((out.duration - 6.0).abs() < 0.02, "{}", out.duration);
    let frame = |t: f64| rgb_frame_at(&out.video, t, &dir.path().join(format!("{t}.rgb")));
    let (intro, middle, outro) = (frame(0.75), frame(3.0), frame(5.25));
    let (red, blue, grey, white) = ([0xC0, 0x18, 0x18], [0x18, 0x30, 0xC0], [0x60; 3], [255; 3]);
    assert!(
        share_near(&intro, red) > 0.8,
        "the intro's colour: {:.2}",
        share_near(&intro, red)
    );
    assert!(
        share_near(&outro, blue) > 0.8,
        "the outro's colour: {:.2}",
        share_near(&outro, blue)
    );
    assert!(
        share_near(&middle, grey) > 0.95,
        "the middle is the picture: {:.2}",
        share_near(&middle, grey)
    );
    assert!(share_near(&middle, red) < 0.01 && share_near(&middle, blue) < 0.01);
    // The words, white, in the middle band of the card.
    let band = |rgb: &[u8]| rgb[1080 * 3 * 700..1080 * 3 * 1220].to_vec();
    assert!(share_near(&band(&intro), white) > 0.01, "the intro's title");
    assert!(share_near(&band(&outro), white) > 0.01, "the outro's title");
    // The mark (top left, white words on a dark box) stays over the card.
    // (Its box spans about x 40-140, y 160-218: 48 px in, 170 px down.)
    let corner: Vec<u8> = (165..215)
        .flat_map(|y| intro[(y * 1080 + 45) * 3..(y * 1080 + 135) * 3].to_vec())
        .collect();
    assert!(
        share_near(&corner, red) < 0.7,
        "the AI mark is hidden by the card"
    );
    assert!(
        share_near(&corner, white) > 0.02,
        "the mark's words are over the card"
    );
    // The draft has them: a picture of the card's colour over the whole
    // frame on a video track above the picture, the words over it.
    let OpenedDraft {
        content, entries, ..
    } = opened_draft(&out, "探店宝视频");
    let tracks = content["tracks"].as_array().cloned().unwrap_or_default();
    let videos = content["materials"]["videos"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let cards: Vec<serde_json::Value> = tracks
        .iter()
        .skip(1)
        .filter(|t| t["type"] == "video")
        .flat_map(|t| t["segments"].as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(cards.len(), 2, "{tracks:?}");
    let spans: Vec<(i64, i64)> = cards
        .iter()
        .map(|c| {
            let r = &c["target_timerange"];
            (
                r["start"].as_i64().unwrap_or(-1),
                r["duration"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(spans, [(0, 1_500_000), (4_500_000, 1_500_000)]);
    for c in &cards {
        let m = videos
            .iter()
            .find(|m| m["id"] == c["material_id"])
            .expect("the card's picture");
        assert_eq!(m["type"], "photo");
        let file = m["path"]
            .as_str()
            .and_then(|p| p.strip_prefix(scout_render::compose::draft::PLACEHOLDER))
            .expect("in the draft folder");
        assert!(
            entries.contains(&format!("探店宝视频{file}")),
            "{file} is in the zip: {entries:?}"
        );
        assert_eq!(
            c["clip"]["scale"]["x"].as_f64(),
            Some(1.0),
            "the whole frame"
        );
    }
    let texts = content["materials"]["texts"].to_string();
    for words in ["海底捞火锅", "望京店 人均 89 元", "快来打卡"] {
        assert!(texts.contains(words), "{words} in the draft's texts");
    }

    // Refused, naming the card.
    for (bad, says) in [
        (
            card("", "", 1.0, ""),
            "branding.intro: the title must be 1-40 characters",
        ),
        (
            card("标题", "", 4.0, ""),
            "more than half of the 6.0 s video",
        ),
        (
            card("标题", "", 1.0, "blue"),
            "branding.intro.background_colour",
        ),
    ] {
        let e = compose(&dir.path().join("bad"), &timeline(bad, None))
            .await
            .expect_err("refused");
        assert!(e.to_string().contains(says), "{e}");
    }
}
