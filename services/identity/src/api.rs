//! The gRPC surface of the identity service. Every RPC is in the contract;
//! the ones whose logic belongs to a later milestone answer UNIMPLEMENTED
//! naming what is missing (IdentityService: phone + SMS-code login, rotating JWTs and voice samples; IdentityInternalService: voice-clone reports).

use std::sync::Arc;

use scout_proto::scout::identity::v1::{
    CreateVoiceSampleRequest, CreateVoiceSampleResponse, CreateVoiceSampleUploadUrlRequest,
    CreateVoiceSampleUploadUrlResponse, DeleteVoiceSampleRequest, DeleteVoiceSampleResponse,
    GetJwksRequest, GetJwksResponse, GetMeRequest, GetMeResponse, GetVoiceSampleRequest,
    GetVoiceSampleResponse, ListVoiceSamplesRequest, ListVoiceSamplesResponse, LoginRequest,
    LoginResponse, LogoutRequest, LogoutResponse, RefreshTokenRequest, RefreshTokenResponse,
    ReportVoiceCloneRequest, ReportVoiceCloneResponse, SendCodeRequest, SendCodeResponse,
    identity_internal_service_server::IdentityInternalService,
    identity_service_server::IdentityService,
};
use tonic::{Request, Response, Status};

use crate::State;
use crate::error::not_yet;

/// `scout.identity.v1.IdentityService`.
#[derive(Clone)]
pub struct IdentityApi {
    #[allow(dead_code)]
    state: Arc<State>,
}

impl IdentityApi {
    /// The service over shared state.
    pub fn new(state: Arc<State>) -> Self {
        Self { state }
    }
}

/// `scout.identity.v1.IdentityInternalService`.
#[derive(Clone)]
pub struct IdentityInternalApi {
    #[allow(dead_code)]
    state: Arc<State>,
}

impl IdentityInternalApi {
    /// The service over shared state.
    pub fn new(state: Arc<State>) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl IdentityService for IdentityApi {
    async fn send_code(
        &self,
        _req: Request<SendCodeRequest>,
    ) -> Result<Response<SendCodeResponse>, Status> {
        Err(not_yet("IdentityService/SendCode"))
    }

    async fn login(&self, _req: Request<LoginRequest>) -> Result<Response<LoginResponse>, Status> {
        Err(not_yet("IdentityService/Login"))
    }

    async fn refresh_token(
        &self,
        _req: Request<RefreshTokenRequest>,
    ) -> Result<Response<RefreshTokenResponse>, Status> {
        Err(not_yet("IdentityService/RefreshToken"))
    }

    async fn logout(
        &self,
        _req: Request<LogoutRequest>,
    ) -> Result<Response<LogoutResponse>, Status> {
        Err(not_yet("IdentityService/Logout"))
    }

    async fn get_jwks(
        &self,
        _req: Request<GetJwksRequest>,
    ) -> Result<Response<GetJwksResponse>, Status> {
        Err(not_yet("IdentityService/GetJwks"))
    }

    async fn get_me(&self, _req: Request<GetMeRequest>) -> Result<Response<GetMeResponse>, Status> {
        Err(not_yet("IdentityService/GetMe"))
    }

    async fn list_voice_samples(
        &self,
        _req: Request<ListVoiceSamplesRequest>,
    ) -> Result<Response<ListVoiceSamplesResponse>, Status> {
        Err(not_yet("IdentityService/ListVoiceSamples"))
    }

    async fn create_voice_sample_upload_url(
        &self,
        _req: Request<CreateVoiceSampleUploadUrlRequest>,
    ) -> Result<Response<CreateVoiceSampleUploadUrlResponse>, Status> {
        Err(not_yet("IdentityService/CreateVoiceSampleUploadUrl"))
    }

    async fn create_voice_sample(
        &self,
        _req: Request<CreateVoiceSampleRequest>,
    ) -> Result<Response<CreateVoiceSampleResponse>, Status> {
        Err(not_yet("IdentityService/CreateVoiceSample"))
    }

    async fn delete_voice_sample(
        &self,
        _req: Request<DeleteVoiceSampleRequest>,
    ) -> Result<Response<DeleteVoiceSampleResponse>, Status> {
        Err(not_yet("IdentityService/DeleteVoiceSample"))
    }
}

#[tonic::async_trait]
impl IdentityInternalService for IdentityInternalApi {
    async fn report_voice_clone(
        &self,
        _req: Request<ReportVoiceCloneRequest>,
    ) -> Result<Response<ReportVoiceCloneResponse>, Status> {
        Err(not_yet("IdentityInternalService/ReportVoiceClone"))
    }

    async fn get_voice_sample(
        &self,
        _req: Request<GetVoiceSampleRequest>,
    ) -> Result<Response<GetVoiceSampleResponse>, Status> {
        Err(not_yet("IdentityInternalService/GetVoiceSample"))
    }
}
