//! Frame extraction on NVDEC measured against the CPU, for `scout gpu-bench`
//! on a GPU node: whether the GPU path takes the same frames (JPEG for
//! JPEG), and how many clips a node extracts in what time on the CPU, on
//! one NVDEC engine and on all of them.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use ffmpeg_next as ff;
use scout_render::media::frames::{self, ExtractOptions, ExtractStats};
use scout_render::media::hw;

/// The vision worker's request: one frame every 2 s, 360 px JPEGs.
fn options() -> ExtractOptions {
    ExtractOptions {
        every: 2.0,
        max_dimension: 360,
        ..ExtractOptions::default()
    }
}

/// Every frame's JPEG of one extraction (index, time, bytes).
type Jpegs = Vec<(u32, f64, Vec<u8>)>;

fn extract(path: &Path, gpu: bool) -> anyhow::Result<(ExtractStats, Jpegs)> {
    let name = path.display().to_string();
    let mut out = Vec::new();
    let (stats, _) = frames::extract_with(path, &name, options(), 480, gpu, &mut |f| {
        out.push((f.index, f.time, f.jpeg));
        Ok(())
    })?;
    Ok((stats, out))
}

/// A JPEG decoded to its planes (8-bit 4:2:0 as libavcodec's mjpeg gives).
fn jpeg_planes(jpeg: &[u8]) -> anyhow::Result<Vec<u8>> {
    let codec = ff::decoder::find(ff::codec::Id::MJPEG).context("no mjpeg decoder")?;
    let mut dec = ff::codec::context::Context::new_with_codec(codec)
        .decoder()
        .video()?;
    dec.send_packet(&ff::Packet::copy(jpeg))?;
    dec.send_eof()?;
    let mut frame = ff::frame::Video::empty();
    dec.receive_frame(&mut frame)?;
    let mut out = Vec::new();
    for plane in 0..frame.planes() {
        let (w, h) = (
            frame.plane_width(plane) as usize,
            frame.plane_height(plane) as usize,
        );
        let stride = frame.stride(plane);
        let data = frame.data(plane);
        for row in 0..h {
            out.extend_from_slice(&data[row * stride..row * stride + w]);
        }
    }
    Ok(out)
}

/// For each clip: the frames extracted on the CPU and on this node's GPU
/// path, compared (same marks, same times, same JPEGs; the PSNR of those
/// that differ, decoded). Pushes a problem when they disagree beyond
/// `min_psnr`.
pub fn compare(files: &[PathBuf], min_psnr: Option<f64>, problems: &mut Vec<String>) {
    println!();
    println!(
        "Frame extraction, GPU path against the CPU (1 frame / 2 s, 360 px JPEGs): the same frames?"
    );
    println!();
    println!(
        "| clip | frames CPU / GPU | same times | identical JPEGs | worst PSNR of the others (dB) |"
    );
    println!("|---|---|---|---|---|");
    for f in files {
        let name = clip_name(f);
        let (cpu, gpu) = match (extract(f, false), extract(f, true)) {
            (Ok((_, c)), Ok((_, g))) => (c, g),
            (Err(e), _) | (_, Err(e)) => {
                problems.push(format!("{name}: extraction failed: {e:#}"));
                println!("| {name} | failed: {e:#} | | | |");
                continue;
            }
        };
        let same_times = cpu.len() == gpu.len()
            && cpu
                .iter()
                .zip(&gpu)
                .all(|(a, b)| a.0 == b.0 && (a.1 - b.1).abs() < 1e-6);
        let mut identical = 0;
        let mut worst = f64::INFINITY;
        for (a, b) in cpu.iter().zip(&gpu) {
            if a.2 == b.2 {
                identical += 1;
                continue;
            }
            match (jpeg_planes(&a.2), jpeg_planes(&b.2)) {
                (Ok(pa), Ok(pb)) if pa.len() == pb.len() => {
                    worst = worst.min(scout_render::media::decode::psnr(&pa, &pb));
                }
                _ => worst = 0.0,
            }
        }
        if !same_times {
            problems.push(format!(
                "{name}: the GPU path took other frames than the CPU"
            ));
        }
        if let Some(min) = min_psnr
            && worst < min
        {
            problems.push(format!(
                "{name}: GPU frames {worst:.1} dB from the CPU's, below {min}"
            ));
        }
        println!(
            "| {name} | {} / {} | {} | {identical} of {} | {} |",
            cpu.len(),
            gpu.len(),
            if same_times { "yes" } else { "NO" },
            gpu.len().min(cpu.len()),
            if worst.is_infinite() {
                "— (all identical)".to_string()
            } else {
                format!("{worst:.1}")
            },
        );
    }
}

