//! `scout`: the Shop Video Scout command line.
//!
//! - `scout up` runs the whole mesh in one process on embedded defaults
//!   (SQLite, in-process cache and bus, a local blob directory) and prints
//!   the edge URL; Ctrl-C stops it cleanly.
//! - `scout serve <service>` runs one service, as a deployment would.
//! - `scout capabilities` asks a running edge what the render node can do.
//! - `scout config` prints the effective configuration and its variables.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::TypedValueParser as _;
use clap::{Parser, Subcommand};
use scout_common::ServiceName;

mod extract_bench;
mod media_cli;

/// Shop Video Scout (探店宝): phone clips and shop info in, a finished
/// 1080x1920 short video out.
#[derive(Parser, Debug)]
#[command(name = "scout", version, about, long_about = None)]
struct Cli {
    /// Config file (TOML). Also `SCOUT_CONFIG`; `SCOUT_*` variables override it.
    #[arg(long, short = 'c', global = true, env = "SCOUT_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum AdminAction {
    /// Make the user with this phone an admin (they must have logged in
    /// once; their next token carries the role).
    Grant {
        /// Mainland mobile number, e.g. 13800138000.
        phone: String,
    },
    /// Take the admin role back.
    Revoke {
        /// Mainland mobile number.
        phone: String,
    },
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the whole mesh in this process (embedded defaults unless configured otherwise).
    Up {
        /// Where SQLite files and blobs live.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The edge's address (default 127.0.0.1:8080).
        #[arg(long)]
        edge_addr: Option<String>,
    },
    /// Run one service: edge, identity, tasks, vision, render or publish.
    Serve {
        /// The service.
        #[arg(value_parser = clap::builder::PossibleValuesParser::new(ServiceName::names())
            .try_map(|s| s.parse::<ServiceName>()))]
        service: ServiceName,
    },
    /// Log in to an edge with a phone and SMS code; saves the session and
    /// prints the access token (for `curl -H "Authorization: Bearer …"`).
    Login {
        /// The edge URL.
        #[arg(long, default_value = "http://127.0.0.1:8080", env = "SCOUT_EDGE_URL")]
        edge: String,
        /// Mainland mobile number.
        #[arg(long, default_value = "13800138000")]
        phone: String,
        /// The code from the SMS; by default read from a local mesh's outbox
        /// (log SMS provider), else asked for.
        #[arg(long)]
        code: Option<String>,
        /// The local mesh's data directory (outbox and saved session).
        #[arg(long, default_value = "scout-data")]
        data_dir: PathBuf,
    },
    /// Grant or take back the admin role (the internal admin panel,
    /// `/api/v1/admin/...`), in the identity database the config names.
    Admin {
        #[command(subcommand)]
        action: AdminAction,
    },
    /// Bring every service database (identity, tasks, publish) to the
    /// latest schema and exit (a deployment's pre-install/pre-upgrade job;
    /// services also migrate at start, under a lock).
    Migrate,
    /// Print the REST API's OpenAPI 3.1 document (generated from the
    /// protos; what the edge serves at /api/v1/openapi.json).
    Openapi,
    /// Ask a running edge for the render node's capabilities (as the
    /// logged-in user; see `scout login`).
    Capabilities {
        /// The edge URL.
        #[arg(long, default_value = "http://127.0.0.1:8080", env = "SCOUT_EDGE_URL")]
        edge: String,
        /// Where `scout login` saved the session.
        #[arg(long, default_value = "scout-data")]
        data_dir: PathBuf,
    },
    /// The main job: clips and shop info in, a finished 1080x1920 video out
    /// (through the public API; starts the mesh here unless --edge is given).
    /// `--recipe music_video` or `ad_creative`: product images in, cut to the
    /// beats of `--track`.
    Make {
        /// What to make: shop_review, doc_explainer (one document: md, txt,
        /// pdf or docx), topic_short (--topic; clips optional, as its
        /// library), music_video or ad_creative.
        #[arg(long, default_value = "shop_review")]
        recipe: String,
        /// What the short is about (topic_short), e.g. 在家做拿铁.
        #[arg(long, default_value = "")]
        topic: String,
        /// Its audience or niche (topic_short), e.g. 咖啡爱好者.
        #[arg(long, default_value = "")]
        niche: String,
        /// Where a topic short's pictures come from: generated (the
        /// configured images model), library (the clips given) or auto.
        #[arg(long, default_value = "auto")]
        visuals: String,
        /// Make each image a moving clip with the configured generative
        /// video model (music_video, ad_creative; `generative.provider`).
        #[arg(long)]
        animate: bool,
        /// With --animate: each moving clip lip-synced to its part of the
        /// track (the generative provider's lipsync model).
        #[arg(long)]
        lip_sync: bool,
        /// Shop name, e.g. 海底捞火锅(望京店) (shop_review; else the title).
        #[arg(long, default_value = "")]
        shop: String,
        /// The backing track, mp3 or wav (music_video, ad_creative; a topic
        /// short's music, else render's own).
        #[arg(long)]
        track: Option<PathBuf>,
        /// The product's name, on the ad's end card (ad_creative).
        #[arg(long, default_value = "")]
        product: String,
        /// The call to action on the ad's end card, e.g. 立即购买.
        #[arg(long, default_value = "")]
        cta: String,
        /// A line shown over the images (music_video, ad_creative).
        #[arg(long, default_value = "")]
        tagline: String,
        /// Video length in seconds (topic_short 15-90, music_video,
        /// ad_creative 8-90); 0 for the default.
        #[arg(long, default_value_t = 0.0)]
        seconds: f64,
        /// The slides' accent colour (doc_explainer): blue, orange, purple,
        /// green, pink or cyan.
        #[arg(long, default_value = "")]
        accent: String,
        /// food, beauty, entertainment or other.
        #[arg(long = "type", default_value = "food")]
        shop_type: String,
        /// recommend (种草安利), review (真实测评) or vlog (探店vlog).
        #[arg(long, default_value = "recommend")]
        style: String,
        /// Promotion text, used verbatim.
        #[arg(long, default_value = "")]
        promo: String,
        /// The clips (shop_review; a topic short's library) or product
        /// images (music_video, ad_creative), in order.
        clips: Vec<PathBuf>,
        /// Output MP4.
        #[arg(short = 'o', long, default_value = "out.mp4")]
        out: PathBuf,
        /// A running edge to use instead of starting one here.
        #[arg(long, env = "SCOUT_EDGE_URL")]
        edge: Option<String>,
        /// Phone to log in with.
        #[arg(long, default_value = "13800138000")]
        phone: String,
        /// The SMS code (by default read from the local outbox, else asked for).
        #[arg(long)]
        code: Option<String>,
        /// Narration voice.
        #[arg(long, default_value = "xiaomei")]
        voice: String,
        /// Subtitle style: simple_white, vibrant_yellow, xiaohongshu, douyin_hot or neon.
        #[arg(long, default_value = "douyin_hot")]
        subtitle_style: String,
        /// Where the embedded mesh keeps its data (and the SMS outbox).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Also show the mesh's logs (info level; `RUST_LOG` or `SCOUT_LOG`
        /// pick any level).
        #[arg(short = 'v', long)]
        verbose: bool,
    },
    /// Print a media file's probe (streams, rotation, frame rate, duration) as JSON.
    Probe {
        /// The file.
        file: PathBuf,
    },
    /// Write one JPEG every N seconds of a clip, and a thumbnail.
    Frames {
        /// The clip.
        file: PathBuf,
        /// Seconds between frames.
        #[arg(long, default_value_t = 2.0)]
        every: f64,
        /// Output directory.
        #[arg(short = 'o', long)]
        out: PathBuf,
        /// Longest side of the JPEGs (0 keeps the size).
        #[arg(long, default_value_t = 0)]
        max_dimension: u32,
    },
    /// Decode clips fully on the CPU and on NVDEC and compare (frames per
    /// second, PSNR of NVDEC's frames against the CPU's); prints the device
    /// probe, the stage plans and a Markdown table. For GPU nodes
    /// (`gpu/run-on-device.sh`).
    #[command(hide = true)]
    GpuBench {
        /// The clips.
        files: Vec<PathBuf>,
        /// Compare every Nth frame.
        #[arg(long, default_value_t = 15)]
        sample_every: u64,
        /// Fail unless a device decoded every clip on NVDEC with at least
        /// this PSNR (dB, luma) against the CPU.
        #[arg(long)]
        require_psnr: Option<f64>,
        /// Also extract frames from this many copies of the last clip on
        /// the CPU, on one NVDEC engine and on all (0: skip).
        #[arg(long, default_value_t = 0)]
        extract_copies: usize,
    },
    /// Speak a line with the configured voice provider into a 48 kHz WAV.
    Say {
        /// What to say.
        text: String,
        /// Voice (e.g. xiaomei, en-us; empty for the default).
        #[arg(long, default_value = "")]
        voice: String,
        /// Output WAV.
        #[arg(short = 'o', long)]
        out: PathBuf,
    },
    /// Render a timeline (the proto's JSON mapping) to a 1080x1920 MP4.
    Compose {
        /// The timeline JSON; local paths in it are relative to it.
        timeline: PathBuf,
        /// Output MP4.
        #[arg(short = 'o', long)]
        out: PathBuf,
    },
    /// Print the effective configuration (TOML) and exit; non-zero on a bad config.
    Config {
        /// List every `SCOUT_*` variable and the key it sets instead.
        #[arg(long)]
        env: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { service } => scout::services::run(service, cli.config),
        Command::Up {
            data_dir,
            edge_addr,
        } => {
            let mut overrides = BTreeMap::new();
            if let Some(dir) = data_dir {
                overrides.insert("SCOUT_DATA_DIR".to_string(), dir.display().to_string());
            }
            if let Some(addr) = edge_addr {
                overrides.insert("SCOUT_EDGE_ADDR".to_string(), addr);
            }
            let config = match load(cli.config, overrides) {
                Ok(c) => c,
                Err(e) => return fail(2, e),
            };
            scout_common::telemetry::init_logging(&config.telemetry);
            runtime(|| async move { scout::mesh::up(config).await })
        }
        Command::Login {
            edge,
            phone,
            code,
            data_dir,
        } => runtime(|| async move {
            let outbox = match load(cli.config, BTreeMap::new()) {
                Ok(c) => c.sms.outbox_path(&data_dir),
                Err(_) => data_dir.join("sms-outbox.log"),
            };
            let session = scout::client::login(&edge, &phone, code, &outbox).await?;
            let path = scout::client::session_path(&data_dir);
            scout::client::save(&session, &path)?;
            eprintln!(
                "logged in as {} (user {}); session saved to {}",
                session.nickname,
                session.user_id,
                path.display()
            );
            println!("{}", session.access_token);
            Ok(())
        }),
        Command::Make {
            recipe,
            topic,
            niche,
            visuals,
            animate,
            lip_sync,
            shop,
            track,
            product,
            cta,
            tagline,
            seconds,
            accent,
            shop_type,
            style,
            promo,
            clips,
            out,
            edge,
            phone,
            code,
            voice,
            subtitle_style,
            data_dir,
            verbose,
        } => {
            let mut overrides = BTreeMap::new();
            if let Some(dir) = data_dir {
                overrides.insert("SCOUT_DATA_DIR".to_string(), dir.display().to_string());
            }
            let mut config = match load(cli.config, overrides) {
                Ok(c) => c,
                Err(e) => return fail(2, e),
            };
            // The progress bars are the output; logs only for problems,
            // unless asked for.
            if std::env::var_os("SCOUT_TELEMETRY_LOG_LEVEL").is_none() {
                config.telemetry.log_level = if verbose { "info" } else { "warn" }.into();
                config.telemetry.log_format = scout_common::config::LogFormat::Pretty;
            }
            scout_common::telemetry::init_logging(&config.telemetry);
            let args = scout::make::MakeArgs {
                recipe,
                topic,
                niche,
                visuals,
                animate,
                lip_sync,
                shop,
                track,
                product,
                cta,
                tagline,
                seconds,
                accent,
                shop_type,
                style,
                promo,
                clips,
                out,
                edge,
                phone,
                code,
                voice,
                subtitle_style,
            };
            runtime(|| async move { scout::make::make(args, config).await.map(|_| ()) })
        }
        Command::Admin { action } => {
            let (phone, role) = match action {
                AdminAction::Grant { phone } => (phone, "admin"),
                AdminAction::Revoke { phone } => (phone, "user"),
            };
            let config = match load(cli.config, BTreeMap::new()) {
                Ok(c) => c,
                Err(e) => return fail(2, e),
            };
            runtime(|| async move {
                scout_identity::admin::set_role(&config, &phone, role).await?;
                println!("{phone}: role {role} (from their next login or token refresh)");
                Ok(())
            })
        }
        Command::Migrate => {
            let config = match load(cli.config, BTreeMap::new()) {
                Ok(c) => c,
                Err(e) => return fail(2, e),
            };
            runtime(|| async move {
                use scout_common::adapters::db::open_for_service;
                for (name, url, migrations) in [
                    (
                        "identity",
                        &config.identity.database_url,
                        scout_identity::MIGRATIONS,
                    ),
                    ("tasks", &config.tasks.database_url, scout_tasks::MIGRATIONS),
                    (
                        "publish",
                        &config.publish.database_url,
                        scout_publish::MIGRATIONS,
                    ),
                ] {
                    open_for_service(name, url, migrations).await?;
                    println!("{name}: database schema is current");
                }
                Ok(())
            })
        }
        Command::Openapi => plain(|| {
            print!("{}", scout_edge::openapi_document()?);
            Ok(())
        }),
        Command::Capabilities { edge, data_dir } => {
            runtime(|| async move { capabilities(&edge, &data_dir).await })
        }
        Command::Probe { file } => plain(|| media_cli::probe(&file)),
        Command::GpuBench {
            files,
            sample_every,
            require_psnr,
            extract_copies,
        } => plain(|| media_cli::gpu_bench(&files, sample_every, require_psnr, extract_copies)),
        Command::Frames {
            file,
            every,
            out,
            max_dimension,
        } => match load(cli.config, BTreeMap::new()) {
            Ok(config) => plain(|| {
                media_cli::gpu_mode(&config);
                media_cli::frames(&file, every, &out, max_dimension)
            }),
            Err(e) => fail(2, e),
        },
        Command::Say { text, voice, out } => match load(cli.config, BTreeMap::new()) {
            Ok(config) => {
                runtime(|| async move { media_cli::say(&config, &text, &voice, &out).await })
            }
            Err(e) => fail(2, e),
        },
        Command::Compose { timeline, out } => match load(cli.config, BTreeMap::new()) {
            Ok(config) => {
                runtime(|| async move { media_cli::compose(&config, &timeline, &out).await })
            }
            Err(e) => fail(2, e),
        },
        Command::Config { env } => {
            if env {
                for (var, key) in scout_common::config::Config::env_variables() {
                    println!("{var:<40} {key}");
                }
                return ExitCode::SUCCESS;
            }
            match load(cli.config, BTreeMap::new())
                .and_then(|c| toml::to_string_pretty(&c).map_err(|e| e.to_string()))
            {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(2, e),
            }
        }
    }
}

