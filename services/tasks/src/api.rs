//! The gRPC surface of the tasks service: `TasksService` (the public API:
//! tasks, uploads, analysis, scripts, voice and subtitles, compose, outputs,
//! progress), `TasksInternalService` (the workers' reports, the render
//! nodes' heartbeats and the task context they read) and `TasksAdminService`
//! (the admin panel). Handlers only translate between the wire and the
//! domain modules; the caller of a user RPC comes from the verified token.

use std::pin::Pin;
use std::sync::Arc;

use scout_proto::scout::tasks::v1::tasks_admin_service_server::TasksAdminService;
use scout_proto::scout::tasks::v1::{
    AddLibraryClipRequest, AddLibraryClipResponse, ListLibraryRequest, ListLibraryResponse,
};
use scout_proto::scout::tasks::v1::{
    BatchCreateTasksRequest, BatchCreateTasksResponse, DeleteUserTaskRequest,
    DeleteUserTaskResponse, DiscardDeadLettersRequest, DiscardDeadLettersResponse,
    GetTaskCostRequest, GetTaskCostResponse, GetUserUsageRequest, GetUserUsageResponse,
    ListAllTasksRequest, ListAllTasksResponse, ListDeadLettersRequest, ListDeadLettersResponse,
    ListQueuesRequest, ListQueuesResponse, ListRenderNodesRequest, ListRenderNodesResponse,
    ListTasksAuditLogRequest, ListTasksAuditLogResponse, ReplayDeadLettersRequest,
    ReplayDeadLettersResponse, ReportRenderNodeRequest, ReportRenderNodeResponse,
    RetryUserTaskRequest, RetryUserTaskResponse,
};
use scout_proto::scout::tasks::v1::{
    ConfirmVideoRequest, ConfirmVideoResponse, CreateTaskRequest, CreateTaskResponse,
    CreateVideoUploadUrlRequest, CreateVideoUploadUrlResponse, DeleteTaskRequest,
    DeleteTaskResponse, DeleteVideoRequest, DeleteVideoResponse, GetAssetsPackRequest,
    GetAssetsPackResponse, GetDownloadUrlRequest, GetDownloadUrlResponse, GetEditableDraftRequest,
    GetEditableDraftResponse, GetOutputRequest, GetOutputResponse, GetProgressRequest,
    GetProgressResponse, GetScriptRequest, GetScriptResponse, GetSubtitlePreviewsRequest,
    GetSubtitlePreviewsResponse, GetTaskContextRequest, GetTaskContextResponse, GetTaskRequest,
    GetTaskResponse, ListTasksRequest, ListTasksResponse, ListVideosRequest, ListVideosResponse,
    RegenerateScriptRequest, RegenerateScriptResponse, ReorderVideosRequest, ReorderVideosResponse,
    ReportClipAnalysisRequest, ReportClipAnalysisResponse, ReportComposeResultRequest,
    ReportComposeResultResponse, ReportJobFailureRequest, ReportJobFailureResponse,
    ReportProgressRequest, ReportProgressResponse, ReportScriptRequest, ReportScriptResponse,
    RetryTaskRequest, RetryTaskResponse, Script, SetSubtitleSettingsRequest,
    SetSubtitleSettingsResponse, SetVoiceRequest, SetVoiceResponse, StartAnalysisRequest,
    StartAnalysisResponse, StartComposeRequest, StartComposeResponse, SubtitleSettings, TaskStatus,
    UpdateScriptRequest, UpdateScriptResponse, VoiceSettings, WatchProgressRequest,
    WatchProgressResponse, tasks_internal_service_server::TasksInternalService,
    tasks_service_server::TasksService,
};
use scout_proto::scout::tasks::v1::{
    CreateBrandLogoUploadUrlRequest, CreateBrandLogoUploadUrlResponse, GetBrandKitRequest,
    GetBrandKitResponse, UpdateBrandKitRequest, UpdateBrandKitResponse,
};
use tonic::{Request, Response, Status};

