//! The gRPC surface of the identity service: login and tokens
//! ([`crate::session`]), the profile, and voice samples ([`crate::voice`]).
//! Handlers only translate between the wire and those modules; the caller
//! of a user RPC comes from the verified token the guard attached.

use std::sync::Arc;

use scout_common::auth::caller;
use scout_proto::scout::identity::v1::{
    CreateVoiceSampleRequest, CreateVoiceSampleResponse, CreateVoiceSampleUploadUrlRequest,
    CreateVoiceSampleUploadUrlResponse, DeleteVoiceSampleRequest, DeleteVoiceSampleResponse,
    GetJwksRequest, GetJwksResponse, GetMeRequest, GetMeResponse, GetVoiceSampleRequest,
    GetVoiceSampleResponse, ListVoiceSamplesRequest, ListVoiceSamplesResponse, LoginRequest,
    LoginResponse, LogoutRequest, LogoutResponse, RefreshTokenRequest, RefreshTokenResponse,
    ReportVoiceCloneRequest, ReportVoiceCloneResponse, SendCodeRequest, SendCodeResponse,
    UpdateMeRequest, UpdateMeResponse, identity_internal_service_server::IdentityInternalService,
    identity_service_server::IdentityService,
};
use scout_proto::scout::identity::v1::{
    DisableUserRequest, DisableUserResponse, ListAuditLogRequest, ListAuditLogResponse,
    SearchUsersRequest, SearchUsersResponse, SetMembershipRequest, SetMembershipResponse,
    identity_admin_service_server::IdentityAdminService,
};
use tonic::{Request, Response, Status};

use crate::State;
use crate::{admin, profile, session, voice};

/// `scout.identity.v1.IdentityService`.
#[derive(Clone)]
pub struct IdentityApi {
    state: Arc<State>,
}

impl IdentityApi {
    /// The service over shared state.
    pub fn new(state: Arc<State>) -> Self {
        Self { state }
    }
}

/// `scout.identity.v1.IdentityAdminService` (the guard lets only admins in).
#[derive(Clone)]
pub struct IdentityAdminApi {
    state: Arc<State>,
}

impl IdentityAdminApi {
    /// The service over shared state.
    pub fn new(state: Arc<State>) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl IdentityAdminService for IdentityAdminApi {
    async fn search_users(
        &self,
        req: Request<SearchUsersRequest>,
    ) -> Result<Response<SearchUsersResponse>, Status> {
        let r = req.into_inner();
        let (items, pagination) = admin::search(&self.state, &r.query, r.page, r.page_size).await?;
        Ok(Response::new(SearchUsersResponse {
            items,
            pagination: Some(pagination),
        }))
    }

    async fn set_membership(
        &self,
        req: Request<SetMembershipRequest>,
    ) -> Result<Response<SetMembershipResponse>, Status> {
        let who = caller(&req)?;
        let r = req.into_inner();
        let user =
            admin::set_membership(&self.state, &who, r.user_id, r.membership_type, &r.reason)
                .await?;
        Ok(Response::new(SetMembershipResponse { user: Some(user) }))
    }

    async fn disable_user(
        &self,
        req: Request<DisableUserRequest>,
    ) -> Result<Response<DisableUserResponse>, Status> {
        let who = caller(&req)?;
        let r = req.into_inner();
        let user = admin::disable(&self.state, &who, r.user_id, &r.reason).await?;
        Ok(Response::new(DisableUserResponse { user: Some(user) }))
    }

    async fn list_audit_log(
        &self,
        req: Request<ListAuditLogRequest>,
    ) -> Result<Response<ListAuditLogResponse>, Status> {
        let r = req.into_inner();
        let (items, pagination) = admin::audit_log(&self.state, r.page, r.page_size).await?;
        Ok(Response::new(ListAuditLogResponse {
            items,
            pagination: Some(pagination),
        }))
    }
}

/// `scout.identity.v1.IdentityInternalService`.
#[derive(Clone)]
pub struct IdentityInternalApi {
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
        req: Request<SendCodeRequest>,
    ) -> Result<Response<SendCodeResponse>, Status> {
        let phone = req.into_inner().phone;
        session::send_code(&self.state, &phone).await?;
        let sms = &self.state.ctx.config.sms;
        Ok(Response::new(SendCodeResponse {
            expires_in: sms.code_ttl.as_secs() as i32,
            resend_after: sms.resend_interval.as_secs() as i32,
            hint: self.state.sms.hint(),
        }))
    }

    async fn login(&self, req: Request<LoginRequest>) -> Result<Response<LoginResponse>, Status> {
        let LoginRequest { phone, code } = req.into_inner();
        let s = session::login(&self.state, &phone, &code).await?;
        Ok(Response::new(LoginResponse {
            user: Some(profile::user_proto(&s.user)),
            access_token: s.access_token,
            refresh_token: s.refresh_token,
            expires_in: s.expires_in as i32,
            refresh_expires_in: s.refresh_expires_in as i32,
            token_type: "Bearer".into(),
            is_new_user: s.is_new_user,
        }))
    }

