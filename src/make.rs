//! `scout make`: the main job from the command line. Clips and shop info in,
//! a finished 1080x1920 video out — through the same public API a phone
//! uses: log in, create the task, upload each clip to its presigned URL,
//! confirm, analyse, compose, download. Starts the mesh on embedded
//! defaults unless `--edge` names a running one.

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use scout_common::ApiError;
use scout_proto::scout::publish::v1::GetPublishAssistRequest;
use scout_proto::scout::publish::v1::publish_service_client::PublishServiceClient;
use scout_proto::scout::tasks::v1::tasks_service_client::TasksServiceClient;
use scout_proto::scout::tasks::v1::{
    ConfirmVideoRequest, CreateTaskRequest, CreateVideoUploadUrlRequest, GetDownloadUrlRequest,
    GetOutputRequest, GetScriptRequest, GetTaskRequest, MontageInput, OutputVideo, Progress,
    Recipe, StartAnalysisRequest, StartComposeRequest, TaskStatus, TopicInput, TopicVisuals,
    WatchProgressRequest,
};
use tonic::transport::Channel;

use crate::client::{self, Session};

/// What to make.
#[derive(Debug, Clone)]
pub struct MakeArgs {
    /// shop_review, doc_explainer, topic_short, music_video or ad_creative.
    pub recipe: String,
    /// What a topic short is about.
    pub topic: String,
    /// A topic short's niche.
    pub niche: String,
    /// generated, library or auto (topic_short).
    pub visuals: String,
    /// A montage's images made into moving clips (the render nodes'
    /// generative video model).
    pub animate: bool,
    /// Those clips lip-synced to the track (needs `animate`).
    pub lip_sync: bool,
    /// Shop name (shop_review; the title otherwise).
    pub shop: String,
    /// The backing track (music_video, ad_creative).
    pub track: Option<PathBuf>,
    /// The product's name (ad_creative).
    pub product: String,
    /// The ad's call to action.
    pub cta: String,
    /// A line over the images.
    pub tagline: String,
    /// Video length, seconds; 0 for the default.
    pub seconds: f64,
    /// The slides' accent colour (doc_explainer).
    pub accent: String,
    /// food, beauty, entertainment or other.
    pub shop_type: String,
    /// recommend, review or vlog.
    pub style: String,
    /// Promotion text, used verbatim.
    pub promo: String,
    /// The clips (shop_review) or the product images, in order.
    pub clips: Vec<PathBuf>,
    /// Where the video goes.
    pub out: PathBuf,
    /// A running edge; `None` starts the mesh here.
    pub edge: Option<String>,
    /// Phone to log in with.
    pub phone: String,
    /// SMS code (else read from the local outbox, else asked for).
    pub code: Option<String>,
    /// Voice name.
    pub voice: String,
    /// Subtitle style name, e.g. douyin_hot.
    pub subtitle_style: String,
}

fn enum_value(prefix: &str, name: &str, all: &[&str], what: &str) -> anyhow::Result<i32> {
    let wanted = name.trim().to_ascii_lowercase();
    all.iter()
        .position(|n| *n == wanted)
        .map(|i| i as i32 + 1)
        .ok_or_else(|| anyhow::anyhow!("--{what} {name:?}: one of {} ({prefix})", all.join(", ")))
}

fn content_type(path: &Path) -> anyhow::Result<&'static str> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    Ok(match ext.as_str() {
        "mp4" => "video/mp4",
        "mov" => "video/quicktime",
        "m4v" => "video/x-m4v",
        "3gp" => "video/3gpp",
        "webm" => "video/webm",
        "mkv" => "video/x-matroska",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "md" | "markdown" => "text/markdown",
        "txt" => "text/plain",
        "pdf" => "application/pdf",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        other => bail!(
            "{}: .{other} is not a video file, image or track Scout takes (videos: mp4, mov, m4v, 3gp, webm, mkv; images: jpg, png, webp; tracks: mp3, wav; documents: md, txt, pdf, docx)",
            path.display()
        ),
    })
}

/// The recipe's API value and whether it composes from images and a track.
fn recipe_value(name: &str) -> anyhow::Result<(i32, bool)> {
    match name.trim().to_ascii_lowercase().as_str() {
        "shop_review" => Ok((Recipe::ShopReview as i32, false)),
        "music_video" => Ok((Recipe::MusicVideo as i32, true)),
        "ad_creative" => Ok((Recipe::AdCreative as i32, true)),
        "doc_explainer" => Ok((Recipe::DocExplainer as i32, false)),
        "topic_short" => Ok((Recipe::TopicShort as i32, false)),
        other => {
            bail!(
                "--recipe {other:?}: one of shop_review, doc_explainer, topic_short, music_video, ad_creative"
            )
        }
    }
}

