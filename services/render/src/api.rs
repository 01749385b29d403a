//! The RenderService gRPC implementation: thin async wrappers that move
//! media work onto the blocking pool (`runtime`) and results into the blob
//! store.

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use scout_common::adapters::blob::BlobStore;
use scout_proto::scout::render::v1::render_service_server::RenderService;
use scout_proto::scout::render::v1::{
    CapabilitiesRequest, CapabilitiesResponse, ComposeRequest, ComposeResponse,
    ExtractFramesRequest, ExtractFramesResponse, Frame, MediaRef, ProbeRequest, ProbeResponse,
    SynthesizeRequest, SynthesizeResponse, media_ref::Location,
};
use tonic::{Request, Response, Status};

use crate::compose::Composer;
use crate::error::RenderError;
use crate::media::frames::{self, ExtractOptions};
use crate::runtime::blocking;
use crate::store::{MediaSource, Scratch};
use crate::voice::VoiceProvider;

/// Longest side of the thumbnail written next to each clip.
const THUMBNAIL_MAX: u32 = 480;

/// The render service.
pub struct RenderApi {
    caps: CapabilitiesResponse,
    source: MediaSource,
    store: Arc<dyn BlobStore>,
    voice: Arc<dyn VoiceProvider>,
    work_dir: PathBuf,
    composer: Composer,
}

impl RenderApi {
    /// The service over this node's probed capabilities, blob store, voice
    /// and composer (whose slots the compose worker shares).
    pub fn new(
        caps: CapabilitiesResponse,
        store: Arc<dyn BlobStore>,
        voice: Arc<dyn VoiceProvider>,
        composer: Composer,
        work_dir: PathBuf,
    ) -> Self {
        Self {
            caps,
            source: MediaSource::blobs(store.clone()),
            store,
            voice,
            work_dir,
            composer,
        }
    }

    fn scratch(&self) -> Result<Scratch, RenderError> {
        Scratch::new(&self.work_dir)
    }
}

type ComposeStream = Pin<Box<dyn Stream<Item = Result<ComposeResponse, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl RenderService for RenderApi {
    async fn capabilities(
        &self,
        _req: Request<CapabilitiesRequest>,
    ) -> Result<Response<CapabilitiesResponse>, Status> {
        Ok(Response::new(self.caps.clone()))
    }

    async fn probe(&self, req: Request<ProbeRequest>) -> Result<Response<ProbeResponse>, Status> {
        let req = req.into_inner();
        let scratch = self.scratch()?;
        let (path, name) = self
            .source
            .fetch(req.media.as_ref(), scratch.path())
            .await?;
        let want_thumb = !req.thumbnail_key.is_empty();
        let (info, thumb) = blocking(move || {
            let info = crate::media::probe::probe(&path, &name)?;
            let thumb = if want_thumb && !info.video_codec.is_empty() {
                Some(frames::thumbnail(&path, &name, THUMBNAIL_MAX)?)
            } else {
                None
            };
            Ok((info, thumb))
        })
        .await?;
        drop(scratch);
        let mut thumbnail_key = String::new();
        if let Some(t) = thumb {
            self.store
                .put(&req.thumbnail_key, t.jpeg.into(), Some("image/jpeg"))
                .await
                .map_err(RenderError::from)?;
            thumbnail_key = req.thumbnail_key;
        }
        Ok(Response::new(ProbeResponse {
            info: Some(info),
            thumbnail_key,
        }))
    }

    async fn extract_frames(
        &self,
        req: Request<ExtractFramesRequest>,
    ) -> Result<Response<ExtractFramesResponse>, Status> {
        let req = req.into_inner();
        if req.output_prefix.is_empty() {
            return Err(RenderError::InvalidArgument(
                "output_prefix is required, e.g. frames/{task}/{video}/".into(),
            )
            .into());
        }
        let opts = ExtractOptions {
            every: if req.every_seconds > 0.0 {
                req.every_seconds
            } else {
                2.0
            },
            max_dimension: req.max_dimension.max(0) as u32,
            ..ExtractOptions::default()
        };
        let scratch = self.scratch()?;
        let (path, name) = self
            .source
            .fetch(req.media.as_ref(), scratch.path())
            .await?;
        let (extracted, thumb) = blocking(move || {
            let mut out = Vec::new();
            let (_, thumb) = frames::extract_frames(&path, &name, opts, THUMBNAIL_MAX, |f| {
                out.push(f);
                Ok(())
            })?;
            Ok((out, thumb))
        })
        .await?;
        let store = &self.store;
        let prefix = if req.output_prefix.ends_with('/') {
            req.output_prefix.clone()
        } else {
            format!("{}/", req.output_prefix)
        };
        let mut frames_out = Vec::with_capacity(extracted.len());
        for f in extracted {
            let key = format!("{prefix}frame_{}.jpg", f.index);
            store
                .put(&key, f.jpeg.into(), Some("image/jpeg"))
                .await
                .map_err(RenderError::from)?;
            frames_out.push(Frame {
                index: f.index as i32,
                time_seconds: f.time,
                key,
                width: f.width as i32,
                height: f.height as i32,
            });
        }
        let thumbnail_key = if req.thumbnail_key.is_empty() {
            format!("{prefix}thumb.jpg")
        } else {
            req.thumbnail_key.clone()
        };
        store
            .put(&thumbnail_key, thumb.jpeg.into(), Some("image/jpeg"))
            .await
            .map_err(RenderError::from)?;
        Ok(Response::new(ExtractFramesResponse {
            frames: frames_out,
            thumbnail_key,
        }))
    }

    async fn synthesize(
        &self,
        req: Request<SynthesizeRequest>,
    ) -> Result<Response<SynthesizeResponse>, Status> {
        let req = req.into_inner();
        if req.output_key.is_empty() {
            return Err(RenderError::InvalidArgument(
                "output_key is required, e.g. audio/{task}/tts_para_1.wav".into(),
            )
            .into());
        }
        let voice = req.voice.unwrap_or_default();
        let speech = self
            .voice
            .synthesize(&req.text, &voice)
            .await
            .map_err(RenderError::from)?;
        let scratch = self.scratch()?;
        let wav = scratch.path().join("speech.wav");
        let (samples, path) = (speech.samples, wav.clone());
        blocking(move || crate::media::audio::write_wav(&path, &samples)).await?;
        self.store
            .put_file(&req.output_key, &wav, Some("audio/wav"))
            .await
            .map_err(RenderError::from)?;
        Ok(Response::new(SynthesizeResponse {
            audio: Some(MediaRef {
                location: Some(Location::BlobKey(req.output_key)),
            }),
            duration_seconds: speech.duration,
            sample_rate: crate::media::audio::SAMPLE_RATE as i32,
            provider: speech.provider,
        }))
    }

    type ComposeStream = ComposeStream;

    async fn compose(
        &self,
        req: Request<ComposeRequest>,
    ) -> Result<Response<Self::ComposeStream>, Status> {
        let stream = self.composer.start(req.into_inner())?;
        Ok(Response::new(stream))
    }
}