    async fn refresh_token(
        &self,
        req: Request<RefreshTokenRequest>,
    ) -> Result<Response<RefreshTokenResponse>, Status> {
        let s = session::refresh(&self.state, &req.into_inner().refresh_token).await?;
        Ok(Response::new(RefreshTokenResponse {
            access_token: s.access_token,
            refresh_token: s.refresh_token,
            expires_in: s.expires_in as i32,
            refresh_expires_in: s.refresh_expires_in as i32,
            token_type: "Bearer".into(),
        }))
    }

    async fn logout(
        &self,
        req: Request<LogoutRequest>,
    ) -> Result<Response<LogoutResponse>, Status> {
        let user = caller(&req)?;
        session::logout(&self.state, &user, &req.into_inner().refresh_token).await?;
        Ok(Response::new(LogoutResponse {}))
    }

    async fn get_jwks(
        &self,
        _req: Request<GetJwksRequest>,
    ) -> Result<Response<GetJwksResponse>, Status> {
        Ok(Response::new(GetJwksResponse {
            keys: self
                .state
                .keys
                .published()
                .iter()
                .map(|k| k.jwk())
                .collect(),
        }))
    }

    async fn get_me(&self, req: Request<GetMeRequest>) -> Result<Response<GetMeResponse>, Status> {
        let id = caller(&req)?.user_id;
        let user = profile::get(&self.state, id).await?;
        Ok(Response::new(GetMeResponse { user: Some(user) }))
    }

    async fn update_me(
        &self,
        req: Request<UpdateMeRequest>,
    ) -> Result<Response<UpdateMeResponse>, Status> {
        let id = caller(&req)?.user_id;
        let UpdateMeRequest {
            nickname,
            avatar_url,
        } = req.into_inner();
        let user = profile::update(&self.state, id, nickname, avatar_url).await?;
        Ok(Response::new(UpdateMeResponse { user: Some(user) }))
    }

    async fn list_voice_samples(
        &self,
        req: Request<ListVoiceSamplesRequest>,
    ) -> Result<Response<ListVoiceSamplesResponse>, Status> {
        let id = caller(&req)?.user_id;
        let rows = voice::list(&self.state, id).await?;
        Ok(Response::new(ListVoiceSamplesResponse {
            items: rows.iter().map(voice::to_proto).collect(),
        }))
    }

    async fn create_voice_sample_upload_url(
        &self,
        req: Request<CreateVoiceSampleUploadUrlRequest>,
    ) -> Result<Response<CreateVoiceSampleUploadUrlResponse>, Status> {
        let id = caller(&req)?.user_id;
        let r = req.into_inner();
        let up = voice::upload_url(&self.state, id, &r.content_type, r.file_size).await?;
        Ok(Response::new(CreateVoiceSampleUploadUrlResponse {
            upload_url: up.url,
            oss_key: up.key,
            expires_in: voice::UPLOAD_URL_TTL.as_secs() as i32,
            required_headers: up.headers.into_iter().collect(),
        }))
    }

    async fn create_voice_sample(
        &self,
        req: Request<CreateVoiceSampleRequest>,
    ) -> Result<Response<CreateVoiceSampleResponse>, Status> {
        let id = caller(&req)?.user_id;
        let r = req.into_inner();
        let row = voice::create(&self.state, id, &r.oss_key, &r.name, r.consent).await?;
        Ok(Response::new(CreateVoiceSampleResponse {
            sample: Some(voice::to_proto(&row)),
        }))
    }

    async fn delete_voice_sample(
        &self,
        req: Request<DeleteVoiceSampleRequest>,
    ) -> Result<Response<DeleteVoiceSampleResponse>, Status> {
        let id = caller(&req)?.user_id;
        voice::delete(&self.state, id, req.into_inner().sample_id).await?;
        Ok(Response::new(DeleteVoiceSampleResponse {}))
    }
}

#[tonic::async_trait]
impl IdentityInternalService for IdentityInternalApi {
    async fn report_voice_clone(
        &self,
        req: Request<ReportVoiceCloneRequest>,
    ) -> Result<Response<ReportVoiceCloneResponse>, Status> {
        let applied = voice::report_clone(&self.state, req.into_inner()).await?;
        Ok(Response::new(ReportVoiceCloneResponse { applied }))
    }

    async fn get_voice_sample(
        &self,
        req: Request<GetVoiceSampleRequest>,
    ) -> Result<Response<GetVoiceSampleResponse>, Status> {
        let GetVoiceSampleRequest { user_id, sample_id } = req.into_inner();
        let row = voice::get(&self.state, user_id, sample_id).await?;
        Ok(Response::new(GetVoiceSampleResponse {
            sample: Some(voice::to_proto(&row)),
        }))
    }
}
