//! A still segment: one image fitted to the output and held for the slot,
//! with an optional slow push-in (Ken Burns).

use ffmpeg_next as ff;

use super::plan::{Output, PlannedSegment, fit_chain};
use super::segment::SegmentStats;
use crate::error::RenderError;
use crate::media::graph::VideoGraph;

/// Renders a still segment into exactly `seg.frames` output frames.
pub fn render_still(
    seg: &PlannedSegment,
    out: &Output,
    ken_burns: bool,
    emit: &mut dyn FnMut(ff::frame::Video) -> Result<(), RenderError>,
) -> Result<SegmentStats, RenderError> {
    let picture = crate::media::picture::decode(&seg.path, &seg.source)?;
    let image = picture.frame;
    let (w, h) = (out.width, out.height);
    // A photo turned upright first, as its EXIF says (`source_size` is its
    // upright size already).
    let upright = match crate::media::exif::filter(crate::media::exif::orientation(&seg.path)) {
        "" => String::new(),
        f => format!("{f},"),
    };
    let mut chain = format!(
        "{upright}format=yuv420p,{}",
        fit_chain(seg.fit, seg.source_size, (w, h))
    );
    if ken_burns {
        // A slow push-in over the whole slot: 1.0x to 1.12x, centred.
        let step = 0.12 / seg.frames.max(1) as f64;
        chain.push_str(&format!(
            ",zoompan=z='min(zoom+{step:.6},1.12)':d={}:x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':s={w}x{h}:fps={}",
            seg.frames, out.fps
        ));
    }
    chain.push_str(",format=yuv420p");
    let mut graph = VideoGraph::new(
        image.width(),
        image.height(),
        image.format(),
        picture.time_base,
        picture.aspect_ratio,
        &chain,
    )?;
    graph.push(Some(&image))?;
    graph.push(None)?;
    let mut stats = SegmentStats {
        decoded: 1,
        ..Default::default()
    };
    let mut emitted = 0u64;
    let mut last = None;
    while emitted < seg.frames {
        match graph.pull()? {
            Some(f) => {
                emitted += 1;
                stats.produced += 1;
                last = Some(f.clone());
                emit(f)?;
            }
            None => break,
        }
    }
    let last = last.ok_or_else(|| RenderError::media(&seg.source, "produced no frame"))?;
    while emitted < seg.frames {
        emitted += 1;
        stats.held += 1;
        emit(last.clone())?;
    }
    Ok(stats)
}
