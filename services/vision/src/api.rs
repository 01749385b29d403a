//! The gRPC surface of the vision service (internal: callers carry the
//! mesh's service credential). `AnalyzeClip` analyses one stored clip and
//! `WriteScript` writes a script over given shots, with the same engine and
//! providers the analyze worker uses.

use std::sync::Arc;

use scout_proto::scout::vision::v1::{
    AnalyzeClipRequest, AnalyzeClipResponse, WriteScriptRequest, WriteScriptResponse,
    vision_service_server::VisionService,
};
use tonic::{Request, Response, Status};

use crate::State;
use crate::error::VisionError;
use crate::writer::Brief;

/// `scout.vision.v1.VisionService`.
#[derive(Clone)]
pub struct VisionApi {
    state: Arc<State>,
}

impl VisionApi {
    /// The service over shared state.
    pub fn new(state: Arc<State>) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl VisionService for VisionApi {
    async fn analyze_clip(
        &self,
        req: Request<AnalyzeClipRequest>,
    ) -> Result<Response<AnalyzeClipResponse>, Status> {
        let r = req.into_inner();
        if r.oss_key.trim().is_empty() {
            return Err(VisionError::invalid("oss_key", "the clip's blob key is required").into());
        }
        let a = self
            .state
            .engine
            .analyze_clip(r.task_id, r.video_id, &r.oss_key)
            .await
            .map_err(VisionError::from)?;
        Ok(Response::new(AnalyzeClipResponse {
            frames: a.frames,
            category: a.result.category as i32,
            tags: a.result.tags,
            description: a.result.description,
            quality_score: a.result.quality,
            quality_factors: Some(a.result.factors),
            frame_keys: a.frame_keys,
            provider: a.provider,
        }))
    }

    async fn write_script(
        &self,
        req: Request<WriteScriptRequest>,
    ) -> Result<Response<WriteScriptResponse>, Status> {
        let r = req.into_inner();
        let rate = rate_of(&r);
        let shop = r.shop.unwrap_or_default();
        if shop.name.trim().is_empty() {
            return Err(VisionError::invalid("shop.name", "the shop name is required").into());
        }
        if r.shots.is_empty() {
            return Err(VisionError::invalid("shots", "at least one shot is required").into());
        }
        if !(0.0..=20.0).contains(&r.chars_per_second) {
            return Err(VisionError::invalid(
                "chars_per_second",
                "must be 0 (the default rate) to 20 characters a second",
            )
            .into());
        }
        let written = self
            .state
            .engine
            .write(&Brief::for_shop(&shop, &r.shots, rate, r.seed as u64))
            .await
            .map_err(VisionError::from)?;
        let note = self.state.engine.note(&[], &written);
        Ok(Response::new(WriteScriptResponse {
            total_duration: written
                .paragraphs
                .iter()
                .map(|p| p.estimated_duration)
                .sum(),
            paragraphs: written.paragraphs,
            provider: written.provider,
            provider_note: note,
        }))
    }
}

/// The request's rate: its measured rate, else its characters a second over
/// the default rate, else the default.
fn rate_of(r: &WriteScriptRequest) -> scout_proto::scout::common::v1::SpeechRate {
    match &r.speech_rate {
        Some(rate) => scout_common::speech::usable(Some(rate)),
        None if r.chars_per_second > 0.0 => scout_proto::scout::common::v1::SpeechRate {
            cjk_chars_per_second: r.chars_per_second,
            ..scout_common::speech::default_rate()
        },
        None => scout_common::speech::default_rate(),
    }
}
