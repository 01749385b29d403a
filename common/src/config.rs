//! Layered configuration: built-in defaults, then a TOML file, then `SCOUT_*`
//! environment variables (each later layer wins).
//!
//! One file describes the whole mesh; each service reads its own section and
//! the shared adapter sections. Every key is checked: an unknown key in the
//! file (a typo) or an unknown `SCOUT_*` variable is an error that names it,
//! and a value of the wrong shape (a bad address, a bad duration) names its key.
//!
//! Environment names are derived from the key path: `edge.addr` is
//! `SCOUT_EDGE_ADDR`, `tasks.database_url` is `SCOUT_TASKS_DATABASE_URL`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Map};
use figment::{Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};

use crate::registry::ServiceName;

/// Environment variables with the `SCOUT_` prefix that are not config keys.
/// Nothing else is exempt: a test's or a tool's own variables use another
/// prefix, so a typo in a real key can never hide behind one.
const ENV_EXEMPT: &[&str] = &["SCOUT_CONFIG", "SCOUT_LOG"];

/// The whole mesh's configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where embedded state lives: SQLite files, the local blob directory.
    pub data_dir: PathBuf,
    /// Logging and metrics.
    pub telemetry: TelemetryConfig,
    /// The public edge.
    pub edge: EdgeConfig,
    /// Identity service.
    pub identity: ServiceConfig,
    /// Tasks service.
    pub tasks: ServiceConfig,
    /// Vision service.
    pub vision: ServiceConfig,
    /// Render service.
    pub render: ServiceConfig,
    /// Publish service.
    pub publish: ServiceConfig,
    /// Cache adapter (SMS codes, rate limits, revocations, progress).
    pub cache: CacheConfig,
    /// Job bus adapter.
    pub bus: BusConfig,
    /// Object storage adapter.
    pub blobs: BlobConfig,
    /// Speech synthesis (render).
    pub voice: VoiceConfig,
    /// Media work (render).
    pub media: MediaConfig,
    /// Generative video (render): a hosted model making a montage's
    /// images move (seed 004). Off by default.
    pub generative: GenerativeConfig,
    /// Tokens: signing keys, lifetimes, the mesh's service credential.
    pub auth: AuthConfig,
    /// SMS login codes and their provider (identity).
    pub sms: SmsConfig,
    /// Shot analysis, script writing and publish suggestions: local or a
    /// remote OpenAI-compatible model (vision, publish).
    pub ai: AiConfig,
    /// Injected failures, for the tests of the recovery paths. The section
    /// exists only in builds with the `faults` feature (test builds): a
    /// release binary refuses its keys like any other unknown key.
    #[cfg(feature = "faults")]
    pub faults: FaultsConfig,
    /// Usage allowed per membership tier (tasks enforces them).
    pub quotas: QuotasConfig,
    /// Unit prices of the admin panel's cost estimate.
    pub costs: CostsConfig,
    /// The AI-generated-content labels every output carries (tasks).
    pub aigc: AigcConfig,
    /// Publishing to the platforms: their apps, the token keys, the
    /// schedule of attempts and analytics (publish).
    pub platforms: PlatformsConfig,
}

impl Default for Config {
    fn default() -> Self {
        let data_dir = PathBuf::from("scout-data");
        Self {
            telemetry: TelemetryConfig::default(),
            edge: EdgeConfig::default(),
            identity: ServiceConfig::for_service(ServiceName::Identity),
            tasks: ServiceConfig::for_service(ServiceName::Tasks),
            vision: ServiceConfig::for_service(ServiceName::Vision),
            render: ServiceConfig::for_service(ServiceName::Render),
            publish: ServiceConfig::for_service(ServiceName::Publish),
            cache: CacheConfig::default(),
            bus: BusConfig::default(),
            blobs: BlobConfig::default(),
            voice: VoiceConfig::default(),
            media: MediaConfig::default(),
            generative: GenerativeConfig::default(),
            auth: AuthConfig::default(),
            sms: SmsConfig::default(),
            ai: AiConfig::default(),
            quotas: QuotasConfig::default(),
            costs: CostsConfig::default(),
            aigc: AigcConfig::default(),
            platforms: PlatformsConfig::default(),
            #[cfg(feature = "faults")]
            faults: FaultsConfig::default(),
            data_dir,
        }
    }
}

/// Where a service listens and how others reach it, whatever its section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    /// Listen address.
    pub addr: SocketAddr,
    /// The URL other processes use.
    pub url: String,
    /// How long in-flight calls may take to finish after SIGTERM.
    pub drain_timeout: Duration,
}

/// Failures to inject. Read from the `[faults]` section, which exists only
/// in builds with the `faults` feature; elsewhere every fault is off.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FaultsConfig {
    /// Render labels software decoders as GPU ones that fail after this
    /// many packets (0: off), so the mid-job fallback runs on any machine.
    pub gpu_decode_after_packets: u64,
    /// Render encodes on a simulated GPU encoder that fails after this many
    /// frames (0: off), so the redo with libx264 runs on any machine.
    pub gpu_encode_after_frames: u64,
    /// Render's compose worker fails this many attempts outright (0: off),
    /// so a task can fail in compose and be retried (the web app's tests).
    pub compose_fail_attempts: u32,
}

/// Log output shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line (production).
    Json,
    /// Human-readable lines (a terminal).
    Pretty,
}

/// Logging configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// `json` or `pretty`.
    pub log_format: LogFormat,
    /// An `EnvFilter` directive, e.g. `info` or `info,scout_edge=debug`.
    pub log_level: String,
    /// Where to send traces over OTLP/gRPC, e.g. `http://otel-collector:4317`;
    /// empty: not sent (trace ids still appear in logs and travel on).
    pub otlp_endpoint: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            log_format: LogFormat::Json,
            log_level: "info".into(),
            otlp_endpoint: String::new(),
        }
    }
}

/// Usage allowed per membership tier. Tasks counts it in its database,
/// so counts survive restarts and every replica sees the same.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuotasConfig {
    /// Off for a single user's own machine (`scout make`).
    pub enabled: bool,
    /// Hours east of UTC of the midnight a quota day starts at (8: China).
    pub utc_offset_hours: i32,
    /// The `free` tier (every new user).
    pub free: TierQuota,
    /// The `basic` tier.
    pub basic: TierQuota,
    /// The `pro` tier.
    pub pro: TierQuota,
}

/// One tier's quotas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierQuota {
    /// Videos a user may start composing per quota day (seed 002: 3 for
    /// free). A retry of a failed compose is not a new video.
    pub videos_per_day: u32,
    /// Clips one task may hold (seed 000: 30).
    pub clips_per_task: u32,
    /// Largest clip, in MiB (seed 000: 500).
    pub max_clip_mb: u32,
    /// Longest clip, in seconds (seed 000: 10 minutes).
    pub max_clip_seconds: u32,
    /// Script regenerations per task (seed 000: 5).
    pub regenerations_per_task: u32,
}