use scout_common::auth::caller;

use crate::State;
use crate::{
    admin, analysis, brand, compose, deadletters, library, nodes, previews, progress, scripts,
    tasks, uploads,
};

type BoxStream<T> = Pin<Box<dyn futures::Stream<Item = Result<T, Status>> + Send + 'static>>;

/// `scout.tasks.v1.TasksService`.
#[derive(Clone)]
pub struct TasksApi {
    #[allow(dead_code)]
    state: Arc<State>,
}

impl TasksApi {
    /// The service over shared state.
    pub fn new(state: Arc<State>) -> Self {
        Self { state }
    }
}

/// `scout.tasks.v1.TasksInternalService`.
#[derive(Clone)]
pub struct TasksInternalApi {
    state: Arc<State>,
}

impl TasksInternalApi {
    /// The service over shared state.
    pub fn new(state: Arc<State>) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl TasksService for TasksApi {
    async fn create_task(
        &self,
        req: Request<CreateTaskRequest>,
    ) -> Result<Response<CreateTaskResponse>, Status> {
        let user = caller(&req)?.user_id;
        let task = tasks::create(&self.state, user, req.get_ref()).await?;
        Ok(Response::new(CreateTaskResponse { task: Some(task) }))
    }

    async fn batch_create_tasks(
        &self,
        req: Request<BatchCreateTasksRequest>,
    ) -> Result<Response<BatchCreateTasksResponse>, Status> {
        let user = caller(&req)?;
        let items = tasks::create_batch(&self.state, &user, &req.get_ref().tasks).await?;
        Ok(Response::new(BatchCreateTasksResponse { items }))
    }
    async fn list_tasks(
        &self,
        req: Request<ListTasksRequest>,
    ) -> Result<Response<ListTasksResponse>, Status> {
        let user = caller(&req)?.user_id;
        let r = req.into_inner();
        let (items, pagination) =
            tasks::list(&self.state, user, r.page, r.page_size, r.status).await?;
        Ok(Response::new(ListTasksResponse {
            items,
            pagination: Some(pagination),
        }))
    }

    async fn get_task(
        &self,
        req: Request<GetTaskRequest>,
    ) -> Result<Response<GetTaskResponse>, Status> {
        let user = caller(&req)?.user_id;
        let task = tasks::get(&self.state, user, req.get_ref().task_id).await?;
        Ok(Response::new(GetTaskResponse { task: Some(task) }))
    }

    async fn delete_task(
        &self,
        req: Request<DeleteTaskRequest>,
    ) -> Result<Response<DeleteTaskResponse>, Status> {
        let user = caller(&req)?.user_id;
        tasks::delete(&self.state, user, req.get_ref().task_id).await?;
        Ok(Response::new(DeleteTaskResponse {}))
    }

    async fn retry_task(
        &self,
        req: Request<RetryTaskRequest>,
    ) -> Result<Response<RetryTaskResponse>, Status> {
        let user = caller(&req)?.user_id;
        let task_id = req.get_ref().task_id;
        analysis::retry(&self.state, user, task_id).await?;
        let task = tasks::get(&self.state, user, task_id).await?;
        Ok(Response::new(RetryTaskResponse { task: Some(task) }))
    }

    async fn create_video_upload_url(
        &self,
        req: Request<CreateVideoUploadUrlRequest>,
    ) -> Result<Response<CreateVideoUploadUrlResponse>, Status> {
        let user = caller(&req)?;
        let limits = uploads::Limits::of(&self.state, &user.membership);
        let r = req.into_inner();
        let up = uploads::upload_url(
            &self.state,
            &limits,
            user.user_id,
            r.task_id,
            &r.content_type,
            r.file_size,
        )
        .await?;
        Ok(Response::new(CreateVideoUploadUrlResponse {
            upload_url: up.url,
            oss_key: up.key,
            expires_in: uploads::UPLOAD_URL_TTL.as_secs() as i32,
            required_headers: up.headers.into_iter().collect(),
        }))
    }

    async fn confirm_video(
        &self,
        req: Request<ConfirmVideoRequest>,
    ) -> Result<Response<ConfirmVideoResponse>, Status> {
        let user = caller(&req)?;
        let limits = uploads::Limits::of(&self.state, &user.membership);
        let r = req.into_inner();
        let row = uploads::confirm(
            &self.state,
            &limits,
            user.user_id,
            r.task_id,
            &r.oss_key,
            &r.original_filename,
        )
        .await?;
        Ok(Response::new(ConfirmVideoResponse {
            video: Some(uploads::to_proto(&self.state, &row).await),
        }))
    }

    async fn list_videos(
        &self,
        req: Request<ListVideosRequest>,
    ) -> Result<Response<ListVideosResponse>, Status> {
        let user = caller(&req)?.user_id;
        let rows = uploads::list(&self.state, user, req.get_ref().task_id).await?;
        let mut items = Vec::with_capacity(rows.len());
        for row in &rows {
            items.push(uploads::to_proto(&self.state, row).await);
        }
        Ok(Response::new(ListVideosResponse { items }))
    }

    async fn list_library(
        &self,
        req: Request<ListLibraryRequest>,
    ) -> Result<Response<ListLibraryResponse>, Status> {
        let user = caller(&req)?.user_id;
        let rows = library::list(&self.state, user, req.get_ref().task_id).await?;
        let mut items = Vec::with_capacity(rows.len());
        for row in &rows {
            items.push(uploads::to_proto(&self.state, row).await);
        }
        Ok(Response::new(ListLibraryResponse { items }))
    }

    async fn add_library_clip(
        &self,
        req: Request<AddLibraryClipRequest>,
    ) -> Result<Response<AddLibraryClipResponse>, Status> {
        let user = caller(&req)?;
        let limits = uploads::Limits::of(&self.state, &user.membership);
        let r = req.get_ref();
        let row = library::add(&self.state, &limits, user.user_id, r.task_id, r.video_id).await?;
        Ok(Response::new(AddLibraryClipResponse {
            video: Some(uploads::to_proto(&self.state, &row).await),
        }))
    }

    async fn reorder_videos(
        &self,
        req: Request<ReorderVideosRequest>,
    ) -> Result<Response<ReorderVideosResponse>, Status> {
        let user = caller(&req)?.user_id;
        let r = req.into_inner();
        let rows = uploads::reorder(&self.state, user, r.task_id, r.video_ids).await?;
        let mut items = Vec::with_capacity(rows.len());
        for row in &rows {
            items.push(uploads::to_proto(&self.state, row).await);
        }
        Ok(Response::new(ReorderVideosResponse { items }))
    }

    async fn get_subtitle_previews(
        &self,
        req: Request<GetSubtitlePreviewsRequest>,
    ) -> Result<Response<GetSubtitlePreviewsResponse>, Status> {
        let user = caller(&req)?.user_id;
        let previews =
            previews::subtitle_previews(&self.state, user, req.get_ref().task_id).await?;
        Ok(Response::new(GetSubtitlePreviewsResponse { previews }))
    }

    async fn delete_video(
        &self,
        req: Request<DeleteVideoRequest>,
    ) -> Result<Response<DeleteVideoResponse>, Status> {
        let user = caller(&req)?.user_id;
        let r = req.into_inner();
        uploads::delete(&self.state, user, r.task_id, r.video_id).await?;
        Ok(Response::new(DeleteVideoResponse {}))
    }

    async fn start_analysis(
        &self,
        req: Request<StartAnalysisRequest>,
    ) -> Result<Response<StartAnalysisResponse>, Status> {
        let user = caller(&req)?.user_id;
        let estimate = analysis::start(&self.state, user, req.get_ref().task_id).await?;
        Ok(Response::new(StartAnalysisResponse {
            status: TaskStatus::Analyzing as i32,
            estimated_duration_seconds: estimate,
        }))
    }

    async fn get_script(
        &self,
        req: Request<GetScriptRequest>,
    ) -> Result<Response<GetScriptResponse>, Status> {
        let user = caller(&req)?.user_id;
        let script = scripts::get(&self.state, user, req.get_ref().task_id).await?;
        Ok(Response::new(GetScriptResponse {
            script: Some(script),
        }))
    }

    async fn update_script(
        &self,
        req: Request<UpdateScriptRequest>,
    ) -> Result<Response<UpdateScriptResponse>, Status> {
        let user = caller(&req)?.user_id;
        let r = req.into_inner();
        let script = scripts::update(&self.state, user, r.task_id, &r.paragraphs).await?;
        Ok(Response::new(UpdateScriptResponse {
            script: Some(script),
        }))
    }

    async fn regenerate_script(
        &self,
        req: Request<RegenerateScriptRequest>,
    ) -> Result<Response<RegenerateScriptResponse>, Status> {
        let who = caller(&req)?;
        let user = who.user_id;
        let max =
            i32::try_from(crate::quotas::tier(&self.state, &who.membership).regenerations_per_task)
                .unwrap_or(i32::MAX);
        let task_id = req.get_ref().task_id;
        // The current script is answered until the new one arrives
        // (the task shows ANALYZING meanwhile).
        let current = scripts::get(&self.state, user, task_id).await?;
        let remaining = analysis::regenerate(&self.state, user, max, task_id).await?;
        Ok(Response::new(RegenerateScriptResponse {
            script: Some(Script {
                regenerate_remaining: remaining,
                ..current
            }),
            regenerate_remaining: remaining,
        }))
    }

    async fn set_voice(
        &self,
        req: Request<SetVoiceRequest>,
    ) -> Result<Response<SetVoiceResponse>, Status> {
        let user = caller(&req)?.user_id;
        let r = req.into_inner();
        let voice = r.voice.unwrap_or_default();
        compose::settings(&self.state, user, r.task_id, Some(&voice), None).await?;
        let task = tasks::get(&self.state, user, r.task_id).await?;
        Ok(Response::new(SetVoiceResponse { task: Some(task) }))
    }

    async fn set_subtitle_settings(
        &self,
        req: Request<SetSubtitleSettingsRequest>,
    ) -> Result<Response<SetSubtitleSettingsResponse>, Status> {
        let user = caller(&req)?.user_id;
        let r = req.into_inner();
        let subtitle = r.subtitle.unwrap_or_default();
        compose::settings(&self.state, user, r.task_id, None, Some(&subtitle)).await?;
        let task = tasks::get(&self.state, user, r.task_id).await?;
        Ok(Response::new(SetSubtitleSettingsResponse {
            task: Some(task),
        }))
    }

    async fn start_compose(
        &self,
        req: Request<StartComposeRequest>,
    ) -> Result<Response<StartComposeResponse>, Status> {
        let user = caller(&req)?;
        let r = req.into_inner();
        // The seed's flat body: a setting the caller left out keeps the task's.
        let voice =
            (!r.voice_type.is_empty() || r.voice_sample_id.is_some() || r.voice_speed.is_some())
                .then(|| VoiceSettings {
                    voice_type: r.voice_type.clone(),
                    voice_sample_id: r.voice_sample_id.unwrap_or(0),
                    speed: r.voice_speed.unwrap_or(0.0),
                });
        let subtitle =
            (r.subtitle_enabled.is_some() || r.subtitle_style != 0).then(|| SubtitleSettings {
                enabled: r.subtitle_enabled.unwrap_or(true),
                style: r.subtitle_style,
            });
        let estimate = compose::start(
            &self.state,
            &user,
            r.task_id,
            voice.as_ref(),
            subtitle.as_ref(),
        )
        .await?;
        Ok(Response::new(StartComposeResponse {
            status: TaskStatus::Composing as i32,
            estimated_duration_seconds: estimate,
        }))
    }

    async fn get_progress(
        &self,
        req: Request<GetProgressRequest>,
    ) -> Result<Response<GetProgressResponse>, Status> {
        let user = caller(&req)?.user_id;
        let p = progress::get(&self.state, user, req.get_ref().task_id).await?;
        Ok(Response::new(GetProgressResponse { progress: Some(p) }))
    }

    type WatchProgressStream = BoxStream<WatchProgressResponse>;

    async fn watch_progress(
        &self,
        req: Request<WatchProgressRequest>,
    ) -> Result<Response<Self::WatchProgressStream>, Status> {
        use futures::StreamExt as _;
        let user = caller(&req)?.user_id;
        let stream = progress::watch(self.state.clone(), user, req.get_ref().task_id).await?;
        Ok(Response::new(Box::pin(stream.map(|r| {
            r.map(|p| WatchProgressResponse { progress: Some(p) })
        }))))
    }

    async fn get_output(
        &self,
        req: Request<GetOutputRequest>,
    ) -> Result<Response<GetOutputResponse>, Status> {
        let user = caller(&req)?.user_id;
        Ok(Response::new(
            compose::output(&self.state, user, req.get_ref().task_id).await?,
        ))
    }

    async fn get_download_url(
        &self,
        req: Request<GetDownloadUrlRequest>,
    ) -> Result<Response<GetDownloadUrlResponse>, Status> {
        let user = caller(&req)?.user_id;
        let task_id = req.get_ref().task_id;
        let url = compose::download(&self.state, user, task_id, false).await?;
        admin_usage_download(&self.state, task_id).await;
        Ok(Response::new(GetDownloadUrlResponse {
            url,
            expires_in: compose::DOWNLOAD_TTL.as_secs() as i32,
        }))
    }

    async fn get_assets_pack(
        &self,
        req: Request<GetAssetsPackRequest>,
    ) -> Result<Response<GetAssetsPackResponse>, Status> {
        let user = caller(&req)?.user_id;
        let url = compose::download(&self.state, user, req.get_ref().task_id, true).await?;
        Ok(Response::new(GetAssetsPackResponse {
            url,
            expires_in: compose::DOWNLOAD_TTL.as_secs() as i32,
        }))
    }

    async fn get_editable_draft(
        &self,
        req: Request<GetEditableDraftRequest>,
    ) -> Result<Response<GetEditableDraftResponse>, Status> {
        let user = caller(&req)?.user_id;
        let r = req.get_ref();
        let url = compose::editable_draft(&self.state, user, r.task_id, &r.drafts_root).await?;
        Ok(Response::new(GetEditableDraftResponse {
            url,
            expires_in: compose::DOWNLOAD_TTL.as_secs() as i32,
            format: "jianying".into(),
        }))
    }

    async fn get_brand_kit(
        &self,
        req: Request<GetBrandKitRequest>,
    ) -> Result<Response<GetBrandKitResponse>, Status> {
        let user = caller(&req)?.user_id;
        let kit = brand::get(&self.state, user).await?;
        Ok(Response::new(GetBrandKitResponse { kit: Some(kit) }))
    }

    async fn update_brand_kit(
        &self,
        req: Request<UpdateBrandKitRequest>,
    ) -> Result<Response<UpdateBrandKitResponse>, Status> {
        let user = caller(&req)?.user_id;
        let kit = req.into_inner().kit.unwrap_or_default();
        let kit = brand::update(&self.state, user, kit).await?;
        Ok(Response::new(UpdateBrandKitResponse { kit: Some(kit) }))
    }

    async fn create_brand_logo_upload_url(
        &self,
        req: Request<CreateBrandLogoUploadUrlRequest>,
    ) -> Result<Response<CreateBrandLogoUploadUrlResponse>, Status> {
        let user = caller(&req)?.user_id;
        let r = req.get_ref();
        let up = brand::logo_upload_url(&self.state, user, &r.content_type, r.file_size).await?;
        Ok(Response::new(CreateBrandLogoUploadUrlResponse {
            upload_url: up.url,
            logo_key: up.key,
            expires_in: brand::UPLOAD_URL_TTL.as_secs() as i32,
            required_headers: up.headers.into_iter().collect(),
        }))
    }
}

#[tonic::async_trait]
impl TasksInternalService for TasksInternalApi {
    async fn get_task_context(
        &self,
        req: Request<GetTaskContextRequest>,
    ) -> Result<Response<GetTaskContextResponse>, Status> {
        Ok(Response::new(
            analysis::context(
                &self.state,
                req.get_ref().task_id,
                req.get_ref().with_library,
            )
            .await?,
        ))
    }

