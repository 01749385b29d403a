//! A still segment: one image fitted to the output and held for the slot,
//! with an optional slow push-in (Ken Burns).

use ffmpeg_next as ff;

use super::plan::{Output, PlannedSegment, fit_chain};
use super::segment::SegmentStats;
use crate::error::RenderError;
use crate::media::graph::VideoGraph;
use crate::media::open;

/// Renders a still segment into exactly `seg.frames` output frames.
pub fn render_still(
    seg: &PlannedSegment,
    out: &Output,
    ken_burns: bool,
    emit: &mut dyn FnMut(ff::frame::Video) -> Result<(), RenderError>,
) -> Result<SegmentStats, RenderError> {
    let mut input = open(&seg.path, &seg.source)?;
    let stream = input
        .streams()
        .best(ff::media::Type::Video)
        .ok_or_else(|| RenderError::media(&seg.source, "is not an image"))?;
    let index = stream.index();
    let tb = stream.time_base();
    let ctx = ff::codec::context::Context::from_parameters(stream.parameters())
        .map_err(RenderError::ffmpeg("image decoder"))?;
    let mut decoder = ctx
        .decoder()
        .video()
        .map_err(|e| RenderError::media(&seg.source, format!("cannot decode the image: {e}")))?;
    let mut image = None;
    let mut frame = ff::frame::Video::empty();
    for (stream, packet) in input.packets() {
        if stream.index() != index {
            continue;
        }
        decoder.send_packet(&packet).map_err(|e| {
            RenderError::media(&seg.source, format!("cannot decode the image: {e}"))
        })?;
        if decoder.receive_frame(&mut frame).is_ok() {
            image = Some(frame.clone());
            break;
        }
    }
    if image.is_none() {
        let _ = decoder.send_eof();
        if decoder.receive_frame(&mut frame).is_ok() {
            image = Some(frame.clone());
        }
    }
    let mut image =
        image.ok_or_else(|| RenderError::media(&seg.source, "holds no decodable image"))?;
    image.set_pts(Some(0));
    let (w, h) = (out.width, out.height);
    let mut chain = format!(
        "format=yuv420p,{}",
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
        tb,
        decoder.aspect_ratio(),
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