impl TierQuota {
    /// Seed 000's per-task limits with `videos_per_day`.
    pub const fn seed(videos_per_day: u32) -> Self {
        Self {
            videos_per_day,
            clips_per_task: 30,
            max_clip_mb: 500,
            max_clip_seconds: 600,
            regenerations_per_task: 5,
        }
    }

    /// Largest clip in bytes.
    pub fn max_clip_bytes(&self) -> i64 {
        i64::from(self.max_clip_mb) * 1024 * 1024
    }
}

impl Default for QuotasConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            utc_offset_hours: 8,
            free: TierQuota::seed(3),
            basic: TierQuota::seed(20),
            pro: TierQuota::seed(100),
        }
    }
}

/// The labels that say a video was made with AI (China's labelling rules
/// for AI-generated content, in force since 2025-09-01, and the platforms'
/// own): the metadata label is always written when anything in the video
/// was machine-made; the visible mark is on by default.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AigcConfig {
    /// Show the visible mark in the picture.
    pub mark: bool,
    /// Its words (at most 20 characters).
    pub mark_text: String,
    /// Its corner: top_left, top_right, bottom_left or bottom_right.
    pub mark_corner: MarkCorner,
    /// Seconds it shows from the start; 0 for the whole video.
    pub mark_seconds: f64,
    /// The producer written into the metadata label.
    pub producer: String,
}

/// A corner of the picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarkCorner {
    /// Top left (the default: clear of the platforms' right-hand buttons).
    TopLeft,
    /// Top right.
    TopRight,
    /// Bottom left.
    BottomLeft,
    /// Bottom right.
    BottomRight,
}

impl Default for AigcConfig {
    fn default() -> Self {
        Self {
            mark: true,
            mark_text: "AI生成".into(),
            mark_corner: MarkCorner::TopLeft,
            mark_seconds: 0.0,
            producer: "Shop Video Scout".into(),
        }
    }
}

/// Publishing (publish): one OAuth app per platform, the keys that encrypt
/// the accounts' tokens at rest, and the schedule of attempts and fetches.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PlatformsConfig {
    /// Keys that encrypt the platforms' tokens at rest, each
    /// `ID:BASE64` of 32 random bytes (`openssl rand -base64 32`), from the
    /// secret store. The first encrypts; every one decrypts. To rotate, put
    /// a new key first and keep the old ones: publish re-encrypts every token
    /// with the first key at start, after which the old key can go. Empty:
    /// one key generated under the data directory (one machine). In the
    /// environment: `SCOUT_PLATFORMS_TOKEN_KEYS="new:BASE64,old:BASE64"`.
    #[serde(deserialize_with = "string_or_list::deserialize")]
    pub token_keys: Vec<String>,
    /// Where the platforms send the user back after authorising: the web
    /// app's `/accounts/callback`. Empty: the edge's public URL + that path.
    pub redirect_url: String,
    /// How often the publisher looks for publications that are due.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Delays between a publication's attempts after a failure the platform
    /// may recover from (an outage, a rate limit, a dropped connection);
    /// when they are spent it fails with the last reason.
    #[serde(with = "duration_list")]
    pub retry_delays: Vec<Duration>,
    /// How long a publisher owns a publication it took; a node killed while
    /// uploading gives it back after this.
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    /// How long to wait for a platform to finish processing an upload.
    #[serde(with = "humantime_serde")]
    pub processing_timeout: Duration,
    /// Tokens are refreshed this long before they expire.
    #[serde(with = "humantime_serde")]
    pub refresh_margin: Duration,
    /// How often each publication's figures are fetched (seed 002: hourly).
    #[serde(with = "humantime_serde")]
    pub stats_interval: Duration,
    /// Upload chunk size in bytes (resumable uploads resume from the last
    /// chunk the platform has).
    pub chunk_bytes: u64,
    /// Douyin open platform (open.douyin.com).
    pub douyin: PlatformApp,
    /// YouTube Data API v3 (Google OAuth).
    pub youtube: PlatformApp,
    /// TikTok Content Posting API.
    pub tiktok: PlatformApp,
}

/// A platform's OAuth app and where its API is. Keys left out keep the
/// platform's own defaults (the config's layers merge key by key).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PlatformApp {
    /// The app's client id (client_key on Douyin and TikTok); empty: the
    /// platform is not offered.
    pub client_id: String,
    /// Its secret, from the secret store.
    pub client_secret: String,
    /// The authorization page users are sent to.
    pub authorize_url: String,
    /// The token endpoint (code and refresh grants).
    pub token_url: String,
    /// The API's base URL.
    pub api_url: String,
    /// Scopes asked for.
    pub scopes: Vec<String>,
}

impl PlatformApp {
    fn new(authorize_url: &str, token_url: &str, api_url: &str, scopes: &[&str]) -> Self {
        Self {
            client_id: String::new(),
            client_secret: String::new(),
            authorize_url: authorize_url.into(),
            token_url: token_url.into(),
            api_url: api_url.into(),
            scopes: scopes.iter().map(|s| (*s).into()).collect(),
        }
    }

    /// Whether the deployment has an app on this platform.
    pub fn configured(&self) -> bool {
        !self.client_id.is_empty()
    }
}

impl Default for PlatformsConfig {
    fn default() -> Self {
        let s = Duration::from_secs;
        Self {
            token_keys: Vec::new(),
            redirect_url: String::new(),
            poll_interval: s(5),
            retry_delays: vec![s(60), s(300), s(900)],
            lease: s(600),
            processing_timeout: s(2 * 3600),
            refresh_margin: s(600),
            stats_interval: s(3600),
            chunk_bytes: 8 * 1024 * 1024,
            douyin: PlatformApp::new(
                "https://open.douyin.com/platform/oauth/connect/",
                "https://open.douyin.com/oauth/access_token/",
                "https://open.douyin.com",
                &["user_info", "video.create.bind", "video.data.bind"],
            ),
            youtube: PlatformApp::new(
                "https://accounts.google.com/o/oauth2/v2/auth",
                "https://oauth2.googleapis.com/token",
                "https://www.googleapis.com",
                &[
                    "https://www.googleapis.com/auth/youtube.upload",
                    "https://www.googleapis.com/auth/youtube.readonly",
                ],
            ),
            tiktok: PlatformApp::new(
                "https://www.tiktok.com/v2/auth/authorize/",
                "https://open.tiktokapis.com/v2/oauth/token/",
                "https://open.tiktokapis.com",
                &["user.info.basic", "video.publish", "video.list"],
            ),
        }
    }
}

