//! What the analyze worker and the VisionService RPCs share: frames through
//! render, the configured analyzer and writer, and the fallback to the
//! local ones when a remote model fails for good (when configured to).

use std::sync::Arc;
use std::time::Duration;

use scout_common::ErrorCode;
use scout_common::adapters::blob::BlobStore;
use scout_common::auth::{InternalChannel, MeshAuth};
use scout_common::chat::{self, ChatClient, ChatError};
use scout_common::config::{AiConfig, AnalyzerKind, ImagesKind, WriterKind};
use scout_common::jobs::JobError;
use scout_proto::scout::common::v1::{FocusPoint, QualityFactors};
use scout_proto::scout::jobs::v1::DocumentScene;
use scout_proto::scout::render::v1::media_ref::Location;
use scout_proto::scout::render::v1::render_service_client::RenderServiceClient;
use scout_proto::scout::render::v1::{ExtractFramesRequest, MediaRef};
use scout_proto::scout::vision::v1::{DraftParagraph, FrameAnalysis};

use crate::analyzer::{self, ClipResult, Frame, Metrics};
use crate::narration;
use crate::remote;
use crate::topic::{self, TopicBrief, TopicScene};
use crate::visuals;
use crate::writer::{self, Brief};

/// Seconds between analysed frames (seed 000).
pub const FRAME_EVERY: f64 = 2.0;
/// Longest side of the frames analysed.
pub const FRAME_SIZE: i32 = 360;

/// The configured providers.
pub struct Providers {
    /// The remote multimodal model, when `ai.analyzer = "remote"`.
    pub vision: Option<ChatClient>,
    /// The remote text model, when `ai.writer = "remote"`.
    pub text: Option<ChatClient>,
    /// The images model, when `ai.images = "remote"`.
    pub images: Option<ChatClient>,
    /// The picture size asked of it, `WxH`.
    pub image_size: String,
    /// Fall back to the local analyzer / template writer.
    pub fallback: bool,
    /// Frames of a clip sent to the remote analyzer.
    pub frames_per_clip: usize,
}

impl Providers {
    /// From config; a remote provider without endpoint, model or key is an
    /// error naming the key.
    pub fn from_config(ai: &AiConfig) -> Result<Self, ChatError> {
        let limit = chat::in_flight_limit(ai);
        let vision = match ai.analyzer {
            AnalyzerKind::Local => None,
            AnalyzerKind::Remote => Some(ChatClient::new(
                &ai.vision_model,
                ai,
                "ai.vision_model",
                limit.clone(),
            )?),
        };
        let text = match ai.writer {
            WriterKind::Template => None,
            WriterKind::Remote => Some(ChatClient::new(
                &ai.text_model,
                ai,
                "ai.text_model",
                limit.clone(),
            )?),
        };
        let images = match ai.images {
            ImagesKind::None => None,
            ImagesKind::Remote => Some(ChatClient::new(
                &ai.image_model,
                ai,
                "ai.image_model",
                limit,
            )?),
        };
        Ok(Self {
            vision,
            text,
            images,
            image_size: ai.image_size.clone(),
            fallback: ai.fallback_to_local,
            frames_per_clip: ai.frames_per_clip.max(1),
        })
    }
}

/// One clip, analysed.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// The aggregated result.
    pub result: ClipResult,
    /// Each frame, locally measured.
    pub frames: Vec<FrameAnalysis>,
    /// The frames' blob keys.
    pub frame_keys: Vec<String>,
    /// Where the subject is in each frame (largest face, else the detail's centre).
    pub focus: Vec<FocusPoint>,
    /// `local` or `remote:{model}`.
    pub provider: String,
    /// Why the remote analyzer was not used, when it fell back.
    pub fallback: Option<String>,
}

/// A written script.
#[derive(Debug, Clone)]
pub struct Written {
    /// Paragraphs.
    pub paragraphs: Vec<DraftParagraph>,
    /// `template` or `remote:{model}`.
    pub provider: String,
    /// Why the remote writer was not used, when it fell back.
    pub fallback: Option<String>,
}

