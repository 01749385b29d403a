//! The gRPC surface of the vision service. Every RPC is in the contract;
//! the ones whose logic belongs to a later milestone answer UNIMPLEMENTED
//! naming what is missing (VisionService: shot analysis and script writing).

use std::sync::Arc;

use scout_proto::scout::vision::v1::{
    AnalyzeClipRequest, AnalyzeClipResponse, WriteScriptRequest, WriteScriptResponse,
    vision_service_server::VisionService,
};
use tonic::{Request, Response, Status};

use crate::State;
use crate::error::not_yet;

/// `scout.vision.v1.VisionService`.
#[derive(Clone)]
pub struct VisionApi {
    #[allow(dead_code)]
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
        _req: Request<AnalyzeClipRequest>,
    ) -> Result<Response<AnalyzeClipResponse>, Status> {
        Err(not_yet("VisionService/AnalyzeClip"))
    }

    async fn write_script(
        &self,
        _req: Request<WriteScriptRequest>,
    ) -> Result<Response<WriteScriptResponse>, Status> {
        Err(not_yet("VisionService/WriteScript"))
    }
}