/// Unit prices for the admin panel's cost estimate (seed 000 §11.1 by
/// default, in yuan).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CostsConfig {
    /// Currency of every price.
    pub currency: String,
    /// One image sent to the vision model (Qwen-VL: 0.008).
    pub vision_image: f64,
    /// A thousand tokens of the text model (Doubao: 0.012).
    pub text_per_1k_tokens: f64,
    /// Tokens assumed per text-model call when the provider does not report
    /// them (seed 000: about 2K for a script).
    pub tokens_per_call_estimate: u64,
    /// One character of billed speech synthesis (Seed-TTS: 0.002).
    pub tts_character: f64,
    /// A GB stored for a month (OSS: 0.12).
    pub storage_gb_month: f64,
    /// A GB downloaded (CDN: 0.24).
    pub transfer_gb: f64,
    /// An hour of processing (0.5).
    pub compute_hour: f64,
}

impl Default for CostsConfig {
    fn default() -> Self {
        Self {
            currency: "CNY".into(),
            vision_image: 0.008,
            text_per_1k_tokens: 0.012,
            tokens_per_call_estimate: 2000,
            tts_character: 0.002,
            storage_gb_month: 0.12,
            transfer_gb: 0.24,
            compute_hour: 0.5,
        }
    }
}

impl QuotasConfig {
    /// The quotas of a membership tier as the token names it (unknown
    /// tiers get free's).
    pub fn for_tier(&self, membership: &str) -> TierQuota {
        match membership {
            "pro" => self.pro,
            "basic" => self.basic,
            _ => self.free,
        }
    }
}

/// The edge: one public port for gRPC, grpc-web and REST.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EdgeConfig {
    /// Listen address (`SCOUT_EDGE_ADDR`).
    pub addr: SocketAddr,
    /// The URL clients reach the edge at; used in locally signed blob URLs.
    /// Empty means `http://{addr}`.
    pub public_url: String,
    /// Deadline for a unary call (and for the first response of a stream)
    /// when the client sends none or a longer one.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Largest accepted request message, in bytes (gRPC frame or REST body).
    pub max_message_bytes: usize,
    /// Origins allowed by CORS (grpc-web and REST from browsers). Empty
    /// allows none.
    pub cors_allowed_origins: Vec<String>,
    /// How long in-flight calls may take to finish after SIGTERM.
    #[serde(with = "humantime_serde")]
    pub drain_timeout: Duration,
    /// Peers (addresses or CIDR ranges) whose `X-Forwarded-For` is believed.
    /// From any other peer the socket address is the client's.
    pub trusted_proxies: Vec<String>,
    /// Request rate limits (seed 000 §4.1).
    pub rate_limits: RateLimitsConfig,
    /// API versions being retired (seed 000 §12.2: a previous version is
    /// kept six months, with deprecation notices in response headers).
    pub deprecations: Vec<DeprecationConfig>,
}

/// One retiring API version: REST answers under `prefix` carry
/// `Deprecation` (RFC 9745), `Sunset` (RFC 8594) and a `Link` to the
/// successor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeprecationConfig {
    /// Path prefix, e.g. `/api/v1/`.
    pub prefix: String,
    /// When it was deprecated (RFC 3339).
    pub since: chrono::DateTime<chrono::Utc>,
    /// When it stops answering (RFC 3339).
    pub sunset: chrono::DateTime<chrono::Utc>,
    /// Where its successor is documented, e.g. `/api/v2/openapi.json`.
    pub successor: String,
}

/// One fixed-window limit: at most `limit` requests per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Requests allowed per window.
    pub limit: u32,
    /// Window length.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
}

impl RateLimit {
    const fn per(limit: u32, secs: u64) -> Self {
        Self {
            limit,
            window: Duration::from_secs(secs),
        }
    }
}

/// The edge's rate limits. Each is counted in the cache, so every edge
/// replica shares them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitsConfig {
    /// Off only for load tests.
    pub enabled: bool,
    /// `SendCode`, per phone.
    pub send_code: RateLimit,
    /// `Login`, per phone.
    pub login: RateLimit,
    /// `CreateTask`, per user.
    pub create_task: RateLimit,
    /// Regenerating a script or publish suggestions, per task.
    pub regenerate: RateLimit,
    /// Every other authenticated call, per user.
    pub default: RateLimit,
    /// Every call, per client IP.
    pub per_ip: RateLimit,
}

impl Default for RateLimitsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            send_code: RateLimit::per(1, 60),
            login: RateLimit::per(5, 60),
            create_task: RateLimit::per(10, 60),
            regenerate: RateLimit::per(5, 300),
            default: RateLimit::per(100, 60),
            per_ip: RateLimit::per(600, 60),
        }
    }
}

impl Default for EdgeConfig {
    fn default() -> Self {
        Self {
            addr: ServiceName::Edge.default_addr(),
            public_url: String::new(),
            request_timeout: Duration::from_secs(30),
            max_message_bytes: 4 * 1024 * 1024,
            cors_allowed_origins: vec![
                "http://localhost:5173".into(),
                "http://127.0.0.1:5173".into(),
            ],
            drain_timeout: Duration::from_secs(30),
            trusted_proxies: Vec::new(),
            rate_limits: RateLimitsConfig::default(),
            deprecations: Vec::new(),
        }
    }
}

impl EdgeConfig {
    /// The edge's public base URL, without a trailing slash.
    pub fn public_base_url(&self) -> String {
        if self.public_url.is_empty() {
            format!("http://{}", self.addr)
        } else {
            self.public_url.trim_end_matches('/').to_string()
        }
    }
}

/// One internal service: where it listens, where others reach it, its database.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceConfig {
    /// Listen address.
    pub addr: SocketAddr,
    /// URL other services use to reach it; empty means `http://{addr}`.
    pub endpoint: String,
    /// Database URL for services that own tables: `postgres://…` or
    /// `sqlite://PATH` (`{data_dir}` is replaced). Empty for services without tables.
    pub database_url: String,
    /// How long in-flight calls may take to finish after SIGTERM.
    #[serde(with = "humantime_serde")]
    pub drain_timeout: Duration,
}

impl ServiceConfig {
    /// A service's defaults: its port on loopback, its embedded database.
    fn for_service(name: ServiceName) -> Self {
        Self {
            addr: name.default_addr(),
            endpoint: String::new(),
            database_url: name.default_database().unwrap_or_default().to_string(),
            drain_timeout: Duration::from_secs(30),
        }
    }

    /// The URL clients use.
    pub fn endpoint_url(&self) -> String {
        if self.endpoint.is_empty() {
            format!("http://{}", self.addr)
        } else {
            self.endpoint.trim_end_matches('/').to_string()
        }
    }
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            endpoint: String::new(),
            database_url: String::new(),
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// Which cache implementation to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheBackend {
    /// In-process map with TTLs (embedded default).
    Memory,
    /// Redis through deadpool-redis.
    Redis,
}