/// Frames, analysis and writing.
pub struct Engine {
    render: RenderServiceClient<InternalChannel>,
    blobs: Arc<dyn BlobStore>,
    auth: MeshAuth,
    providers: Providers,
}

impl Engine {
    /// An engine asking render at `render_url` for frames.
    pub fn new(
        auth: MeshAuth,
        blobs: Arc<dyn BlobStore>,
        render_url: &str,
        providers: Providers,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            render: RenderServiceClient::new(
                auth.internal_channel(scout_common::grpc::channel(render_url)?),
            ),
            blobs,
            auth,
            providers,
        })
    }

    /// The provider note for a task: which analyzer and writer ran.
    pub fn note(&self, analyses: &[&Analysis], written: &Written) -> String {
        let vision = match &self.providers.vision {
            None => "vision=local".to_string(),
            Some(c) => {
                let fell: Vec<&str> = analyses
                    .iter()
                    .filter_map(|a| a.fallback.as_deref())
                    .collect();
                if fell.is_empty() {
                    format!("vision=remote:{}", c.model())
                } else {
                    format!(
                        "vision=remote:{} (local for {} of {} clips: {})",
                        c.model(),
                        fell.len(),
                        analyses.len(),
                        fell[0]
                    )
                }
            }
        };
        let writer = match (&written.fallback, &self.providers.text) {
            (Some(why), Some(c)) => format!("writer=template (remote:{} failed: {why})", c.model()),
            _ => format!("writer={}", written.provider),
        };
        format!("{vision} {writer}")
    }

    /// Extracts and analyses one clip's frames.
    pub async fn analyze_clip(
        &self,
        task_id: i64,
        video_id: i64,
        key: &str,
    ) -> Result<Analysis, JobError> {
        let mut req = self.auth.internal(ExtractFramesRequest {
            media: Some(MediaRef {
                location: Some(Location::BlobKey(key.to_string())),
            }),
            every_seconds: FRAME_EVERY,
            output_prefix: format!("frames/{task_id}/{video_id}/"),
            thumbnail_key: String::new(),
            max_dimension: FRAME_SIZE,
        });
        req.set_timeout(Duration::from_secs(120));
        let frames = self
            .render
            .clone()
            .extract_frames(req)
            .await
            .map_err(|s| JobError::from_status(&s, &format!("frames of clip {video_id}")))?
            .into_inner()
            .frames;
        let mut metrics = Vec::with_capacity(frames.len());
        let mut keys = Vec::with_capacity(frames.len());
        let mut jpegs = Vec::with_capacity(frames.len());
        let mut times = Vec::with_capacity(frames.len());
        for f in &frames {
            let bytes = self.blobs.get(&f.key).await.map_err(|e| {
                JobError::retryable(
                    ErrorCode::StorageUnavailable,
                    format!("frame {}: {e}", f.key),
                )
            })?;
            let b = bytes.clone();
            let m = tokio::task::spawn_blocking(move || {
                Frame::from_jpeg(&b).map(|fr| analyzer::measure(&fr))
            })
            .await
            .map_err(|e| {
                JobError::retryable(ErrorCode::Internal, format!("analysis task failed: {e}"))
            })?
            .map_err(|e| {
                JobError::permanent(ErrorCode::InvalidMedia, format!("frame {}: {e}", f.key))
            })?;
            metrics.push(m);
            keys.push(f.key.clone());
            jpegs.push(bytes);
            times.push(f.time_seconds);
        }
        if metrics.is_empty() {
            return Err(JobError::permanent(
                ErrorCode::InvalidMedia,
                format!("clip {video_id} gave no frames"),
            ));
        }
        let local = analyzer::analyze_clip(&metrics);
        let per_frame = frame_analyses(&metrics, &times);
        let focus: Vec<FocusPoint> = metrics
            .iter()
            .zip(&times)
            .map(|(m, t)| {
                let (x, y, face) = analyzer::focus(m);
                FocusPoint {
                    time_seconds: *t,
                    x,
                    y,
                    face,
                }
            })
            .collect();
        let Some(client) = &self.providers.vision else {
            return Ok(Analysis {
                result: local,
                frames: per_frame,
                focus: focus.clone(),
                frame_keys: keys,
                provider: "local".into(),
                fallback: None,
            });
        };
        let chosen: Vec<&[u8]> = remote::spaced(&jpegs, self.providers.frames_per_clip)
            .into_iter()
            .map(|b| b.as_ref())
            .collect();
        match remote::analyze_clip(client, &chosen, &local).await {
            Ok(result) => Ok(Analysis {
                result,
                frames: per_frame,
                focus: focus.clone(),
                frame_keys: keys,
                provider: format!("remote:{}", client.model()),
                fallback: None,
            }),
            Err(e) if self.providers.fallback => {
                tracing::warn!(task_id, video_id, error = %e, "remote analyzer failed; using the local one");
                Ok(Analysis {
                    result: local,
                    frames: per_frame,
                    focus: focus.clone(),
                    frame_keys: keys,
                    provider: "local".into(),
                    fallback: Some(e.short().into()),
                })
            }
            Err(e) => Err(model_failure(e, "shot analysis")),
        }
    }

    /// Writes a script with the configured writer.
    pub async fn write(&self, brief: &Brief<'_>) -> Result<Written, JobError> {
        let template = || writer::write(brief);
        let Some(client) = &self.providers.text else {
            return Ok(Written {
                paragraphs: template(),
                provider: "template".into(),
                fallback: None,
            });
        };
        match remote::write_script(client, brief).await {
            Ok(paragraphs) => Ok(Written {
                paragraphs,
                provider: format!("remote:{}", client.model()),
                fallback: None,
            }),
            Err(e) if self.providers.fallback => {
                tracing::warn!(error = %e, "remote writer failed; using the template writer");
                Ok(Written {
                    paragraphs: template(),
                    provider: "template".into(),
                    fallback: Some(e.short().into()),
                })
            }
            Err(e) => Err(model_failure(e, "script writing")),
        }
    }
}

