//! Operator commands that work on media without the mesh: probe a clip,
//! pull its frames, speak a line, compose a timeline. Errors are one line
//! and a non-zero exit.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, bail};
use scout_common::config::Config;
use scout_common::proto_json;
use scout_proto::scout::render::v1::{
    MediaRef, Timeline, VoiceSpec, media_ref::Location, segment::Source,
};
use scout_render::compose::{self, Progress};
use scout_render::media::frames::{self, ExtractOptions};
use scout_render::store::MediaSource;

/// `scout probe FILE`: the probe as JSON.
pub fn probe(file: &Path) -> anyhow::Result<()> {
    let info = scout_render::media::probe::probe(file, &file.display().to_string())?;
    let json =
        proto_json::to_json("scout.render.v1.MediaInfo", &info).map_err(anyhow::Error::msg)?;
    println!("{}", serde_json::to_string_pretty(&json)?);
    Ok(())
}

/// Says on stderr when the GPU failed and work was redone on the CPU.
fn gpu_note() {
    let n = scout_render::media::hw::fallbacks();
    if n > 0 {
        eprintln!("note: the GPU failed {n} time(s); that work was redone on the CPU");
    }
}

/// Applies `media.gpu` (`SCOUT_MEDIA_GPU=off` keeps these commands on the
/// CPU, `always` decodes on NVDEC wherever the device can).
pub fn gpu_mode(config: &Config) {
    scout_render::media::hw::configure(config.media.gpu, &config.faults());
    scout_render::media::hw::set_nvdec_sessions(config.media.nvdec_sessions);
}

/// `scout frames FILE --every N -o DIR`: JPEGs and a thumbnail; prints how many.
pub fn frames(file: &Path, every: f64, out: &Path, max_dimension: u32) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let name = file.display().to_string();
    let opts = ExtractOptions {
        every,
        max_dimension,
        ..ExtractOptions::default()
    };
    let mut count = 0;
    let (stats, thumb) = frames::extract_frames(file, &name, opts, 480, |f| {
        std::fs::write(out.join(format!("frame_{}.jpg", f.index)), &f.jpeg)?;
        // After a GPU fallback the same frames arrive again: count indices.
        count = count.max(f.index);
        Ok(())
    })?;
    gpu_note();
    std::fs::write(out.join("thumb.jpg"), &thumb.jpeg)?;
    println!(
        "{count} frames written to {} (decoded {} of {} frames) and thumb.jpg",
        out.display(),
        stats.decoded,
        stats.total
    );
    Ok(())
}

/// `scout say TEXT -o OUT.wav`: speech with the configured provider; prints its duration.
pub async fn say(config: &Config, text: &str, voice: &str, out: &Path) -> anyhow::Result<()> {
    let provider = scout_render::voice::from_config(&config.voice, &std::env::temp_dir());
    let spec = VoiceSpec {
        voice: voice.to_string(),
        ..VoiceSpec::default()
    };
    let speech = provider.synthesize(text, &spec).await?;
    scout_render::media::audio::write_wav(out, &speech.samples)?;
    println!(
        "{:.3} s of speech by {} written to {}",
        speech.duration,
        speech.provider,
        out.display()
    );
    Ok(())
}

/// Makes the timeline's relative local paths relative to the timeline file.
fn resolve_paths(timeline: &mut Timeline, base: &Path) -> anyhow::Result<()> {
    let fix = |m: &mut Option<MediaRef>| -> anyhow::Result<()> {
        match m.as_mut().and_then(|m| m.location.as_mut()) {
            Some(Location::LocalPath(p)) if Path::new(p.as_str()).is_relative() => {
                *p = base.join(p.as_str()).display().to_string();
                Ok(())
            }
            Some(Location::BlobKey(k)) => {
                bail!("blob key {k:?}: the CLI composes local files; use local_path")
            }
            _ => Ok(()),
        }
    };
    for s in &mut timeline.segments {
        match s.source.as_mut() {
            Some(Source::Clip(c)) => fix(&mut c.media)?,
            Some(Source::Still(st)) => fix(&mut st.media)?,
            Some(Source::Scene(sc)) => {
                if let Some(scene) = sc.scene.as_mut() {
                    fix(&mut scene.image)?;
                }
            }
            None => {}
        }
    }
    for v in &mut timeline.voice {
        fix(&mut v.media)?;
    }
    if let Some(m) = timeline.music.as_mut() {
        fix(&mut m.media)?;
    }
    if let Some(b) = timeline.branding.as_mut() {
        fix(&mut b.logo)?;
    }
    Ok(())
}