/// Cache adapter configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// `memory` or `redis`.
    pub backend: CacheBackend,
    /// Redis URL.
    pub url: String,
    /// Prefix for every key, so several deployments can share one Redis.
    pub key_prefix: String,
    /// Upper bound on any one Redis operation, so a dead Redis fails fast.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Connection pool size.
    pub pool_size: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            backend: CacheBackend::Memory,
            url: "redis://127.0.0.1:6379".into(),
            key_prefix: String::new(),
            timeout: Duration::from_millis(800),
            pool_size: 16,
        }
    }
}

/// Which job bus implementation to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BusBackend {
    /// In-process queue (embedded default).
    Memory,
    /// Kafka through rdkafka.
    Kafka,
}

/// Job bus configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BusConfig {
    /// `memory` or `kafka`.
    pub backend: BusBackend,
    /// Kafka bootstrap servers.
    pub brokers: String,
    /// Prefix of every topic name, e.g. `scout.` gives `scout.analyze`.
    pub topic_prefix: String,
    /// Partitions for topics Scout creates.
    pub partitions: i32,
    /// Replication factor for topics Scout creates.
    pub replication: i32,
    /// Consumer session timeout: how fast a dead worker's jobs move on.
    #[serde(with = "humantime_serde")]
    pub session_timeout: Duration,
    /// Retry delays of analyze jobs (seed 000 §7.3: 30 s, 60 s, 120 s).
    #[serde(with = "duration_list")]
    pub analyze_retry_delays: Vec<Duration>,
    /// Retry delays of compose jobs (60 s, 120 s).
    #[serde(with = "duration_list")]
    pub compose_retry_delays: Vec<Duration>,
    /// Retry delays of voice-clone jobs (60 s, 120 s, 300 s).
    #[serde(with = "duration_list")]
    pub clone_retry_delays: Vec<Duration>,
}

impl Default for BusConfig {
    fn default() -> Self {
        let s = Duration::from_secs;
        Self {
            backend: BusBackend::Memory,
            brokers: "127.0.0.1:9092".into(),
            topic_prefix: "scout.".into(),
            partitions: 3,
            replication: 1,
            session_timeout: Duration::from_secs(10),
            analyze_retry_delays: vec![s(30), s(60), s(120)],
            compose_retry_delays: vec![s(60), s(120)],
            clone_retry_delays: vec![s(60), s(120), s(300)],
        }
    }
}

/// Which object store to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobBackend {
    /// A local directory; the edge serves signed URLs (embedded default).
    Local,
    /// An S3-compatible store through aws-sdk-s3.
    S3,
}

/// Object storage configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BlobConfig {
    /// `local` or `s3`.
    pub backend: BlobBackend,
    /// Local directory; empty means `{data_dir}/blobs`.
    pub dir: PathBuf,
    /// HMAC key for locally signed URLs. Empty generates one per process,
    /// which is right for `scout up` (one process) and wrong for a split
    /// deployment on a shared directory: set it there.
    pub signing_key: String,
    /// Largest object a signed local PUT accepts, in bytes.
    pub max_upload_bytes: u64,
    /// S3 endpoint URL, e.g. `http://127.0.0.1:9000`; empty for AWS itself.
    pub endpoint: String,
    /// S3 region.
    pub region: String,
    /// S3 bucket (seed 000: shop-video-scout).
    pub bucket: String,
    /// S3 access key id.
    pub access_key: String,
    /// S3 secret key.
    pub secret_key: String,
    /// Path-style addressing (needed by most S3-compatible servers).
    pub force_path_style: bool,
    /// Create the bucket at start when it does not exist.
    pub create_bucket: bool,
    /// Upper bound on any one S3 operation's connect / read.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for BlobConfig {
    fn default() -> Self {
        Self {
            backend: BlobBackend::Local,
            dir: PathBuf::new(),
            signing_key: String::new(),
            max_upload_bytes: 512 * 1024 * 1024,
            endpoint: String::new(),
            region: "us-east-1".into(),
            bucket: "shop-video-scout".into(),
            access_key: String::new(),
            secret_key: String::new(),
            force_path_style: true,
            create_bucket: true,
            timeout: Duration::from_secs(30),
        }
    }
}

impl BlobConfig {
    /// The origins presigned URLs point at, for a browser's content security
    /// policy: none for the local store (the edge serves it), the S3
    /// endpoint's (or AWS's) otherwise.
    pub fn public_origins(&self) -> Vec<String> {
        match self.backend {
            BlobBackend::Local => Vec::new(),
            BlobBackend::S3 if self.endpoint.is_empty() => vec![if self.force_path_style {
                format!("https://s3.{}.amazonaws.com", self.region)
            } else {
                format!("https://{}.s3.{}.amazonaws.com", self.bucket, self.region)
            }],
            BlobBackend::S3 => match url::Url::parse(&self.endpoint) {
                Ok(u) => vec![u.origin().ascii_serialization()],
                Err(_) => vec![self.endpoint.trim_end_matches('/').to_string()],
            },
        }
    }
}

/// Which speech provider render uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VoiceProviderKind {
    /// espeak-ng on this machine (embedded default, offline).
    Espeak,
    /// Volcengine Seed-TTS over HTTP.
    SeedTts,
}

/// Speech synthesis configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VoiceConfig {
    /// `espeak` or `seed-tts`.
    pub provider: VoiceProviderKind,
    /// The espeak-ng program.
    pub espeak_binary: String,
    /// When the remote provider fails, speak with espeak-ng instead (and say so).
    pub fallback_to_local: bool,
    /// Seed-TTS endpoint (scheme and host).
    pub seed_tts_endpoint: String,
    /// Seed-TTS application id.
    pub seed_tts_appid: String,
    /// Seed-TTS access token.
    pub seed_tts_token: String,
    /// Seed-TTS cluster for standard voices.
    pub seed_tts_cluster: String,
    /// Seed-TTS cluster for cloned (Seed-ICL) voices.
    pub seed_tts_clone_cluster: String,
    /// Seed-ICL's `Resource-Id` header for training (`volc.megatts.voiceclone`;
    /// `seed-icl-2.0` on accounts of the 2.0 offering).
    pub seed_icl_resource_id: String,
    /// Seed-ICL's `model_type` (1: ICL 2.0; 4 with `seed-icl-2.0`).
    pub seed_icl_model_type: u32,
    /// Starts every speaker id this deployment trains (`{prefix}u{user}s{sample}`),
    /// so deployments sharing one vendor account never collide; letters and
    /// digits.
    pub seed_icl_speaker_prefix: String,
    /// How often a clone's training status is asked for.
    #[serde(with = "humantime_serde")]
    pub clone_poll_interval: Duration,
    /// How long one clone attempt waits for training before giving the job
    /// back to be retried (the speaker stays; the retry asks again first).
    #[serde(with = "humantime_serde")]
    pub clone_timeout: Duration,
    /// Upper bound on one synthesis request.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Retries on rate limits and server errors.
    pub max_retries: u32,
}

