//! The RenderService gRPC implementation: thin async wrappers that move
//! media work onto the blocking pool (`runtime`) and results into the blob
//! store.

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use scout_common::adapters::blob::BlobStore;
use scout_common::adapters::blob::PresignOptions;
use scout_proto::scout::common::v1::SubtitleStyle;
use scout_proto::scout::render::v1::render_service_server::RenderService;
use scout_proto::scout::render::v1::{
    CapabilitiesRequest, CapabilitiesResponse, ComposeRequest, ComposeResponse,
    DetectSpeechRequest, DetectSpeechResponse, ExtractFramesRequest, ExtractFramesResponse, Frame,
    ListVoicesRequest, ListVoicesResponse, MeasureSpeechRateRequest, MeasureSpeechRateResponse,
    MediaRef, PreviewVoiceRequest, PreviewVoiceResponse, ProbeRequest, ProbeResponse,
    RenderSubtitlePreviewRequest, RenderSubtitlePreviewResponse, SynthesizeRequest,
    SynthesizeResponse, Voice, VoiceSpec, media_ref::Location,
};
use tonic::{Request, Response, Status};

use crate::compose::Composer;
use crate::error::RenderError;
use crate::media::frames::{self, ExtractOptions};
use crate::runtime::blocking;
use crate::store::{MediaSource, Scratch};
use crate::voice::{SpeechRates, VoiceProvider};

/// Longest side of the thumbnail written next to each clip.
const THUMBNAIL_MAX: u32 = 480;
/// How long a preview's download URL is valid.
const PREVIEW_URL_TTL: std::time::Duration = std::time::Duration::from_secs(3600);

/// The render service.
pub struct RenderApi {
    caps: CapabilitiesResponse,
    source: MediaSource,
    store: Arc<dyn BlobStore>,
    voice: Arc<dyn VoiceProvider>,
    rates: SpeechRates,
    work_dir: PathBuf,
    composer: Composer,
    subtitle_font: String,
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
        subtitle_font: String,
    ) -> Self {
        Self {
            caps,
            source: MediaSource::blobs(store.clone()),
            store,
            rates: SpeechRates::new(voice.clone()),
            voice,
            work_dir,
            composer,
            subtitle_font,
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

    async fn measure_speech_rate(
        &self,
        req: Request<MeasureSpeechRateRequest>,
    ) -> Result<Response<MeasureSpeechRateResponse>, Status> {
        let voice = req.into_inner().voice.unwrap_or_default();
        if voice.speed != 0.0 && !(0.5..=2.0).contains(&voice.speed) {
            return Err(RenderError::InvalidArgument("voice.speed: 0.5 to 2.0".into()).into());
        }
        let rate = self.rates.rate(&voice).await.map_err(RenderError::from)?;
        Ok(Response::new(MeasureSpeechRateResponse {
            rate: Some(crate::compose::narration::in_video(rate)),
        }))
    }

    async fn detect_speech(
        &self,
        req: Request<DetectSpeechRequest>,
    ) -> Result<Response<DetectSpeechResponse>, Status> {
        let req = req.into_inner();
        let scratch = self.scratch()?;
        let (path, name) = self
            .source
            .fetch(req.media.as_ref(), scratch.path())
            .await?;
        let heard = blocking(move || {
            let samples = crate::media::audio::decode_mono(&path, &name)?;
            Ok(crate::voice::detect::detect(&samples))
        })
        .await?;
        drop(scratch);
        Ok(Response::new(heard))
    }

    async fn list_voices(
        &self,
        _req: Request<ListVoicesRequest>,
    ) -> Result<Response<ListVoicesResponse>, Status> {
        let voices = crate::voice::STANDARD_VOICES
            .iter()
            .map(|v| Voice {
                id: v.id.into(),
                name: v.name.into(),
                name_en: v.name_en.into(),
                gender: v.gender.into(),
                language: v.language.into(),
            })
            .collect();
        Ok(Response::new(ListVoicesResponse { voices }))
    }

    async fn preview_voice(
        &self,
        req: Request<PreviewVoiceRequest>,
    ) -> Result<Response<PreviewVoiceResponse>, Status> {
        let req = req.into_inner();
        let voice = crate::voice::standard_voice(&req.voice).ok_or_else(|| {
            let ids: Vec<&str> = crate::voice::STANDARD_VOICES.iter().map(|v| v.id).collect();
            RenderError::InvalidArgument(format!(
                "voice: {:?} is not a standard voice; one of {}",
                req.voice,
                ids.join(", ")
            ))
        })?;
        let speed = if req.speed == 0.0 { 1.0 } else { req.speed };
        if !(0.5..=2.0).contains(&speed) {
            return Err(RenderError::InvalidArgument("speed: 0.5 to 2.0".into()).into());
        }
        // One sample per voice and speed (in tenths), made once.
        let tenths = (speed * 10.0).round() as u32;
        let key = format!("previews/voices/{}_{tenths:02}.wav", voice.id);
        let duration = match self.store.head(&key).await.map_err(RenderError::from)? {
            Some(meta) => crate::media::audio::wav_seconds(meta.size),
            None => {
                let spec = VoiceSpec {
                    voice: voice.id.into(),
                    speed: f64::from(tenths) / 10.0,
                    language: voice.language.into(),
                    ..VoiceSpec::default()
                };
                let speech = self
                    .voice
                    .synthesize(crate::voice::PREVIEW_LINE, &spec)
                    .await
                    .map_err(RenderError::from)?;
                let scratch = self.scratch()?;
                let wav = scratch.path().join("preview.wav");
                let (samples, path) = (speech.samples, wav.clone());
                blocking(move || crate::media::audio::write_wav(&path, &samples)).await?;
                self.store
                    .put_file(&key, &wav, Some("audio/wav"))
                    .await
                    .map_err(RenderError::from)?;
                speech.duration
            }
        };
        let url = self
            .store
            .presign_get(&key, PresignOptions::expires_in(PREVIEW_URL_TTL))
            .await
            .map_err(RenderError::from)?
            .url;
        Ok(Response::new(PreviewVoiceResponse {
            audio_url: url,
            duration_seconds: duration,
        }))
    }

    async fn render_subtitle_preview(
        &self,
        req: Request<RenderSubtitlePreviewRequest>,
    ) -> Result<Response<RenderSubtitlePreviewResponse>, Status> {
        let req = req.into_inner();
        if req.output_key.is_empty() {
            return Err(RenderError::InvalidArgument(
                "output_key is required, e.g. previews/{task}/subtitle_neon.jpg".into(),
            )
            .into());
        }
        let style = SubtitleStyle::try_from(req.style)
            .ok()
            .filter(|s| *s != SubtitleStyle::Unspecified)
            .ok_or_else(|| RenderError::InvalidArgument("style: a subtitle style".into()))?;
        let scratch = self.scratch()?;
        let (path, name) = self
            .source
            .fetch(req.media.as_ref(), scratch.path())
            .await?;
        let (font, text, dir) = (
            self.subtitle_font.clone(),
            req.text,
            scratch.path().to_path_buf(),
        );
        let (jpeg, (width, height)) = blocking(move || {
            crate::compose::preview::subtitle_preview(&path, &name, style, &text, &font, &dir)
        })
        .await?;
        drop(scratch);
        self.store
            .put(&req.output_key, jpeg.into(), Some("image/jpeg"))
            .await
            .map_err(RenderError::from)?;
        Ok(Response::new(RenderSubtitlePreviewResponse {
            key: req.output_key,
            width: width as i32,
            height: height as i32,
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
