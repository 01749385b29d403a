//! The RenderService gRPC implementation.

use std::pin::Pin;

use futures::Stream;
use scout_common::service::ServiceContext;
use scout_proto::scout::render::v1::render_service_server::RenderService;
use scout_proto::scout::render::v1::{
    CapabilitiesRequest, CapabilitiesResponse, ComposeRequest, ComposeResponse,
    ExtractFramesRequest, ExtractFramesResponse, ProbeRequest, ProbeResponse, SynthesizeRequest,
    SynthesizeResponse,
};
use tonic::{Request, Response, Status};

use crate::error::RenderError;

/// The render service.
pub struct Render {
    #[allow(dead_code)]
    ctx: ServiceContext,
    caps: CapabilitiesResponse,
}

impl Render {
    /// A render service with the capabilities probed at start-up.
    pub fn new(ctx: ServiceContext, caps: CapabilitiesResponse) -> Self {
        Self { ctx, caps }
    }
}

type ComposeStream = Pin<Box<dyn Stream<Item = Result<ComposeResponse, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl RenderService for Render {
    async fn capabilities(
        &self,
        _req: Request<CapabilitiesRequest>,
    ) -> Result<Response<CapabilitiesResponse>, Status> {
        Ok(Response::new(self.caps.clone()))
    }

    async fn probe(&self, _req: Request<ProbeRequest>) -> Result<Response<ProbeResponse>, Status> {
        Err(
            RenderError::NotImplemented("RenderService/Probe (media probing with libavformat)")
                .into(),
        )
    }

    async fn extract_frames(
        &self,
        _req: Request<ExtractFramesRequest>,
    ) -> Result<Response<ExtractFramesResponse>, Status> {
        Err(RenderError::NotImplemented(
            "RenderService/ExtractFrames (keyframe-seeking frame extraction)",
        )
        .into())
    }

    async fn synthesize(
        &self,
        _req: Request<SynthesizeRequest>,
    ) -> Result<Response<SynthesizeResponse>, Status> {
        Err(
            RenderError::NotImplemented("RenderService/Synthesize (espeak-ng and Seed-TTS voices)")
                .into(),
        )
    }

    type ComposeStream = ComposeStream;

    async fn compose(
        &self,
        _req: Request<ComposeRequest>,
    ) -> Result<Response<Self::ComposeStream>, Status> {
        Err(RenderError::NotImplemented(
            "RenderService/Compose (one-pass timeline compose to 1080x1920 H.264)",
        )
        .into())
    }
}