impl Default for VoiceConfig {
    fn default() -> Self {
        Self {
            provider: VoiceProviderKind::Espeak,
            espeak_binary: "espeak-ng".into(),
            fallback_to_local: true,
            seed_tts_endpoint: "https://openspeech.bytedance.com".into(),
            seed_tts_appid: String::new(),
            seed_tts_token: String::new(),
            seed_tts_cluster: "volcano_tts".into(),
            seed_tts_clone_cluster: "volcano_icl".into(),
            seed_icl_resource_id: "volc.megatts.voiceclone".into(),
            seed_icl_model_type: 1,
            seed_icl_speaker_prefix: "scout".into(),
            clone_poll_interval: Duration::from_secs(3),
            clone_timeout: Duration::from_secs(180),
            timeout: Duration::from_secs(30),
            max_retries: 3,
        }
    }
}

/// Media work configuration (render).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// Scratch space for downloads and renders; empty means `{data_dir}/render-tmp`.
    pub work_dir: PathBuf,
    /// x264 preset for compose.
    pub x264_preset: String,
    /// Font family for subtitles (must be installed; Noto Sans CJK ships with the install).
    pub subtitle_font: String,
    /// Compose jobs run at once on this node.
    pub max_concurrent_composes: usize,
    /// `auto`: use an NVIDIA GPU for the stages it helps (NVDEC decode, and
    /// NVENC encode on cards that have it), falling back to the CPU on any
    /// GPU failure; `always`: like auto, but decode on NVDEC even where this
    /// host's cores measured faster (a host busy with other work); `off`:
    /// CPU only.
    pub gpu: GpuMode,
    /// NVDEC decode sessions at once on this node, shared by every job
    /// (compose and frame extraction); 0: one per NVDEC engine the probe
    /// reports (7 on an H100/H200).
    pub nvdec_sessions: usize,
}

/// Which generative video provider render uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GenerativeProvider {
    /// None (embedded default, offline): a montage asking for moving
    /// images fails saying so.
    None,
    /// Replicate's prediction API (or a server speaking it).
    Replicate,
}

/// Generative video: where predictions run and how long they may take.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GenerativeConfig {
    /// `none` or `replicate`.
    pub provider: GenerativeProvider,
    /// API base, e.g. https://api.replicate.com (`/v1/...` is appended).
    pub endpoint: String,
    /// Bearer token (a secret: `SCOUT_GENERATIVE_API_TOKEN`).
    pub api_token: String,
    /// The image-to-video model: `owner/name` (its latest version) or a
    /// version id.
    pub animate_model: String,
    /// The lipsync model (a clip and a voice or song in, the clip's mouth
    /// moving to it out), `owner/name` or a version id.
    pub lipsync_model: String,
    /// How often a running prediction is polled.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Longest one prediction may run before it is canceled.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Upper bound on one HTTP request.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Retries of one request on 429, 5xx and transport errors.
    pub max_retries: u32,
}

impl Default for GenerativeConfig {
    fn default() -> Self {
        Self {
            provider: GenerativeProvider::None,
            endpoint: "https://api.replicate.com".into(),
            api_token: String::new(),
            animate_model: "minimax/video-01-live".into(),
            lipsync_model: "sync/lipsync-2-pro".into(),
            poll_interval: Duration::from_secs(2),
            timeout: Duration::from_secs(600),
            request_timeout: Duration::from_secs(60),
            max_retries: 3,
        }
    }
}

/// Whether render may use an NVIDIA GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GpuMode {
    /// Use it where the probe and the per-stage plan say it helps.
    Auto,
    /// Decode on NVDEC whenever the device can.
    Always,
    /// Never.
    Off,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            work_dir: PathBuf::new(),
            x264_preset: "veryfast".into(),
            subtitle_font: "Noto Sans CJK SC".into(),
            max_concurrent_composes: 1,
            gpu: GpuMode::Auto,
            nvdec_sessions: 0,
        }
    }
}

/// Token configuration. Access tokens are EdDSA (Ed25519) JWTs that any
/// service verifies with identity's public keys; refresh tokens are opaque.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// The `iss` claim.
    pub issuer: String,
    /// The `aud` claim.
    pub audience: String,
    /// Access token lifetime (seed 000: 15 minutes).
    #[serde(with = "humantime_serde")]
    pub access_ttl: Duration,
    /// Refresh token lifetime (seed 000: 7 days).
    #[serde(with = "humantime_serde")]
    pub refresh_ttl: Duration,
    /// PKCS#8 PEM of identity's Ed25519 signing key. Empty means
    /// `{data_dir}/keys/identity-ed25519.pem`, created on first start.
    pub signing_key_file: PathBuf,
    /// More keys identity publishes in its JWKS without signing with them:
    /// the previous key after a rotation, or the next one before it (PEM,
    /// private PKCS#8 or public SPKI).
    pub verify_key_files: Vec<PathBuf>,
    /// The credential internal calls carry between services. Empty means
    /// `{data_dir}/keys/service-token`, created on first start (one machine);
    /// a deployment sets it from a secret.
    pub service_token: String,
    /// Clock skew allowed on `exp` and `nbf`.
    #[serde(with = "humantime_serde")]
    pub leeway: Duration,
    /// How often services refresh identity's JWKS.
    #[serde(with = "humantime_serde")]
    pub jwks_refresh: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            issuer: "shop-video-scout".into(),
            audience: "scout-api".into(),
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(7 * 24 * 3600),
            signing_key_file: PathBuf::new(),
            verify_key_files: Vec::new(),
            service_token: String::new(),
            leeway: Duration::from_secs(5),
            jwks_refresh: Duration::from_secs(300),
        }
    }
}

impl AuthConfig {
    /// The signing key file, resolved against the data directory.
    pub fn signing_key_path(&self, data_dir: &Path) -> PathBuf {
        if self.signing_key_file.as_os_str().is_empty() {
            data_dir.join("keys").join("identity-ed25519.pem")
        } else {
            self.signing_key_file.clone()
        }
    }
}

/// Which SMS provider sends login codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmsProviderKind {
    /// Writes the code to the log and the outbox file (embedded default).
    Log,
    /// Aliyun SMS (Dysmsapi `SendSms`).
    Aliyun,
}