/// One timed run over every clip: the clips extracted by `parallel`
/// threads at once; the wall time and the frames decoded in all.
fn run_all(clips: &[PathBuf], gpu: bool, parallel: usize) -> anyhow::Result<(f64, u64, usize)> {
    let started = Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<anyhow::Result<(u64, usize)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..parallel.max(1))
            .map(|_| {
                s.spawn(|| -> anyhow::Result<(u64, usize)> {
                    let (mut decoded, mut jpegs) = (0, 0);
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let Some(clip) = clips.get(i) else {
                            return Ok((decoded, jpegs));
                        };
                        let (stats, out) = extract(clip, gpu)?;
                        decoded += stats.decoded;
                        jpegs += out.len();
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a worker panicked")))
            })
            .collect()
    });
    let (mut decoded, mut jpegs) = (0, 0);
    for r in results {
        let (d, j) = r?;
        decoded += d;
        jpegs += j;
    }
    Ok((started.elapsed().as_secs_f64(), decoded, jpegs))
}

/// `copies` copies of `clip` (hard links where the file system allows)
/// extracted on the CPU, on one NVDEC engine and on every engine, in one
/// process after the probe, best of `repeat`; prints a Markdown table and
/// each engine's use in the all-engine run.
pub fn many_clips(clip: &Path, copies: usize, repeat: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let clips: Vec<PathBuf> = (0..copies)
        .map(|i| -> anyhow::Result<PathBuf> {
            let p = dir.path().join(format!("clip-{i:02}.mp4"));
            if std::fs::hard_link(clip, &p).is_err() {
                std::fs::copy(clip, &p)?;
            }
            Ok(p)
        })
        .collect::<anyhow::Result<_>>()?;
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let engines = (hw::hardware().description.nvdec.engines as usize).max(1);
    let best = |gpu: bool, parallel: usize| -> anyhow::Result<(f64, u64, usize)> {
        let mut best: Option<(f64, u64, usize)> = None;
        for _ in 0..repeat.max(1) {
            let r = run_all(&clips, gpu, parallel)?;
            if best.is_none_or(|b| r.0 < b.0) {
                best = Some(r);
            }
        }
        best.context("no run")
    };
    println!();
    println!(
        "Frame extraction of {copies} clips ({}, 1 frame / 2 s, 360 px JPEGs), in one process, best of {repeat}:",
        clip_name(clip)
    );
    println!();
    println!("| path | clips at once | wall (s) | frames decoded | decoded fps | JPEGs | vs CPU |");
    println!("|---|---|---|---|---|---|---|");
    // The CPU: half as many clips at once as cores (a clip's extraction
    // runs two workers, or one sweep with frame threads).
    let cpu_parallel = (cores / 2).max(1);
    let cpu = best(false, cpu_parallel)?;
    let row = |label: &str, parallel: usize, r: (f64, u64, usize)| {
        println!(
            "| {label} | {parallel} | {:.2} | {} | {:.0} | {} | {:.2}x |",
            r.0,
            r.1,
            r.1 as f64 / r.0.max(1e-9),
            r.2,
            cpu.0 / r.0.max(1e-9)
        );
    };
    row(&format!("CPU ({cores} cores)"), cpu_parallel, cpu);
    if !hw::hardware().probe.present {
        println!("| NVDEC | — | no device here | | | | |");
        return Ok(());
    }
    let fallbacks = hw::fallbacks();
    hw::set_nvdec_sessions(1);
    let one = best(true, copies)?;
    row("NVDEC, 1 engine (1 session at a time)", copies, one);
    hw::set_nvdec_sessions(engines);
    let before = hw::nvdec_pool().usage();
    let all = best(true, copies)?;
    row(
        &format!("NVDEC, all {engines} engines (1 session per engine)"),
        copies,
        all,
    );
    hw::set_nvdec_sessions(0);
    println!();
    println!("Each engine's share of the all-engine runs (sessions, frames, busy seconds):");
    println!();
    println!("| engine | sessions | frames | busy (s) |");
    println!("|---|---|---|---|");
    for u in hw::nvdec_pool().usage() {
        let b = before
            .iter()
            .find(|b| b.engine == u.engine)
            .cloned()
            .unwrap_or_default();
        println!(
            "| {} | {} | {} | {:.2} |",
            u.engine,
            u.sessions - b.sessions,
            u.frames - b.frames,
            u.busy_seconds - b.busy_seconds
        );
    }
    let (waits, waited) = hw::nvdec_pool().waits();
    println!();
    println!(
        "Sessions that waited for a free engine: {waits} ({:.2} s in all); GPU fallbacks during the runs: {}",
        waited.as_secs_f64(),
        hw::fallbacks() - fallbacks
    );
    Ok(())
}

fn clip_name(f: &Path) -> String {
    f.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| f.display().to_string())
}