/// A topic short's `--visuals`.
fn visuals_value(name: &str) -> anyhow::Result<TopicVisuals> {
    match name.trim().to_ascii_lowercase().as_str() {
        "" | "auto" => Ok(TopicVisuals::Unspecified),
        "generated" => Ok(TopicVisuals::Generated),
        "library" => Ok(TopicVisuals::Library),
        other => bail!("--visuals {other:?}: one of auto, generated, library"),
    }
}

fn api(e: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{}", ApiError::from_status(&e))
}

fn authorized<T>(s: &Session, m: T) -> anyhow::Result<tonic::Request<T>> {
    client::authorized(s, m)
}

/// A one-line progress display: redrawn in place on a terminal, a line
/// per change otherwise.
struct Bar {
    tty: bool,
    last: String,
}

impl Bar {
    fn new() -> Self {
        Self {
            tty: std::io::stderr().is_terminal(),
            last: String::new(),
        }
    }

    fn show(&mut self, phase: &str, percent: i32, detail: &str) {
        let filled = (percent.clamp(0, 100) / 5) as usize;
        let line = format!(
            "{phase:<8} [{}{}] {percent:>3}%  {detail}",
            "█".repeat(filled),
            "░".repeat(20 - filled)
        );
        if line == self.last {
            return;
        }
        if self.tty {
            eprint!("\r\x1b[2K{line}");
        } else {
            eprintln!("{line}");
        }
        let _ = std::io::stderr().flush();
        self.last = line;
    }

    fn done(&mut self) {
        if self.tty && !self.last.is_empty() {
            eprintln!();
        }
        self.last.clear();
    }
}

/// When each phase began, for the closing timing line.
#[derive(Debug, Default)]
struct Marks {
    script: Option<Instant>,
    video: Option<Instant>,
}

impl Marks {
    fn see(&mut self, p: &Progress) {
        let step = p
            .details
            .as_ref()
            .map(|d| d.current_step.as_str())
            .unwrap_or("");
        if self.script.is_none() && (p.phase == "script" || step == "脚本生成") {
            self.script = Some(Instant::now());
        }
        if self.video.is_none() && p.phase == "compose" && step != "语音合成" && !step.is_empty()
        {
            self.video = Some(Instant::now());
        }
    }
}