    async fn report_progress(
        &self,
        req: Request<ReportProgressRequest>,
    ) -> Result<Response<ReportProgressResponse>, Status> {
        progress::report(&self.state, req.get_ref()).await;
        Ok(Response::new(ReportProgressResponse {}))
    }

    async fn report_clip_analysis(
        &self,
        req: Request<ReportClipAnalysisRequest>,
    ) -> Result<Response<ReportClipAnalysisResponse>, Status> {
        let r = req.into_inner();
        let a = r.analysis.unwrap_or_default();
        let applied =
            analysis::report_clip(&self.state, &r.job_id, r.task_id, r.video_id, &a).await?;
        Ok(Response::new(ReportClipAnalysisResponse { applied }))
    }

    async fn report_script(
        &self,
        req: Request<ReportScriptRequest>,
    ) -> Result<Response<ReportScriptResponse>, Status> {
        let r = req.into_inner();
        let applied = analysis::report_script(&self.state, &r).await?;
        Ok(Response::new(ReportScriptResponse { applied }))
    }

    async fn report_compose_result(
        &self,
        req: Request<ReportComposeResultRequest>,
    ) -> Result<Response<ReportComposeResultResponse>, Status> {
        let r = req.into_inner();
        let output = r.output.unwrap_or_default();
        let applied = compose::report_result(&self.state, &r.job_id, r.task_id, &output).await?;
        Ok(Response::new(ReportComposeResultResponse { applied }))
    }