/// `scout compose TIMELINE.json -o OUT.mp4`: renders with a progress bar.
/// Next to OUT.mp4 go OUT.ass (when there are subtitles), OUT.jpg (the
/// cover), OUT.assets.zip and OUT.jianying-draft.zip (the editable draft).
pub async fn compose(config: &Config, timeline_file: &Path, out: &Path) -> anyhow::Result<()> {
    gpu_mode(config);
    let text = std::fs::read_to_string(timeline_file)
        .with_context(|| format!("cannot read {}", timeline_file.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", timeline_file.display()))?;
    let mut timeline: Timeline = proto_json::from_json("scout.render.v1.Timeline", value)
        .map_err(|e| anyhow::anyhow!("{}: {e}", timeline_file.display()))?;
    let base = timeline_file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    resolve_paths(&mut timeline, &base)?;
    let work = tempfile::tempdir()?;
    let out_dir = work.path().join("out");
    std::fs::create_dir_all(&out_dir)?;
    // A progress bar only on a terminal; scripts get the result line alone.
    let tty = std::io::stderr().is_terminal();
    let progress: Arc<dyn Fn(Progress) + Send + Sync> = Arc::new(move |p| {
        if tty {
            progress_bar(p);
        }
    });
    let result = compose::compose_to_dir(
        &MediaSource::local_files(),
        &timeline,
        &config.media,
        work.path(),
        &out_dir,
        progress,
        Arc::new(AtomicBool::new(false)),
    )
    .await;
    if tty {
        // Clear the bar's line before the result or the error.
        eprint!("\r\x1b[2K");
    }
    let result = result?;
    let stem = out.with_extension("");
    move_file(&result.video, out)?;
    if let Some(sub) = &result.subtitle {
        move_file(sub, &stem.with_extension("ass"))?;
    }
    move_file(&result.cover, &stem.with_extension("jpg"))?;
    move_file(
        &result.assets,
        &PathBuf::from(format!("{}.assets.zip", stem.display())),
    )?;
    if let Some(draft) = &result.editor_draft {
        move_file(
            draft,
            &PathBuf::from(format!("{}.jianying-draft.zip", stem.display())),
        )?;
    }
    gpu_note();
    println!(
        "{} written: {}x{}, {:.2} s, {:.1} MB ({} source frames decoded for {} output frames, encoded by {})",
        out.display(),
        result.width,
        result.height,
        result.duration,
        result.size as f64 / 1e6,
        result.decoded_frames,
        result.frames,
        result.encoder
    );
    Ok(())
}

fn move_file(from: &Path, to: &Path) -> anyhow::Result<()> {
    if std::fs::rename(from, to).is_err() {
        std::fs::copy(from, to).with_context(|| format!("cannot write {}", to.display()))?;
    }
    Ok(())
}

fn progress_bar(p: Progress) {
    let width = 30usize;
    let filled = (p.percent.clamp(0, 100) as usize * width) / 100;
    let bar: String = "#".repeat(filled) + &".".repeat(width - filled);
    let mut err = std::io::stderr();
    let _ = write!(
        err,
        "\r[{bar}] {:>3}% {:<8} {:>6.1} s",
        p.percent, p.phase, p.encoded_seconds
    );
    let _ = err.flush();
}

/// A clip's file name, for tables.
fn clip_name(f: &std::path::Path) -> String {
    f.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `scout gpu-bench CLIP…`: the probe, the plans, then each clip decoded on
/// the CPU and on NVDEC with fps and PSNR (NVDEC against CPU), as Markdown.
pub fn gpu_bench(
    files: &[PathBuf],
    sample_every: u64,
    require_psnr: Option<f64>,
    extract_copies: usize,
) -> anyhow::Result<()> {
    let mut problems: Vec<String> = Vec::new();
    use scout_render::media::decode::decode_all;
    use scout_render::media::hw;
    // Compare the two decoders on every clip, whatever `auto` would pick.
    hw::configure(
        scout_common::config::GpuMode::Always,
        &scout_common::config::FaultsConfig::default(),
    );
    let probe_start = std::time::Instant::now();
    let h = hw::hardware();
    println!(
        "one-time device probe (CUDA context, NVDEC caps, NVENC session attempt): {:.2} s",
        probe_start.elapsed().as_secs_f64()
    );
    println!(
        "device: {}",
        if h.probe.present {
            h.description.name.as_str()
        } else {
            "none"
        }
    );
    println!("probe: {}", serde_json::to_string(&h.probe)?);
    for (codec, depth) in [
        (scout_gpu::VideoCodec::H264, 8u8),
        (scout_gpu::VideoCodec::Hevc, 8),
        (scout_gpu::VideoCodec::Hevc, 10),
    ] {
        println!("plan {codec} {depth}-bit: {}", h.plan(codec, depth));
    }
    println!();
    println!(
        "| clip | size | frames | CPU decode fps | NVDEC decode fps | speed-up | PSNR Y / U / V (NVDEC vs CPU), min over samples |"
    );
    println!("|---|---|---|---|---|---|---|");
    for f in files {
        let cpu = decode_all(f, false, sample_every)?;
        let gpu = match decode_all(f, true, sample_every) {
            Ok(run) if run.path != scout_gpu::DecodePath::Cpu => Some(run),
            Ok(_) => None,
            Err(e) => {
                eprintln!("{}: NVDEC run failed: {e}", f.display());
                None
            }
        };
        let name = clip_name(f);
        let (w, hgt) = cpu.size;
        let (gpu_fps, speedup, quality) = match &gpu {
            Some(g) => {
                let (worst, compared) = cpu.worst_psnr(g);
                if let Some(min) = require_psnr
                    && (compared == 0 || worst[0] < min)
                {
                    problems.push(format!(
                        "{}: luma PSNR {:.1} dB over {compared} frames, below {min}",
                        f.display(),
                        worst[0]
                    ));
                }
                if require_psnr.is_some() && g.frames != cpu.frames {
                    problems.push(format!(
                        "{}: NVDEC gave {} frames, the CPU {}",
                        f.display(),
                        g.frames,
                        cpu.frames
                    ));
                }
                let fmt = |v: f64| {
                    if v.is_infinite() {
                        "inf".to_string()
                    } else {
                        format!("{v:.1}")
                    }
                };
                (
                    format!("{:.0}", g.fps()),
                    format!("{:.2}x", g.fps() / cpu.fps().max(1e-9)),
                    format!(
                        "{} / {} / {} dB ({compared} frames, {} vs {} decoded)",
                        fmt(worst[0]),
                        fmt(worst[1]),
                        fmt(worst[2]),
                        g.frames,
                        cpu.frames
                    ),
                )
            }
            None => (
                {
                    if require_psnr.is_some() {
                        problems.push(format!("{}: not decoded on NVDEC", f.display()));
                    }
                    "n/a".into()
                },
                "n/a".into(),
                "n/a (no NVDEC path here)".into(),
            ),
        };
        println!(
            "| {name} | {w}x{hgt} | {} | {:.0} | {gpu_fps} | {speedup} | {quality} |",
            cpu.frames,
            cpu.fps()
        );
    }
    #[cfg(feature = "nvidia")]
    sdk_bench(files, sample_every, require_psnr, &mut problems)?;
    #[cfg(feature = "nvidia")]
    fit_bench(files, sample_every, require_psnr.is_some(), &mut problems)?;
    println!();
    println!(
        "Frame extraction in process, after the probe (1 frame / 2 s, 360 px JPEGs), best of 3:"
    );
    println!();
    println!("| clip | CPU (s) | NVDEC (s) |");
    println!("|---|---|---|");
    let opts = ExtractOptions {
        every: 2.0,
        max_dimension: 360,
        ..ExtractOptions::default()
    };
    for f in files {
        let name = f.display().to_string();
        let mut best = [f64::INFINITY; 2];
        for _ in 0..3 {
            for (k, gpu) in [false, true].into_iter().enumerate() {
                let t = std::time::Instant::now();
                frames::extract_with(f, &name, opts, 480, gpu, &mut |_| Ok(()))?;
                best[k] = best[k].min(t.elapsed().as_secs_f64());
            }
        }
        println!("| {} | {:.2} | {:.2} |", clip_name(f), best[0], best[1]);
    }
    crate::extract_bench::compare(files, require_psnr, &mut problems);
    if extract_copies > 0
        && let Some(last) = files.last()
    {
        crate::extract_bench::many_clips(last, extract_copies, 2)?;
    }
    println!();
    println!("gpu fallbacks: {}", hw::fallbacks());
    if !problems.is_empty() {
        bail!("{}", problems.join("; "));
    }
    Ok(())
}

/// Our own NVDEC path (the `nvidia` feature): fps at full size and scaled by
/// NVDEC to a 360 px analysis frame, PSNR against the CPU.
#[cfg(feature = "nvidia")]
fn sdk_bench(
    files: &[PathBuf],
    sample_every: u64,
    require_psnr: Option<f64>,
    problems: &mut Vec<String>,
) -> anyhow::Result<()> {
    use scout_render::media::decode::{decode_all, decode_all_sdk};
    println!();
    println!(
        "Our own NVDEC path (Video Codec SDK parser + decoder, frames copied back at the output size):"
    );
    println!();
    println!(
        "| clip | SDK fps, full size | SDK fps, scaled by NVDEC to 360 px | PSNR Y / U / V (SDK vs CPU), worst |"
    );
    println!("|---|---|---|---|");
    for f in files {
        let name = clip_name(f);
        let cpu = decode_all(f, false, sample_every)?;
        let (w, h) = cpu.size;
        let long = w.max(h).max(1);
        let small = ((w * 360 / long) & !1, (h * 360 / long) & !1);
        let full = match decode_all_sdk(f, None, sample_every) {
            Ok(r) => r,
            Err(e) => {
                problems.push(format!("{name}: SDK decode failed: {e}"));
                println!("| {name} | failed: {e} | | |");
                continue;
            }
        };
        let scaled = decode_all_sdk(f, Some(small), 0);
        let (worst, compared) = cpu.worst_psnr(&full);
        if let Some(min) = require_psnr
            && (compared == 0 || worst[0] < min || full.frames != cpu.frames)
        {
            problems.push(format!(
                "{name}: SDK luma PSNR {:.1} dB over {compared} frames, {} vs {} frames",
                worst[0], full.frames, cpu.frames
            ));
        }
        let fmt = |v: f64| {
            if v.is_infinite() {
                "inf".to_string()
            } else {
                format!("{v:.1}")
            }
        };
        println!(
            "| {name} | {:.0} ({} frames) | {} | {} / {} / {} dB ({compared} frames) |",
            full.fps(),
            full.frames,
            match &scaled {
                Ok(r) => format!("{:.0} ({}x{})", r.fps(), r.size.0, r.size.1),
                Err(e) => format!("failed: {e}"),
            },
            fmt(worst[0]),
            fmt(worst[1]),
            fmt(worst[2])
        );
    }
    Ok(())
}

/// The device fit (the `nvidia` feature): each clip shown turned a quarter
/// (a landscape picture) fitted into 1080x1920 by each fit mode on the
/// device, against the CPU reference (`FitPlan::run_cpu`) run on the same
/// NVDEC frames, which must match byte for byte; fps of decode + fit; then
/// our NVENC session encoding the fitted frames, where the card has one.
#[cfg(feature = "nvidia")]
fn fit_bench(
    files: &[PathBuf],
    sample_every: u64,
    strict: bool,
    problems: &mut Vec<String>,
) -> anyhow::Result<()> {
    use scout_gpu::fit::{FitMode, FitPlan, SourceFormat};
    use scout_gpu::sdk::{FitRequest, HostFrame, NvdecDecoder};
    use scout_render::media::decode::decode_sdk;
    let every = sample_every.max(1);
    let out = (1080u32, 1920u32);
    println!();
    println!(
        "Device fit (NVDEC + fit kernels, only 1080x1920 I420 copied back), source turned 90° so the shapes differ:"
    );
    println!();
    println!("| clip | fit | fps, decode + fit | frames vs CPU reference (identical / compared) |");
    println!("|---|---|---|---|");
    for f in files {
        let name = clip_name(f);
        // The raw NVDEC frames the reference works from.
        let mut raw: Vec<(u64, HostFrame)> = Vec::new();
        if let Err(e) = decode_sdk(f, &|c| NvdecDecoder::new(c, None), &mut |i, fr| {
            if i.is_multiple_of(every) {
                raw.push((i, fr.clone()));
            }
        }) {
            problems.push(format!("{name}: SDK decode failed: {e}"));
            println!("| {name} | | failed: {e} | |");
            continue;
        }
        for fit in [FitMode::Letterbox, FitMode::CropCenter, FitMode::BlurPad] {
            let request = FitRequest {
                fit,
                rotation: 90,
                out,
            };
            let mut fitted: Vec<(u64, Vec<u8>)> = Vec::new();
            let run = decode_sdk(
                f,
                &|c| NvdecDecoder::with_fit(c, request, 0),
                &mut |i, fr| {
                    if i.is_multiple_of(every) {
                        let mut bytes = fr.luma.clone();
                        bytes.extend_from_slice(&fr.chroma);
                        fitted.push((i, bytes));
                    }
                },
            );
            let (frames, seconds) = match run {
                Ok(r) => r,
                Err(e) => {
                    problems.push(format!("{name} {fit:?}: device fit failed: {e}"));
                    println!("| {name} | {fit:?} | failed: {e} | |");
                    continue;
                }
            };
            let mut same = 0;
            let mut compared = 0;
            let mut worst = 0u8;
            for ((i, r), (j, g)) in raw.iter().zip(&fitted) {
                if i != j {
                    continue;
                }
                compared += 1;
                let bytes = r.bytes_per_sample;
                let plan = FitPlan::new(
                    fit,
                    SourceFormat::Nv12 { bytes },
                    (r.width, r.height),
                    90,
                    out,
                );
                let pitch = (r.width * bytes) as usize;
                let reference = plan.run_cpu(&[(&r.luma, pitch), (&r.chroma, pitch)]);
                if &reference == g {
                    same += 1;
                } else {
                    let d = reference
                        .iter()
                        .zip(g)
                        .map(|(a, b)| a.abs_diff(*b))
                        .max()
                        .unwrap_or(u8::MAX);
                    worst = worst.max(d);
                }
            }
            if strict && (compared == 0 || same != compared) {
                problems.push(format!(
                    "{name} {fit:?}: {same} of {compared} fitted frames match the CPU reference (worst byte off by {worst})"
                ));
            }
            println!(
                "| {name} | {fit:?} | {:.0} | {same} / {compared}{} |",
                frames as f64 / seconds.max(1e-9),
                if same == compared {
                    String::new()
                } else {
                    format!(" (worst byte off by {worst})")
                }
            );
        }
    }
    nvenc_bench(files, out)
}

/// Our NVENC session (the `nvidia` feature) encoding each clip fitted to
/// 1080x1920: fps and bit rate, or why it could not open (no encoder on
/// Hopper).
#[cfg(feature = "nvidia")]
fn nvenc_bench(files: &[PathBuf], out: (u32, u32)) -> anyhow::Result<()> {
    use scout_gpu::fit::FitMode;
    use scout_gpu::nvenc_sdk::{EncoderSpec, NvencEncoder};
    use scout_gpu::sdk::{FitRequest, NvdecDecoder};
    use scout_render::media::decode::decode_sdk;
    println!();
    println!(
        "Our NVENC session (H.264 High, VBR 4 Mbps, VBV 12 Mbit, GOP 60, BT.709), fitted frames in:"
    );
    println!();
    let spec = EncoderSpec {
        width: out.0,
        height: out.1,
        fps: 30,
        bitrate: 4_000_000,
        maxrate: 6_000_000,
        vbv: 12_000_000,
        gop: 60,
    };
    let mut encoder = match NvencEncoder::new(spec) {
        Ok(e) => e,
        Err(e) => {
            println!("NVENC: n/a on this device ({e})");
            return Ok(());
        }
    };
    println!("| clip | frames | fps, decode + fit + encode | Mbps | keyframes |");
    println!("|---|---|---|---|---|");
    let request = FitRequest {
        fit: FitMode::BlurPad,
        rotation: 0,
        out,
    };
    for f in files {
        let mut bytes = 0usize;
        let mut keys = 0u32;
        let mut failure = None;
        let mut pts = 0i64;
        let run = decode_sdk(
            f,
            &|c| NvdecDecoder::with_fit(c, request, 0),
            &mut |_, fr| {
                if failure.is_some() {
                    return;
                }
                let w = fr.width as usize;
                let (u, v) = fr.chroma.split_at(fr.chroma.len() / 2);
                match encoder.encode([(&fr.luma, w), (u, w / 2), (v, w / 2)], pts) {
                    Ok(p) => {
                        bytes += p.data.len();
                        keys += u32::from(p.keyframe);
                    }
                    Err(e) => failure = Some(e.to_string()),
                }
                pts += 1;
            },
        );
        let name = f.display();
        match (run, failure) {
            (Ok((frames, seconds)), None) => println!(
                "| {name} | {frames} | {:.0} | {:.2} | {keys} |",
                frames as f64 / seconds.max(1e-9),
                bytes as f64 * 8.0 / (frames as f64 / 30.0).max(1e-9) / 1e6
            ),
            (Err(e), _) => println!("| {name} | failed: {e} | | | |"),
            (_, Some(e)) => println!("| {name} | NVENC failed: {e} | | | |"),
        }
    }
    encoder.finish()?;
    Ok(())
}