/// A topic short's written scenes.
#[derive(Debug, Clone)]
pub struct TopicWritten {
    /// Scenes in order.
    pub scenes: Vec<TopicScene>,
    /// `template` or `remote:{model}`.
    pub provider: String,
    /// Why the remote writer was not used, when it fell back.
    pub fallback: Option<String>,
}

pub use crate::visuals::Picture;

impl Engine {
    /// Writes a topic short's script with the configured writer.
    pub async fn write_topic(&self, brief: &TopicBrief<'_>) -> Result<TopicWritten, JobError> {
        let template = || topic::template(brief);
        let Some(client) = &self.providers.text else {
            return Ok(TopicWritten {
                scenes: template(),
                provider: "template".into(),
                fallback: None,
            });
        };
        match topic::write(client, brief).await {
            Ok(scenes) => Ok(TopicWritten {
                scenes,
                provider: format!("remote:{}", client.model()),
                fallback: None,
            }),
            Err(e) if self.providers.fallback => {
                tracing::warn!(error = %e, "remote writer failed; using the topic templates");
                Ok(TopicWritten {
                    scenes: template(),
                    provider: "template".into(),
                    fallback: Some(e.short().into()),
                })
            }
            Err(e) => Err(model_failure(e, "script writing")),
        }
    }

    /// The images model's id, when one is configured.
    pub fn image_model(&self) -> Option<&str> {
        self.providers.images.as_ref().map(ChatClient::model)
    }

    /// The picture size asked of the images model, `WxH`.
    pub fn image_size(&self) -> &str {
        &self.providers.image_size
    }

    /// Whether a failed picture may be replaced by the user's clips or a
    /// slide (`ai.fallback_to_local`).
    pub fn falls_back(&self) -> bool {
        self.providers.fallback
    }