/// Runs the main job; returns the output path.
pub async fn make(args: MakeArgs, config: scout_common::config::Config) -> anyhow::Result<PathBuf> {
    let (recipe, montage) = recipe_value(&args.recipe)?;
    let topic = recipe == Recipe::TopicShort as i32;
    if topic && args.topic.trim().is_empty() {
        bail!(
            "--recipe topic_short needs a topic: scout make --recipe topic_short --topic 在家做拿铁 -o out.mp4"
        );
    }
    if !topic && !args.topic.trim().is_empty() {
        bail!("--topic is for --recipe topic_short");
    }
    if args.animate && !montage {
        bail!("--animate is for --recipe music_video or ad_creative");
    }
    if args.lip_sync && !args.animate {
        bail!("--lip-sync needs --animate: the images must move before they can sing");
    }
    if args.clips.is_empty() && !topic {
        bail!("give at least one clip: scout make --shop NAME clip1.mp4 … -o out.mp4");
    }
    visuals_value(&args.visuals)?;
    if montage && args.track.is_none() {
        bail!(
            "--recipe {} needs a backing track: --track song.mp3",
            args.recipe
        );
    }
    let document = args.recipe.trim().eq_ignore_ascii_case("doc_explainer");
    for c in &args.clips {
        if !c.is_file() {
            bail!("{}: no such file", c.display());
        }
        let ct = content_type(c)?;
        let (fits, what) = if montage {
            (ct.starts_with("image/"), "an image (jpg, png, webp)")
        } else if document {
            (
                ct.starts_with("text/") || ct.starts_with("application/"),
                "a document (md, txt, pdf, docx)",
            )
        } else {
            (
                ct.starts_with("video/"),
                "a video file Scout takes (mp4, mov, m4v, 3gp, webm, mkv)",
            )
        };
        if !fits {
            bail!(
                "{}: is not {what} for --recipe {}",
                c.display(),
                args.recipe
            );
        }
    }
    if let Some(track) = &args.track {
        if !track.is_file() {
            bail!("{}: no such file", track.display());
        }
        if !content_type(track)?.starts_with("audio/") {
            bail!("{}: --track takes an mp3 or wav", track.display());
        }
    }
    if document && args.clips.len() != 1 {
        bail!(
            "--recipe doc_explainer explains one document: scout make --recipe doc_explainer notes.md -o out.mp4"
        );
    }
    if !montage && !document && !topic && args.shop.trim().is_empty() {
        bail!("give the shop's name: scout make --shop NAME clip1.mp4 … -o out.mp4");
    }
    let shop_type = enum_value(
        "shop type",
        &args.shop_type,
        &["food", "beauty", "entertainment", "other"],
        "type",
    )?;
    let style = enum_value(
        "video style",
        &args.style,
        &["recommend", "review", "vlog"],
        "style",
    )?;
    let subtitle_style = enum_value(
        "subtitle style",
        &args.subtitle_style,
        &[
            "simple_white",
            "vibrant_yellow",
            "xiaohongshu",
            "douyin_hot",
            "neon",
        ],
        "subtitle-style",
    )?;

    let data_dir = config.data_dir.clone();
    let outbox = config.sms.outbox_path(&data_dir);
    let (mesh, edge) = match &args.edge {
        Some(url) => (None, url.trim_end_matches('/').to_string()),
        None => {
            eprintln!(
                "starting Scout on embedded defaults (data in {})",
                data_dir.display()
            );
            let mut config = config;
            config.edge.addr = "127.0.0.1:0".parse()?;
            // The operator's own machine, the operator's own videos.
            config.quotas.enabled = false;
            let mesh = crate::mesh::Mesh::start(config).await?;
            let url = mesh.edge_url();
            (Some(mesh), url)
        }
    };
    let result = run(&args, &edge, &outbox, shop_type, style, subtitle_style).await;
    if let Some(m) = mesh {
        m.shutdown().await?;
    }
    result
}