/// SMS login codes (seed 000 §4.2, §5.2).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsConfig {
    /// `log` or `aliyun`.
    pub provider: SmsProviderKind,
    /// Where the log provider also appends `phone code` lines, so a local
    /// user (and `scout make`) can read the code. Empty means
    /// `{data_dir}/sms-outbox.log`.
    pub outbox_file: PathBuf,
    /// How long a code is valid.
    #[serde(with = "humantime_serde")]
    pub code_ttl: Duration,
    /// Least time between two codes for one phone.
    #[serde(with = "humantime_serde")]
    pub resend_interval: Duration,
    /// Wrong codes before the phone is locked.
    pub max_failures: u32,
    /// How long a phone stays locked.
    #[serde(with = "humantime_serde")]
    pub lock_duration: Duration,
    /// Aliyun endpoint (scheme and host).
    pub aliyun_endpoint: String,
    /// Aliyun AccessKey id.
    pub aliyun_access_key_id: String,
    /// Aliyun AccessKey secret.
    pub aliyun_access_key_secret: String,
    /// Approved SMS signature (SignName).
    pub aliyun_sign_name: String,
    /// Approved template with a `${code}` parameter (TemplateCode).
    pub aliyun_template_code: String,
    /// Region id.
    pub aliyun_region: String,
    /// Upper bound on one provider call.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for SmsConfig {
    fn default() -> Self {
        Self {
            provider: SmsProviderKind::Log,
            outbox_file: PathBuf::new(),
            code_ttl: Duration::from_secs(300),
            resend_interval: Duration::from_secs(60),
            max_failures: 5,
            lock_duration: Duration::from_secs(15 * 60),
            aliyun_endpoint: "https://dysmsapi.aliyuncs.com".into(),
            aliyun_access_key_id: String::new(),
            aliyun_access_key_secret: String::new(),
            aliyun_sign_name: String::new(),
            aliyun_template_code: String::new(),
            aliyun_region: "cn-hangzhou".into(),
            timeout: Duration::from_secs(5),
        }
    }
}

impl SmsConfig {
    /// The outbox file, resolved against the data directory.
    pub fn outbox_path(&self, data_dir: &Path) -> PathBuf {
        if self.outbox_file.as_os_str().is_empty() {
            data_dir.join("sms-outbox.log")
        } else {
            self.outbox_file.clone()
        }
    }
}

/// Which shot analyzer the vision worker uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnalyzerKind {
    /// Measurements on this machine (embedded default, offline).
    Local,
    /// An OpenAI-compatible multimodal chat model (`ai.vision_model`).
    Remote,
}

/// Which writer produces scripts, topics and titles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WriterKind {
    /// Built-in Chinese templates (embedded default, offline).
    Template,
    /// An OpenAI-compatible chat model (`ai.text_model`).
    Remote,
}

/// Where topic_short's pictures come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImagesKind {
    /// No image provider (embedded default, offline): a topic short shows
    /// the user's own clips, else a slide of each scene's words.
    None,
    /// An OpenAI-compatible images API (`ai.image_model`).
    Remote,
}

/// One OpenAI-compatible chat-completions endpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChatModelConfig {
    /// Base URL; `/chat/completions` is appended.
    pub endpoint: String,
    /// Bearer API key.
    pub api_key: String,
    /// Model (or Ark endpoint) id.
    pub model: String,
}

/// Shot analysis, script writing and publish suggestions.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AiConfig {
    /// `local` or `remote`.
    pub analyzer: AnalyzerKind,
    /// `template` or `remote` (scripts, and publish topics and titles).
    pub writer: WriterKind,
    /// When a remote model fails for good (after retries and one repair),
    /// use the local analyzer / template writer instead and say so in the
    /// task's provider note. Off: the job fails with the model's error.
    pub fallback_to_local: bool,
    /// The multimodal model (seed 000: Qwen-VL on DashScope's compatible mode).
    pub vision_model: ChatModelConfig,
    /// The text model (seed 000: Doubao on Volcengine Ark).
    pub text_model: ChatModelConfig,
    /// `none` or `remote`: topic_short's pictures.
    pub images: ImagesKind,
    /// The images model (seed 002: DALL-E 3 at 1024x1792); its endpoint is
    /// the API base, `/images/generations` is appended.
    pub image_model: ChatModelConfig,
    /// The size asked of the images model, `WxH`.
    pub image_size: String,
    /// Upper bound on one model call.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Retries of one call on 429, 5xx, timeouts and transport errors.
    pub max_retries: u32,
    /// Model calls in flight at once, per process.
    pub max_concurrency: usize,
    /// Frames of each clip sent to the remote analyzer (evenly spaced).
    pub frames_per_clip: usize,
}

impl Default for AiConfig {
    fn default() -> Self {
        Self {
            analyzer: AnalyzerKind::Local,
            writer: WriterKind::Template,
            fallback_to_local: true,
            vision_model: ChatModelConfig {
                endpoint: "https://dashscope.aliyuncs.com/compatible-mode/v1".into(),
                api_key: String::new(),
                model: "qwen-vl-max".into(),
            },
            text_model: ChatModelConfig {
                endpoint: "https://ark.cn-beijing.volces.com/api/v3".into(),
                api_key: String::new(),
                model: "doubao-1-5-pro-32k-250115".into(),
            },
            images: ImagesKind::None,
            image_model: ChatModelConfig {
                endpoint: "https://api.openai.com/v1".into(),
                api_key: String::new(),
                model: "dall-e-3".into(),
            },
            image_size: "1024x1792".into(),
            timeout: Duration::from_secs(60),
            max_retries: 3,
            max_concurrency: 4,
            frames_per_clip: 3,
        }
    }
}

/// Lists of durations in humantime form: `["30s", "1m"]`.
/// A list given as a list, or as one string of entries separated by commas
/// or spaces (how a secret store hands it to an environment variable).
mod string_or_list {
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        List(Vec<String>),
        One(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        Ok(match Either::deserialize(d)? {
            Either::List(l) => l,
            Either::One(s) => s
                .split([',', ' ', '\n'])
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect(),
        })
    }
}

mod duration_list {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(list: &[Duration], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(
            list.iter()
                .map(|d| humantime::format_duration(*d).to_string()),
        )
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
        let raw: Vec<String> = Vec::deserialize(d)?;
        raw.iter()
            .map(|s| {
                humantime::parse_duration(s)
                    .map_err(|e| serde::de::Error::custom(format!("{s:?}: {e}")))
            })
            .collect()
    }
}