    async fn report_job_failure(
        &self,
        req: Request<ReportJobFailureRequest>,
    ) -> Result<Response<ReportJobFailureResponse>, Status> {
        let applied = analysis::report_failure(&self.state, req.get_ref()).await?;
        Ok(Response::new(ReportJobFailureResponse { applied }))
    }

    async fn report_render_node(
        &self,
        req: Request<ReportRenderNodeRequest>,
    ) -> Result<Response<ReportRenderNodeResponse>, Status> {
        nodes::report(&self.state, req.get_ref()).await?;
        Ok(Response::new(ReportRenderNodeResponse {}))
    }
}

/// Counts a download of a task's video (for the transfer estimate); a
/// failure here never costs the user their link.
async fn admin_usage_download(state: &State, task_id: i64) {
    let row = crate::store::UsageRow {
        task_id,
        downloads: 1,
        ..Default::default()
    };
    if let Err(e) = state
        .db
        .run(move |c| crate::store::add_usage(c, &row))
        .await
    {
        tracing::warn!(task_id, error = %e, "cannot count a download");
    }
}

/// `scout.tasks.v1.TasksAdminService`: the admin panel. The guard lets only
/// tokens with the admin role in (`Access::Admin`).
#[derive(Clone)]
pub struct TasksAdminApi {
    state: Arc<State>,
}

impl TasksAdminApi {
    /// The service over shared state.
    pub fn new(state: Arc<State>) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl TasksAdminService for TasksAdminApi {
    async fn list_all_tasks(
        &self,
        req: Request<ListAllTasksRequest>,
    ) -> Result<Response<ListAllTasksResponse>, Status> {
        let (items, pagination) = admin::list(&self.state, req.get_ref()).await?;
        Ok(Response::new(ListAllTasksResponse {
            items,
            pagination: Some(pagination),
        }))
    }

    async fn retry_user_task(
        &self,
        req: Request<RetryUserTaskRequest>,
    ) -> Result<Response<RetryUserTaskResponse>, Status> {
        let who = caller(&req)?;
        let r = req.get_ref();
        let task = admin::retry(&self.state, &who, r.task_id, &r.reason).await?;
        Ok(Response::new(RetryUserTaskResponse { task: Some(task) }))
    }

    async fn delete_user_task(
        &self,
        req: Request<DeleteUserTaskRequest>,
    ) -> Result<Response<DeleteUserTaskResponse>, Status> {
        let who = caller(&req)?;
        let r = req.get_ref();
        admin::delete(&self.state, &who, r.task_id, &r.reason).await?;
        Ok(Response::new(DeleteUserTaskResponse {}))
    }

    async fn get_task_cost(
        &self,
        req: Request<GetTaskCostRequest>,
    ) -> Result<Response<GetTaskCostResponse>, Status> {
        let cost = admin::cost(&self.state, req.get_ref().task_id).await?;
        Ok(Response::new(GetTaskCostResponse { cost: Some(cost) }))
    }

    async fn get_user_usage(
        &self,
        req: Request<GetUserUsageRequest>,
    ) -> Result<Response<GetUserUsageResponse>, Status> {
        let usage = admin::user_usage(&self.state, req.get_ref().user_id).await?;
        Ok(Response::new(GetUserUsageResponse { usage: Some(usage) }))
    }

    async fn list_queues(
        &self,
        _req: Request<ListQueuesRequest>,
    ) -> Result<Response<ListQueuesResponse>, Status> {
        Ok(Response::new(admin::queues(&self.state).await?))
    }

    async fn list_dead_letters(
        &self,
        req: Request<ListDeadLettersRequest>,
    ) -> Result<Response<ListDeadLettersResponse>, Status> {
        let r = req.get_ref();
        let (items, pagination) =
            deadletters::list(&self.state, &r.kind, r.state, r.page, r.page_size).await?;
        Ok(Response::new(ListDeadLettersResponse {
            items,
            pagination: Some(pagination),
        }))
    }

    async fn replay_dead_letters(
        &self,
        req: Request<ReplayDeadLettersRequest>,
    ) -> Result<Response<ReplayDeadLettersResponse>, Status> {
        let who = caller(&req)?;
        let r = req.get_ref();
        let outcomes =
            deadletters::replay(&self.state, &who, &r.ids, r.all, &r.kind, &r.reason).await?;
        Ok(Response::new(ReplayDeadLettersResponse { outcomes }))
    }

    async fn discard_dead_letters(
        &self,
        req: Request<DiscardDeadLettersRequest>,
    ) -> Result<Response<DiscardDeadLettersResponse>, Status> {
        let who = caller(&req)?;
        let r = req.get_ref();
        let outcomes =
            deadletters::discard(&self.state, &who, &r.ids, r.all, &r.kind, &r.reason).await?;
        Ok(Response::new(DiscardDeadLettersResponse { outcomes }))
    }

    async fn list_render_nodes(
        &self,
        _req: Request<ListRenderNodesRequest>,
    ) -> Result<Response<ListRenderNodesResponse>, Status> {
        Ok(Response::new(ListRenderNodesResponse {
            nodes: nodes::list(&self.state).await?,
        }))
    }

    async fn list_tasks_audit_log(
        &self,
        req: Request<ListTasksAuditLogRequest>,
    ) -> Result<Response<ListTasksAuditLogResponse>, Status> {
        let r = req.get_ref();
        let (items, pagination) = admin::audit_log(&self.state, r.page, r.page_size).await?;
        Ok(Response::new(ListTasksAuditLogResponse {
            items,
            pagination: Some(pagination),
        }))
    }
}
