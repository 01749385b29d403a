//! The gRPC surface of the publish service. Every RPC is in the contract;
//! the ones whose logic belongs to a later milestone answer UNIMPLEMENTED
//! naming what is missing (PublishService: topics, titles and publishing).

use std::sync::Arc;

use scout_proto::scout::publish::v1::{
    GetPublishAssistRequest, GetPublishAssistResponse, ListPublicationsRequest,
    ListPublicationsResponse, PublishRequest, PublishResponse, RegeneratePublishAssistRequest,
    RegeneratePublishAssistResponse, publish_service_server::PublishService,
};
use tonic::{Request, Response, Status};

use crate::State;
use crate::error::not_yet;

/// `scout.publish.v1.PublishService`.
#[derive(Clone)]
pub struct PublishApi {
    #[allow(dead_code)]
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
        _req: Request<GetPublishAssistRequest>,
    ) -> Result<Response<GetPublishAssistResponse>, Status> {
        Err(not_yet("PublishService/GetPublishAssist"))
    }

    async fn regenerate_publish_assist(
        &self,
        _req: Request<RegeneratePublishAssistRequest>,
    ) -> Result<Response<RegeneratePublishAssistResponse>, Status> {
        Err(not_yet("PublishService/RegeneratePublishAssist"))
    }

    async fn publish(
        &self,
        _req: Request<PublishRequest>,
    ) -> Result<Response<PublishResponse>, Status> {
        Err(not_yet("PublishService/Publish"))
    }

    async fn list_publications(
        &self,
        _req: Request<ListPublicationsRequest>,
    ) -> Result<Response<ListPublicationsResponse>, Status> {
        Err(not_yet("PublishService/ListPublications"))
    }
}