/// A configuration error, always naming the offending key or variable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// An unknown `SCOUT_*` environment variable.
    #[error("unknown environment variable {name}{hint}")]
    UnknownEnv {
        /// The variable.
        name: String,
        /// A "did you mean" suffix, possibly empty.
        hint: String,
    },
    /// A key or value problem found while merging the layers.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Loads defaults, then `file` (when given), then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        Self::load_from(file, &env)
    }

    /// Like [`Config::load`] with an explicit environment (for tests).
    pub fn load_from(
        file: Option<&Path>,
        env: &BTreeMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            figment = figment.merge(Toml::file_exact(path));
        }
        let known = env_keys();
        for name in env.keys() {
            if !name.starts_with("SCOUT_") || ENV_EXEMPT.contains(&name.as_str()) {
                continue;
            }
            if !known.contains_key(name) {
                return Err(ConfigError::UnknownEnv {
                    name: name.clone(),
                    hint: did_you_mean(name, known.keys().map(String::as_str)),
                });
            }
        }
        for (name, value) in env {
            if let Some(path) = known.get(name) {
                figment = figment.merge(EnvVar {
                    name: name.clone(),
                    path: path.clone(),
                    value: value.clone(),
                });
            }
        }
        let mut config: Config = figment.extract().map_err(|e| {
            let messages: Vec<String> = e.into_iter().map(|e| describe(&e)).collect();
            ConfigError::Invalid(messages.join("; "))
        })?;
        config.resolve_placeholders();
        config.validate()?;
        Ok(config)
    }

    /// The section of an internal service; `None` for the edge, whose
    /// section is [`Config::edge`].
    pub fn internal(&self, name: ServiceName) -> Option<&ServiceConfig> {
        match name {
            ServiceName::Edge => None,
            ServiceName::Identity => Some(&self.identity),
            ServiceName::Tasks => Some(&self.tasks),
            ServiceName::Vision => Some(&self.vision),
            ServiceName::Render => Some(&self.render),
            ServiceName::Publish => Some(&self.publish),
        }
    }

    /// Where a service listens, and the URL others reach it at.
    pub fn listen(&self, name: ServiceName) -> Listen {
        match self.internal(name) {
            Some(s) => Listen {
                addr: s.addr,
                url: s.endpoint_url(),
                drain_timeout: s.drain_timeout,
            },
            None => Listen {
                addr: self.edge.addr,
                url: self.edge.public_base_url(),
                drain_timeout: self.edge.drain_timeout,
            },
        }
    }

    /// The section of an internal service, to change it.
    pub fn internal_mut(&mut self, name: ServiceName) -> Option<&mut ServiceConfig> {
        match name {
            ServiceName::Edge => None,
            ServiceName::Identity => Some(&mut self.identity),
            ServiceName::Tasks => Some(&mut self.tasks),
            ServiceName::Vision => Some(&mut self.vision),
            ServiceName::Render => Some(&mut self.render),
            ServiceName::Publish => Some(&mut self.publish),
        }
    }

    /// Moves a service to `addr` (a port the OS picked, say); others then
    /// reach it there (an internal service's configured endpoint is dropped;
    /// the edge keeps its public URL).
    pub fn set_addr(&mut self, name: ServiceName, addr: SocketAddr) {
        match self.internal_mut(name) {
            Some(svc) => {
                svc.addr = addr;
                svc.endpoint.clear();
            }
            None => self.edge.addr = addr,
        }
    }

    /// Checks what no single key can: two services may not listen on one
    /// address (port 0 excepted: the OS picks one each).
    fn validate(&self) -> Result<(), ConfigError> {
        let mark_chars = self.aigc.mark_text.chars().count();
        if self.aigc.mark && !(1..=20).contains(&mark_chars) {
            return Err(ConfigError::Invalid(format!(
                "`aigc.mark_text` must be 1 to 20 characters while `aigc.mark` is on (it has {mark_chars})"
            )));
        }
        if !(self.aigc.mark_seconds.is_finite() && self.aigc.mark_seconds >= 0.0) {
            return Err(ConfigError::Invalid(
                "`aigc.mark_seconds` must be 0 (the whole video) or more".into(),
            ));
        }
        if self.platforms.retry_delays.is_empty() {
            return Err(ConfigError::Invalid(
                "`platforms.retry_delays` needs at least one delay".into(),
            ));
        }
        if self.platforms.chunk_bytes == 0 || !self.platforms.chunk_bytes.is_multiple_of(256 * 1024)
        {
            return Err(ConfigError::Invalid(
                "`platforms.chunk_bytes` must be a multiple of 262144 (YouTube takes chunks in multiples of 256 KiB)".into(),
            ));
        }
        let mut seen: BTreeMap<SocketAddr, ServiceName> = BTreeMap::new();
        for name in ServiceName::ALL {
            let addr = self.listen(name).addr;
            if addr.port() == 0 {
                continue;
            }
            if let Some(other) = seen.insert(addr, name) {
                return Err(ConfigError::Invalid(format!(
                    "`{other}.addr` and `{name}.addr` are both {addr}: each service needs its own address"
                )));
            }
        }
        Ok(())
    }

    /// The failures to inject: the `[faults]` section in a build with the
    /// `faults` feature, none otherwise.
    pub fn faults(&self) -> FaultsConfig {
        #[cfg(feature = "faults")]
        {
            self.faults.clone()
        }
        #[cfg(not(feature = "faults"))]
        {
            FaultsConfig::default()
        }
    }

    /// Replaces `{data_dir}` in paths and URLs with the data directory.
    fn resolve_placeholders(&mut self) {
        let dir = self.data_dir.display().to_string();
        for name in ServiceName::INTERNAL {
            if let Some(svc) = self.internal_mut(name) {
                svc.database_url = svc.database_url.replace("{data_dir}", &dir);
            }
        }
        if self.blobs.dir.as_os_str().is_empty() {
            self.blobs.dir = self.data_dir.join("blobs");
        }
        if self.media.work_dir.as_os_str().is_empty() {
            self.media.work_dir = self.data_dir.join("render-tmp");
        }
    }

    /// Every `SCOUT_*` variable this config understands, with its key path.
    pub fn env_variables() -> Vec<(String, String)> {
        env_keys().into_iter().collect()
    }
}

/// One `SCOUT_*` variable as a figment layer, so errors name the variable.
struct EnvVar {
    name: String,
    path: String,
    value: String,
}

impl Provider for EnvVar {
    fn metadata(&self) -> Metadata {
        Metadata::named(format!("environment variable {}", self.name))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let nested = figment::util::nest(&self.path, parse_env_value(&self.value));
        let dict = nested.into_dict().unwrap_or_default();
        Ok(Profile::Default.collect(dict))
    }
}

/// Turns a figment error into a one-line message naming the key.
fn describe(e: &figment::Error) -> String {
    let path = e.path.join(".");
    if let figment::error::Kind::UnknownField(field, expected) = &e.kind {
        // Figment's path already ends with the unknown field when it is nested.
        let key = match e.path.last() {
            Some(last) if last == field => path,
            _ if path.is_empty() => field.clone(),
            _ => format!("{path}.{field}"),
        };
        let hint = did_you_mean(field, expected.iter().copied());
        return format!("unknown key `{key}`{hint}{}", source_suffix(e));
    }
    if path.is_empty() {
        format!("{}{}", e.kind, source_suffix(e))
    } else {
        format!("key `{path}`: {}{}", e.kind, source_suffix(e))
    }
}