async fn run(
    args: &MakeArgs,
    edge: &str,
    outbox: &Path,
    shop_type: i32,
    style: i32,
    subtitle_style: i32,
) -> anyhow::Result<PathBuf> {
    let started = Instant::now();
    let session = client::login(edge, &args.phone, args.code.clone(), outbox).await?;
    eprintln!(
        "logged in as {} (user {})",
        session.nickname, session.user_id
    );
    let channel = scout_common::grpc::channel(edge)?;
    let mut tasks = TasksServiceClient::new(channel.clone());
    let mut publish = PublishServiceClient::new(channel.clone());
    let (recipe, montage) = recipe_value(&args.recipe)?;
    let task = tasks
        .create_task(authorized(
            &session,
            CreateTaskRequest {
                shop_name: args.shop.clone(),
                shop_type: if montage
                    || recipe == Recipe::DocExplainer as i32
                    || recipe == Recipe::TopicShort as i32
                {
                    0
                } else {
                    shop_type
                },
                accent: args.accent.clone(),
                promotion_text: args.promo.clone(),
                video_style: style,
                recipe,
                montage: montage.then(|| MontageInput {
                    product_name: args.product.clone(),
                    call_to_action: args.cta.clone(),
                    tagline: args.tagline.clone(),
                    target_seconds: args.seconds,
                    animate: args.animate,
                    lip_sync: args.lip_sync,
                }),
                topic: (recipe == Recipe::TopicShort as i32).then(|| TopicInput {
                    topic: args.topic.clone(),
                    niche: args.niche.clone(),
                    target_seconds: args.seconds,
                    visuals: visuals_value(&args.visuals).unwrap_or_default() as i32,
                }),
            },
        )?)
        .await
        .map_err(api)?
        .into_inner()
        .task
        .context("the edge answered no task")?;
    let title = task
        .shop
        .as_ref()
        .map(|s| s.name.clone())
        .unwrap_or_default();
    eprintln!("task {} ({}) created for {title}", task.id, args.recipe);

    // Upload: presigned PUT per clip, then confirm.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    let mut bar = Bar::new();
    let mut marks = Marks::default();
    let upload_start = Instant::now();
    let files: Vec<&PathBuf> = args.clips.iter().chain(&args.track).collect();
    for (i, path) in files.iter().enumerate() {
        let size = std::fs::metadata(path)?.len();
        let ct = content_type(path)?;
        let up = tasks
            .create_video_upload_url(authorized(
                &session,
                CreateVideoUploadUrlRequest {
                    task_id: task.id,
                    filename: path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    file_size: size as i64,
                    content_type: ct.into(),
                },
            )?)
            .await
            .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), ApiError::from_status(&e)))?
            .into_inner();
        let file = tokio::fs::File::open(path).await?;
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(file));
        let mut put = http
            .put(&up.upload_url)
            .body(body)
            .header("content-length", size);
        for (k, v) in &up.required_headers {
            put = put.header(k, v);
        }
        let resp = put
            .send()
            .await
            .with_context(|| format!("uploading {}", path.display()))?;
        if !resp.status().is_success() {
            bail!("uploading {}: HTTP {}", path.display(), resp.status());
        }
        tasks
            .confirm_video(authorized(
                &session,
                ConfirmVideoRequest {
                    task_id: task.id,
                    oss_key: up.oss_key,
                    original_filename: path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                },
            )?)
            .await
            .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), ApiError::from_status(&e)))?;
        bar.show(
            "upload",
            ((i + 1) * 100 / files.len()) as i32,
            &format!("{} of {} files", i + 1, files.len()),
        );
    }
    bar.done();
    if montage {
        return compose_montage(
            args,
            task.id,
            &session,
            &mut tasks,
            &http,
            started,
            upload_start,
        )
        .await;
    }

    // Analysis and script.
    let analysis_start = Instant::now();
    tasks
        .start_analysis(authorized(
            &session,
            StartAnalysisRequest { task_id: task.id },
        )?)
        .await
        .map_err(api)?;
    watch(
        &mut tasks,
        &session,
        task.id,
        TaskStatus::ScriptReady,
        &mut bar,
        &mut marks,
    )
    .await?;
    let script_end = Instant::now();
    let script = tasks
        .get_script(authorized(&session, GetScriptRequest { task_id: task.id })?)
        .await
        .map_err(api)?
        .into_inner()
        .script
        .context("no script")?;
    eprintln!(
        "script: {} paragraphs, about {:.0} s",
        script.paragraphs.len(),
        script.total_duration
    );
    for p in &script.paragraphs {
        eprintln!("  [{}] {}", p.section, p.text);
    }

    // Compose.
    let compose_start = Instant::now();
    tasks
        .start_compose(authorized(
            &session,
            StartComposeRequest {
                task_id: task.id,
                voice_type: args.voice.clone(),
                voice_sample_id: None,
                voice_speed: Some(1.0),
                subtitle_enabled: Some(true),
                subtitle_style,
            },
        )?)
        .await
        .map_err(api)?;
    watch(
        &mut tasks,
        &session,
        task.id,
        TaskStatus::Completed,
        &mut bar,
        &mut marks,
    )
    .await?;
    let compose_end = Instant::now();

    let (size, video) = download(&mut tasks, &session, &http, task.id, &args.out).await?;
    let done = Instant::now();
    let secs = |a: Instant, b: Instant| b.saturating_duration_since(a).as_secs_f64();
    let script_start = marks.script.unwrap_or(script_end).max(analysis_start);
    let video_start = marks.video.unwrap_or(compose_start).max(compose_start);
    eprintln!(
        "phase-seconds: upload={:.1} analysis={:.1} script={:.1} voice={:.1} compose={:.1} download={:.1} total={:.1}",
        secs(upload_start, analysis_start),
        secs(analysis_start, script_start),
        secs(script_start, script_end),
        secs(compose_start, video_start),
        secs(video_start, compose_end),
        secs(compose_end, done),
        secs(started, done),
    );
    println!(
        "{}  {}x{}, {:.1} s, {:.1} MB  (task {}, {:.0} s end to end)",
        args.out.display(),
        video.width,
        video.height,
        video.duration_seconds,
        size as f64 / 1e6,
        task.id,
        started.elapsed().as_secs_f64()
    );

    // Topics and titles for posting it.
    match publish
        .get_publish_assist(authorized(
            &session,
            GetPublishAssistRequest { task_id: task.id },
        )?)
        .await
    {
        Ok(r) => {
            let a = r.into_inner().assist.unwrap_or_default();
            println!("topics: {}", a.topics.join(" "));
            println!("titles:");
            for (i, t) in a.titles.iter().enumerate() {
                println!("  {}. {t}", i + 1);
            }
        }
        Err(e) => eprintln!(
            "warning: no topics or titles: {}",
            ApiError::from_status(&e)
        ),
    }
    Ok(args.out.clone())
}

