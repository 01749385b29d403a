//! Subtitles rendered for real (libass through the compose path): CJK text
//! is drawn with the shipped font, never as tofu, and stays in the frame.

use ffmpeg_next as ff;
use scout_proto::scout::common::v1::SubtitleStyle;
use scout_proto::scout::render::v1::SubtitleEvent;
use scout_render::compose::plan::Output;
use scout_render::compose::subtitles::{Overlays, Tail};
use scout_render::subtitles::{self, PLAY_RES_X, write_ass};

fn output() -> Output {
    Output::from_spec(None, "veryfast").expect("defaults")
}

/// Renders `text` in `style` over a black frame; returns the luma plane (1080 wide).
fn render(text: &str, style: SubtitleStyle) -> Vec<u8> {
    scout_render::runtime::init_ffmpeg().expect("ffmpeg");
    let dir = tempfile::tempdir().expect("tempdir");
    let ass = write_ass(
        &[SubtitleEvent {
            start_seconds: 0.0,
            end_seconds: 5.0,
            text: text.into(),
            ..Default::default()
        }],
        style,
        "Noto Sans CJK SC",
    )
    .expect("ass");
    let path = dir.path().join("sub.ass");
    std::fs::write(&path, ass).expect("write");
    let out = output();
    let mut tail = Tail::new(
        &out,
        Overlays {
            ass: Some(&path),
            logo: None,
        },
    )
    .expect("tail");
    let mut frame = ff::frame::Video::new(ff::format::Pixel::YUV420P, out.width, out.height);
    for plane in 0..3 {
        let fill = if plane == 0 { 16 } else { 128 };
        frame.data_mut(plane).fill(fill);
    }
    frame.set_pts(Some(30));
    let mut got = Vec::new();
    tail.push(frame, &mut |f| {
        got.push(f);
        Ok(())
    })
    .expect("render");
    tail.finish(&mut |f| {
        got.push(f);
        Ok(())
    })
    .expect("finish");
    let f = got.into_iter().next().expect("a frame came out");
    let (w, h, stride) = (f.width() as usize, f.height() as usize, f.stride(0));
    let data = f.data(0);
    (0..h)
        .flat_map(|y| data[y * stride..y * stride + w].to_vec())
        .collect()
}

fn ink(luma: &[u8]) -> usize {
    luma.iter().filter(|&&v| v > 60).count()
}

fn difference(a: &[u8], b: &[u8]) -> usize {
    a.iter()
        .zip(b)
        .filter(|(x, y)| (i16::from(**x) - i16::from(**y)).abs() > 40)
        .count()
}

#[test]
fn chinese_renders_as_glyphs_not_tofu() {
    let metrics = subtitles::metrics("Noto Sans CJK SC", false).expect("font installed");
    for c in "家人们今天探店招牌毛肚七上八下".chars() {
        assert!(metrics.has_glyph(c), "the shipped font lacks {c}");
    }
    let a = render("家人们今天探店", SubtitleStyle::SimpleWhite);
    let b = render("招牌毛肚七上八下", SubtitleStyle::SimpleWhite);
    // Characters no font has: what tofu looks like with this font.
    let tofu = render(&"\u{E000}".repeat(7), SubtitleStyle::SimpleWhite);
    assert!(
        ink(&a) > 2000 && ink(&b) > 2000,
        "nothing drawn: {} / {}",
        ink(&a),
        ink(&b)
    );
    assert!(
        difference(&a, &b) > 2000,
        "two different strings gave (nearly) the same pixels"
    );
    assert!(
        difference(&a, &tofu) > 2000,
        "the first string looks like the missing-glyph box"
    );
    assert!(
        difference(&b, &tofu) > 2000,
        "the second string looks like the missing-glyph box"
    );
}

#[test]
fn a_long_line_is_wrapped_inside_the_frame_in_every_style() {
    let long =
        "家人们！今天给你们探一家望京超火的海底捞，人均八十九，招牌毛肚七上八下，服务真的绝了";
    for style in [
        SubtitleStyle::SimpleWhite,
        SubtitleStyle::VibrantYellow,
        SubtitleStyle::Xiaohongshu,
        SubtitleStyle::DouyinHot,
        SubtitleStyle::Neon,
        SubtitleStyle::Karaoke,
    ] {
        let luma = render(long, style);
        let w = PLAY_RES_X as usize;
        let columns: Vec<usize> = (0..w)
            .filter(|x| luma.chunks(w).any(|row| row[*x] > 60))
            .collect();
        let (left, right) = (
            columns.first().copied().unwrap_or(0),
            columns.last().copied().unwrap_or(w),
        );
        assert!(!columns.is_empty(), "{style:?}: nothing drawn");
        // Inside the platforms' safe area: clear of the left edge and of the
        // right-hand button column (like, comment, share).
        assert!(
            left >= (subtitles::MARGIN_X as usize).saturating_sub(16)
                && right <= w - subtitles::MARGIN_RIGHT as usize + 16,
            "{style:?}: text leaves the safe area ({left}..{right})"
        );
        let rows: Vec<usize> = luma
            .chunks(w)
            .enumerate()
            .filter(|(_, r)| r.iter().any(|v| *v > 60))
            .map(|(y, _)| y)
            .collect();
        let height = rows.last().copied().unwrap_or(0) - rows.first().copied().unwrap_or(0);
        // Above the bottom bar (account, caption, music), below the top bar.
        let bottom = rows.last().copied().unwrap_or(0);
        assert!(
            bottom <= subtitles::PLAY_RES_Y as usize - subtitles::MARGIN_BOTTOM as usize + 16
                && rows.first().copied().unwrap_or(0) >= 200,
            "{style:?}: text leaves the safe area vertically ({:?}..{bottom})",
            rows.first()
        );
        assert!(
            height < 260,
            "{style:?}: more than two lines drawn ({height} px tall)"
        );
    }
}