fn source_suffix(e: &figment::Error) -> String {
    match e.metadata.as_ref() {
        Some(meta) if !meta.name.contains("Serialized") && !meta.name.is_empty() => {
            match &meta.source {
                Some(figment::Source::File(path)) => format!(" (in {})", path.display()),
                _ => format!(" (in {})", meta.name),
            }
        }
        _ => String::new(),
    }
}

/// Parses an environment value: numbers, booleans and `[a, b]` lists keep
/// their type; everything else is a string.
fn parse_env_value(raw: &str) -> figment::value::Value {
    use figment::value::Value;
    let trimmed = raw.trim();
    if trimmed.starts_with('[') && trimmed.ends_with(']') {
        let inner = &trimmed[1..trimmed.len() - 1];
        let items: Vec<Value> = inner
            .split(',')
            .map(|s| s.trim().trim_matches('"'))
            .filter(|s| !s.is_empty())
            .map(|s| Value::from(s.to_string()))
            .collect();
        return Value::from(items);
    }
    if let Ok(b) = trimmed.parse::<bool>() {
        return Value::from(b);
    }
    if let Ok(n) = trimmed.parse::<i64>() {
        return Value::from(n);
    }
    Value::from(raw.to_string())
}

/// Maps `SCOUT_A_B` to `a.b` for every leaf of the default config.
fn env_keys() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let defaults = serde_json::to_value(Config::default()).unwrap_or_default();
    fn walk(value: &serde_json::Value, path: &mut Vec<String>, out: &mut BTreeMap<String, String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    path.push(k.clone());
                    walk(v, path, out);
                    path.pop();
                }
            }
            _ => {
                let name = format!("SCOUT_{}", path.join("_").to_uppercase());
                out.insert(name, path.join("."));
            }
        }
    }
    walk(&defaults, &mut Vec::new(), &mut out);
    out
}

/// " (did you mean `x`?)" for the closest candidate within edit distance 3.
fn did_you_mean<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> String {
    candidates
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= 3)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn write(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        std::io::Write::write_all(&mut f, text.as_bytes()).expect("write");
        f
    }

    #[test]
    fn defaults_are_embedded() {
        let c = Config::load_from(None, &env(&[])).expect("defaults load");
        assert_eq!(c.edge.addr.to_string(), "127.0.0.1:8080");
        assert_eq!(c.cache.backend, CacheBackend::Memory);
        assert_eq!(c.bus.backend, BusBackend::Memory);
        assert_eq!(c.blobs.backend, BlobBackend::Local);
        assert_eq!(c.tasks.database_url, "sqlite://scout-data/tasks.sqlite");
        assert_eq!(
            c.bus.analyze_retry_delays,
            vec![
                Duration::from_secs(30),
                Duration::from_secs(60),
                Duration::from_secs(120)
            ]
        );
    }

    #[test]
    fn file_then_env_override() {
        let f = write(
            "data_dir = \"/srv/scout\"\n[edge]\naddr = \"0.0.0.0:9000\"\n[bus]\nbackend = \"kafka\"\ncompose_retry_delays = [\"1s\", \"2s\"]\n",
        );
        let c = Config::load_from(
            Some(f.path()),
            &env(&[
                ("SCOUT_EDGE_ADDR", "127.0.0.1:9100"),
                ("SCOUT_CACHE_BACKEND", "redis"),
            ]),
        )
        .expect("loads");
        assert_eq!(c.edge.addr.to_string(), "127.0.0.1:9100");
        assert_eq!(c.bus.backend, BusBackend::Kafka);
        assert_eq!(c.cache.backend, CacheBackend::Redis);
        assert_eq!(c.tasks.database_url, "sqlite:///srv/scout/tasks.sqlite");
        assert_eq!(
            c.bus.compose_retry_delays,
            vec![Duration::from_secs(1), Duration::from_secs(2)]
        );
    }

    #[test]
    fn typo_in_file_names_the_key() {
        let f = write("[edge]\nadr = \"127.0.0.1:1\"\n");
        let err = Config::load_from(Some(f.path()), &env(&[])).expect_err("typo refused");
        let msg = err.to_string();
        assert!(msg.contains("unknown key `edge.adr` "), "{msg}");
        assert!(
            msg.contains(&f.path().display().to_string()),
            "names the file: {msg}"
        );
        assert!(msg.contains("did you mean `addr`"), "{msg}");
    }

    #[test]
    fn bad_address_names_the_key() {
        let f = write("[tasks]\naddr = \"not-an-address\"\n");
        let err = Config::load_from(Some(f.path()), &env(&[])).expect_err("bad address refused");
        assert!(err.to_string().contains("tasks.addr"), "{err}");
    }

    #[test]
    fn bad_env_value_names_the_key() {
        let err = Config::load_from(None, &env(&[("SCOUT_EDGE_ADDR", "localhost")]))
            .expect_err("bad address refused");
        assert!(err.to_string().contains("edge.addr"), "{err}");
    }

    #[test]
    fn unknown_env_is_refused_with_a_hint() {
        let err = Config::load_from(None, &env(&[("SCOUT_EDGE_ADR", "127.0.0.1:1")]))
            .expect_err("typo refused");
        let msg = err.to_string();
        assert!(msg.contains("SCOUT_EDGE_ADR"), "{msg}");
        assert!(msg.contains("SCOUT_EDGE_ADDR"), "{msg}");
    }

    #[test]
    fn the_production_example_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/production.example.toml");
        let c = Config::load_from(Some(&path), &env(&[])).expect("example config loads");
        assert_eq!(c.cache.backend, CacheBackend::Redis);
        assert_eq!(c.bus.backend, BusBackend::Kafka);
        assert_eq!(c.blobs.backend, BlobBackend::S3);
        assert_eq!(c.tasks.endpoint_url(), "http://tasks:50052");
    }

    #[test]
    fn exempt_env_is_ignored() {
        Config::load_from(None, &env(&[("SCOUT_CONFIG", "x"), ("SCOUT_LOG", "debug")]))
            .expect("exempt variables are not config keys");
        let err = Config::load_from(None, &env(&[("SCOUT_TEST_PG_URL", "y")]))
            .expect_err("test names are not exempt");
        assert!(err.to_string().contains("SCOUT_TEST_PG_URL"), "{err}");
    }

    #[test]
    fn two_services_on_one_address_are_refused() {
        let err = Config::load_from(None, &env(&[("SCOUT_TASKS_ADDR", "127.0.0.1:50051")]))
            .expect_err("clash refused");
        let msg = err.to_string();
        assert!(
            msg.contains("identity.addr") && msg.contains("tasks.addr"),
            "{msg}"
        );
        let c = Config::load_from(None, &env(&[])).expect("defaults");
        for name in ServiceName::ALL {
            assert_eq!(c.listen(name).addr.port(), name.default_port());
        }
    }
}
