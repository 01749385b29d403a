//! The gRPC surface of the publish service. `GetPublishAssist` and
//! `RegeneratePublishAssist` serve topics and titles (seed 000 §4.6);
//! publishing to the platforms themselves (`Publish`, `ListPublications`)
//! needs Douyin and Xiaohongshu open-platform accounts and is not built yet:
//! those answer UNIMPLEMENTED naming what is missing.

use std::sync::Arc;

use scout_common::auth::caller;
use scout_proto::scout::publish::v1::{
    GetPublishAssistRequest, GetPublishAssistResponse, ListPublicationsRequest,
    ListPublicationsResponse, PublishRequest, PublishResponse, RegeneratePublishAssistRequest,
    RegeneratePublishAssistResponse, publish_service_server::PublishService,
};
use tonic::{Request, Response, Status};

use crate::State;
use crate::error::PublishError;
use crate::suggest;

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
        _req: Request<PublishRequest>,
    ) -> Result<Response<PublishResponse>, Status> {
        Err(PublishError::NotBuilt("PublishService/Publish").into())
    }

    async fn list_publications(
        &self,
        _req: Request<ListPublicationsRequest>,
    ) -> Result<Response<ListPublicationsResponse>, Status> {
        Err(PublishError::NotBuilt("PublishService/ListPublications").into())
    }
}