    /// The picture for one scene at `key` (without extension): kept from an
    /// earlier attempt of the same job when there, else asked of the images
    /// model, checked and stored.
    pub async fn picture(&self, key: &str, prompt: &str) -> Result<Picture, JobError> {
        for ext in ["png", "jpg"] {
            let at = format!("{key}.{ext}");
            if let Ok(Some(_)) = self.blobs.head(&at).await
                && let Ok(bytes) = self.blobs.get(&at).await
                && let Some((_, width, height)) = visuals::size_of(&bytes)
            {
                return Ok(Picture {
                    key: at,
                    width,
                    height,
                });
            }
        }
        let client = self.providers.images.as_ref().ok_or_else(|| {
            JobError::permanent(
                ErrorCode::FailedPrecondition,
                "no image provider is configured (ai.images = \"remote\" and ai.image_model)",
            )
        })?;
        let size = &self.providers.image_size;
        let bytes = client
            .generate_image(prompt, size)
            .await
            .map_err(|e| model_failure(e, "picture generation"))?;
        let (ext, width, height) = visuals::check(&bytes, size)
            .map_err(|e| JobError::permanent(ErrorCode::ProviderFailed, e))?;
        let at = format!("{key}.{ext}");
        let content_type = if ext == "png" {
            "image/png"
        } else {
            "image/jpeg"
        };
        self.blobs
            .put(&at, bytes.into(), Some(content_type))
            .await
            .map_err(|e| {
                JobError::retryable(ErrorCode::StorageUnavailable, format!("storing {at}: {e}"))
            })?;
        Ok(Picture {
            key: at,
            width,
            height,
        })
    }
}

/// A document's narration, one per scene.
#[derive(Debug, Clone)]
pub struct Narrated {
    /// In the scenes' order.
    pub texts: Vec<String>,
    /// `template` or `remote:{model}`.
    pub provider: String,
    /// Why the remote writer was not used, when it fell back.
    pub fallback: Option<String>,
}

impl Engine {
    /// A document explainer's narration: the text model's when one is
    /// configured, else (or, when allowed, on its failure) the templates'.
    pub async fn narrate(&self, scenes: &[DocumentScene]) -> Result<Narrated, JobError> {
        let template = || Narrated {
            texts: scenes.iter().map(|s| s.narration.clone()).collect(),
            provider: "template".into(),
            fallback: None,
        };
        let Some(client) = &self.providers.text else {
            return Ok(template());
        };
        match narration::write(client, scenes).await {
            Ok(texts) => Ok(Narrated {
                texts,
                provider: format!("remote:{}", client.model()),
                fallback: None,
            }),
            Err(e) if self.providers.fallback => {
                tracing::warn!(error = %e, "remote narration failed; using the templates");
                Ok(Narrated {
                    fallback: Some(e.short().into()),
                    ..template()
                })
            }
            Err(e) => Err(model_failure(e, "narration")),
        }
    }
}

/// A model failure as a job error: rate limits and outages are retried
/// through the job's retry topics; refusals and bad answers are not.
fn model_failure(e: ChatError, what: &str) -> JobError {
    let message = format!("{what} failed: {e}");
    match &e {
        ChatError::RateLimited { .. } => {
            JobError::retryable(ErrorCode::ProviderRateLimited, message)
        }
        _ if e.is_transient() => JobError::retryable(ErrorCode::ProviderFailed, message),
        _ => JobError::permanent(ErrorCode::ProviderFailed, message),
    }
}

/// Each frame's own measurements (stability against the previous frame).
fn frame_analyses(metrics: &[Metrics], times: &[f64]) -> Vec<FrameAnalysis> {
    metrics
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let one = analyzer::analyze_clip(std::slice::from_ref(m));
            let stability = match i.checked_sub(1).and_then(|p| metrics.get(p)) {
                Some(prev) => analyzer::stability(analyzer::motion(prev, m)),
                None => one.factors.stability,
            };
            let factors = QualityFactors {
                stability,
                ..one.factors
            };
            FrameAnalysis {
                time_seconds: times.get(i).copied().unwrap_or_default(),
                category: one.category as i32,
                tags: one.tags,
                description: one.description,
                quality_score: analyzer::quality(&factors),
                quality_factors: Some(factors),
                faces: m.faces.len() as i32,
            }
        })
        .collect()
}
