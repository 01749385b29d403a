//! The gRPC surface of the publish service: topics and titles (seed 000
//! §4.6), publications, linked accounts and the figures. Thin: each RPC
//! names the caller and hands over to its domain module.

use std::sync::Arc;

use scout_common::auth::caller;
use scout_proto::scout::publish::v1::{
    CancelPublicationRequest, CancelPublicationResponse, CompleteAccountLinkRequest,
    CompleteAccountLinkResponse, GetPublicationStatsRequest, GetPublicationStatsResponse,
    GetPublishAssistRequest, GetPublishAssistResponse, ListAccountsRequest, ListAccountsResponse,
    ListPublicationsRequest, ListPublicationsResponse, Platform, PublishRequest, PublishResponse,
    RegeneratePublishAssistRequest, RegeneratePublishAssistResponse, StartAccountLinkRequest,
    StartAccountLinkResponse, UnlinkAccountRequest, UnlinkAccountResponse,
    publish_service_server::PublishService,
};
use tonic::{Request, Response, Status};

use crate::State;
use crate::suggest;
use crate::{accounts, analytics, publications};

/// `scout.publish.v1.PublishService`.
#[derive(Clone)]
pub struct PublishApi {
    state: Arc<State>,
}

impl PublishApi {
    /// The service over shared state.
    pub fn new(state: Arc<State>) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl PublishService for PublishApi {
    async fn get_publish_assist(
        &self,
        req: Request<GetPublishAssistRequest>,
    ) -> Result<Response<GetPublishAssistResponse>, Status> {
        let user = caller(&req)?;
        let assist = suggest::get(&self.state, user.user_id, req.get_ref().task_id).await?;
        Ok(Response::new(GetPublishAssistResponse {
            assist: Some(assist),
        }))
    }

    async fn regenerate_publish_assist(
        &self,
        req: Request<RegeneratePublishAssistRequest>,
    ) -> Result<Response<RegeneratePublishAssistResponse>, Status> {
        let user = caller(&req)?;
        let assist = suggest::regenerate(&self.state, user.user_id, req.get_ref().task_id).await?;
        Ok(Response::new(RegeneratePublishAssistResponse {
            assist: Some(assist),
        }))
    }

    async fn publish(
        &self,
        req: Request<PublishRequest>,
    ) -> Result<Response<PublishResponse>, Status> {
        let user = caller(&req)?;
        let publications = publications::publish(&self.state, user.user_id, req.get_ref()).await?;
        Ok(Response::new(PublishResponse { publications }))
    }

    async fn list_publications(
        &self,
        req: Request<ListPublicationsRequest>,
    ) -> Result<Response<ListPublicationsResponse>, Status> {
        let user = caller(&req)?;
        let items = publications::list(&self.state, user.user_id, req.get_ref().task_id).await?;
        Ok(Response::new(ListPublicationsResponse { items }))
    }

    async fn cancel_publication(
        &self,
        req: Request<CancelPublicationRequest>,
    ) -> Result<Response<CancelPublicationResponse>, Status> {
        let user = caller(&req)?;
        let publication =
            publications::cancel(&self.state, user.user_id, req.get_ref().publication_id).await?;
        Ok(Response::new(CancelPublicationResponse {
            publication: Some(publication),
        }))
    }

    async fn start_account_link(
        &self,
        req: Request<StartAccountLinkRequest>,
    ) -> Result<Response<StartAccountLinkResponse>, Status> {
        let user = caller(&req)?;
        let platform = Platform::try_from(req.get_ref().platform).unwrap_or_default();
        let (authorize_url, state) = accounts::start(&self.state, user.user_id, platform).await?;
        Ok(Response::new(StartAccountLinkResponse {
            authorize_url,
            state,
        }))
    }

    async fn complete_account_link(
        &self,
        req: Request<CompleteAccountLinkRequest>,
    ) -> Result<Response<CompleteAccountLinkResponse>, Status> {
        let user = caller(&req)?;
        let r = req.get_ref();
        let account =
            accounts::complete(&self.state, user.user_id, &r.code, &r.state, &r.error).await?;
        Ok(Response::new(CompleteAccountLinkResponse {
            account: Some(account),
        }))
    }

    async fn list_accounts(
        &self,
        req: Request<ListAccountsRequest>,
    ) -> Result<Response<ListAccountsResponse>, Status> {
        let user = caller(&req)?;
        let items = accounts::list(&self.state, user.user_id).await?;
        Ok(Response::new(ListAccountsResponse {
            items,
            available: self.state.platforms.available(),
        }))
    }

    async fn unlink_account(
        &self,
        req: Request<UnlinkAccountRequest>,
    ) -> Result<Response<UnlinkAccountResponse>, Status> {
        let user = caller(&req)?;
        let platform = Platform::try_from(req.get_ref().platform).unwrap_or_default();
        accounts::unlink(&self.state, user.user_id, platform).await?;
        Ok(Response::new(UnlinkAccountResponse {}))
    }

    async fn get_publication_stats(
        &self,
        req: Request<GetPublicationStatsRequest>,
    ) -> Result<Response<GetPublicationStatsResponse>, Status> {
        let user = caller(&req)?;
        Ok(Response::new(
            analytics::get(&self.state, user.user_id, req.get_ref()).await?,
        ))
    }
}