fn plain(f: impl FnOnce() -> anyhow::Result<()>) -> ExitCode {
    match f() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(1, format!("{e:#}")),
    }
}

fn load(
    path: Option<PathBuf>,
    overrides: BTreeMap<String, String>,
) -> Result<scout_common::config::Config, String> {
    let mut env: BTreeMap<String, String> = std::env::vars().collect();
    env.extend(overrides);
    scout_common::config::Config::load_from(path.as_deref(), &env).map_err(|e| e.to_string())
}

fn fail(code: u8, msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(code)
}

fn runtime<F, Fut>(f: F) -> ExitCode
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(1, format!("cannot start the runtime: {e}")),
    };
    match rt.block_on(f()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(1, format!("{e:#}")),
    }
}

async fn capabilities(edge: &str, data_dir: &std::path::Path) -> anyhow::Result<()> {
    use scout_proto::scout::render::v1::CapabilitiesRequest;
    use scout_proto::scout::render::v1::render_service_client::RenderServiceClient;
    let session = scout::client::load(&scout::client::session_path(data_dir))?;
    let channel = scout_common::grpc::channel(edge)?;
    let mut client = RenderServiceClient::new(channel);
    let mut req = scout::client::authorized(&session, CapabilitiesRequest {})?;
    req.set_timeout(std::time::Duration::from_secs(10));
    let caps = client
        .capabilities(req)
        .await
        .map_err(|s| anyhow::anyhow!("{edge}: {}", scout_common::ApiError::from_status(&s)))?
        .into_inner();
    let json = scout_common::proto_json::to_json("scout.render.v1.CapabilitiesResponse", &caps)
        .map_err(anyhow::Error::msg)?;
    println!("{}", serde_json::to_string_pretty(&json)?);
    Ok(())
}