/// A music video or ad creative: composed straight from its uploads, then
/// downloaded.
async fn compose_montage(
    args: &MakeArgs,
    task: i64,
    session: &Session,
    tasks: &mut TasksServiceClient<Channel>,
    http: &reqwest::Client,
    started: Instant,
    upload_start: Instant,
) -> anyhow::Result<PathBuf> {
    let (mut bar, mut marks) = (Bar::new(), Marks::default());
    let compose_start = Instant::now();
    tasks
        .start_compose(authorized(
            session,
            StartComposeRequest {
                task_id: task,
                subtitle_enabled: Some(!args.tagline.trim().is_empty()),
                ..StartComposeRequest::default()
            },
        )?)
        .await
        .map_err(api)?;
    watch(
        tasks,
        session,
        task,
        TaskStatus::Completed,
        &mut bar,
        &mut marks,
    )
    .await?;
    let compose_end = Instant::now();
    let (bytes, video) = download(tasks, session, http, task, &args.out).await?;
    let secs = |a: Instant, b: Instant| b.saturating_duration_since(a).as_secs_f64();
    eprintln!(
        "phase-seconds: upload={:.1} compose={:.1} download={:.1} total={:.1}",
        secs(upload_start, compose_start),
        secs(compose_start, compose_end),
        compose_end.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64(),
    );
    println!(
        "{}  {}x{}, {:.1} s, {:.1} MB  (task {task}, {} , {:.0} s end to end)",
        args.out.display(),
        video.width,
        video.height,
        video.duration_seconds,
        bytes as f64 / 1e6,
        args.recipe,
        started.elapsed().as_secs_f64()
    );
    Ok(args.out.clone())
}

/// Downloads a completed task's video to `out`: its size and description.
async fn download(
    tasks: &mut TasksServiceClient<Channel>,
    session: &Session,
    http: &reqwest::Client,
    task_id: i64,
    out: &Path,
) -> anyhow::Result<(usize, OutputVideo)> {
    let url = tasks
        .get_download_url(authorized(session, GetDownloadUrlRequest { task_id })?)
        .await
        .map_err(api)?
        .into_inner()
        .url;
    let bytes = http
        .get(&url)
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(out, &bytes).with_context(|| format!("writing {}", out.display()))?;
    let output = tasks
        .get_output(authorized(session, GetOutputRequest { task_id })?)
        .await
        .map_err(api)?
        .into_inner();
    Ok((bytes.len(), output.video.unwrap_or_default()))
}

/// Streams progress until the task reaches `until` (or fails).
async fn watch(
    tasks: &mut TasksServiceClient<Channel>,
    session: &Session,
    task_id: i64,
    until: TaskStatus,
    bar: &mut Bar,
    marks: &mut Marks,
) -> anyhow::Result<()> {
    loop {
        let mut stream = tasks
            .watch_progress(authorized(session, WatchProgressRequest { task_id })?)
            .await
            .map_err(api)?
            .into_inner();
        while let Some(msg) = stream.message().await.map_err(api)? {
            let Some(p) = msg.progress else { continue };
            marks.see(&p);
            show(bar, &p);
            if p.status == until as i32 {
                bar.done();
                return Ok(());
            }
            if p.status == TaskStatus::Failed as i32 {
                bar.done();
                let f = p.failure.unwrap_or_default();
                bail!("the task failed: {}", f.message);
            }
        }
        // The stream ends at COMPLETED/FAILED or a deadline: check and go on.
        let t = tasks
            .get_task(authorized(session, GetTaskRequest { task_id })?)
            .await
            .map_err(api)?
            .into_inner()
            .task
            .unwrap_or_default();
        if t.status == until as i32 {
            bar.done();
            return Ok(());
        }
    }
}

fn show(bar: &mut Bar, p: &Progress) {
    let d = p.details.clone().unwrap_or_default();
    let detail = if d.videos_total > 0 && p.phase == "frame_analysis" {
        format!(
            "{} ({}/{} clips)",
            d.current_step, d.videos_analyzed, d.videos_total
        )
    } else {
        d.current_step
    };
    let phase = match p.phase.as_str() {
        "frame_analysis" => "analyse",
        "script" => "script",
        "compose" => "compose",
        "done" => "done",
        other => other,
    };
    bar.show(phase, p.progress, &detail);
}
