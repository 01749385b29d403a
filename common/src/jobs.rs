//! At-least-once job processing with delayed retries and a dead-letter
//! topic, on any [`JobBus`].
//!
//! Topics for a job kind `analyze` with prefix `scout.`: the main topic
//! `scout.analyze`, one retry topic per attempt `scout.analyze.retry.1`, …,
//! and `scout.analyze.dlq`. A worker commits a job only once its outcome is
//! durable: handled, or re-published to the next retry topic, or put on the
//! dead-letter topic and reported. A retry pump per retry topic holds each
//! message until its not-before time and moves it back to the main topic.
//! Because every message in one retry topic waits the same delay, they come
//! due in order, so waiting on the head of the topic is enough.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::adapters::bus::{BusError, Delivery, JobBus, Message, Subscription, TopicSpec};
use crate::config::BusConfig;
use crate::error::{ApiError, ErrorCode};
use crate::shutdown::Shutdown;

/// Header: 1-based attempt number of this delivery.
pub const HEADER_ATTEMPT: &str = "scout-attempt";
/// Header: unix milliseconds before which a retry must not run.
pub const HEADER_NOT_BEFORE: &str = "scout-not-before-ms";
/// Header: the error of the previous attempt.
pub const HEADER_LAST_ERROR: &str = "scout-last-error";
/// Header: unix milliseconds when a job was dead-lettered (with the key, it
/// tells one dead letter from a redelivery of the same).
pub const HEADER_DEAD_AT: &str = "scout-dead-at-ms";

/// A kind of job and its retry policy.
#[derive(Debug, Clone)]
pub struct JobKind {
    /// Short name, e.g. `analyze`.
    pub name: String,
    /// Delay before each retry; attempts = delays + 1.
    pub retry_delays: Vec<Duration>,
    /// Topic prefix.
    pub prefix: String,
    /// Partitions of the main topic.
    pub partitions: i32,
    /// The consumer group that works the main topic, without the prefix
    /// (e.g. `render-compose`).
    pub group: String,
}

impl JobKind {
    /// A job kind worked by a group of its own name.
    pub fn new(prefix: &str, name: &str, retry_delays: Vec<Duration>, partitions: i32) -> Self {
        Self {
            name: name.to_string(),
            retry_delays,
            prefix: prefix.to_string(),
            partitions,
            group: name.to_string(),
        }
    }

    /// The same kind, worked by `group`.
    pub fn worked_by(mut self, group: &str) -> Self {
        self.group = group.to_string();
        self
    }

    /// The consumer group that works the main topic (namespaced by the
    /// prefix, so deployments sharing a cluster never rebalance each other).
    pub fn consumer_group(&self) -> String {
        format!("{}{}", self.prefix, self.group)
    }

    /// The consumer group of the pump of retry topic `n`.
    pub fn retry_group(&self, n: usize) -> String {
        format!("{}.retry.{n}", self.consumer_group())
    }

    /// The main topic.
    pub fn topic(&self) -> String {
        format!("{}{}", self.prefix, self.name)
    }

    /// The topic holding attempt `n + 1` (n is 1-based).
    pub fn retry_topic(&self, n: usize) -> String {
        format!("{}{}.retry.{n}", self.prefix, self.name)
    }

    /// The dead-letter topic.
    pub fn dlq_topic(&self) -> String {
        format!("{}{}.dlq", self.prefix, self.name)
    }

    /// Most attempts a job gets.
    pub fn max_attempts(&self) -> u32 {
        self.retry_delays.len() as u32 + 1
    }

    /// Every topic of this kind.
    pub fn topics(&self) -> Vec<TopicSpec> {
        let mut out = vec![TopicSpec {
            name: self.topic(),
            partitions: self.partitions,
        }];
        for n in 1..=self.retry_delays.len() {
            // Retry topics are FIFO by due time: one partition keeps them so.
            out.push(TopicSpec {
                name: self.retry_topic(n),
                partitions: 1,
            });
        }
        out.push(TopicSpec {
            name: self.dlq_topic(),
            partitions: 1,
        });
        out
    }
}

/// The job kinds of the mesh, with the configured retry policies.
#[derive(Debug, Clone)]
pub struct JobKinds {
    /// Analyze jobs (tasks → vision), retried 30/60/120 s by default.
    pub analyze: JobKind,
    /// Compose jobs (tasks → render), retried 60/120 s.
    pub compose: JobKind,
    /// Voice-clone jobs (identity → the clone worker), retried 60/120/300 s.
    pub voice_clone: JobKind,
}

impl JobKinds {
    /// The kinds as the bus config sets them.
    pub fn from_config(bus: &BusConfig) -> Self {
        let kind = |name: &str, delays: &[Duration]| {
            JobKind::new(&bus.topic_prefix, name, delays.to_vec(), bus.partitions)
        };
        Self {
            analyze: kind("analyze", &bus.analyze_retry_delays).worked_by("vision-analyze"),
            compose: kind("compose", &bus.compose_retry_delays).worked_by("render-compose"),
            voice_clone: kind("voice-clone", &bus.clone_retry_delays).worked_by("voice-clone"),
        }
    }

    /// Every kind.
    pub fn all(&self) -> [&JobKind; 3] {
        [&self.analyze, &self.compose, &self.voice_clone]
    }
}

/// A job as a handler sees it.
#[derive(Debug, Clone)]
pub struct Job {
    /// The message key (task id).
    pub key: Option<String>,
    /// The payload.
    pub payload: Bytes,
    /// 1-based attempt number.
    pub attempt: u32,
    /// Most attempts this job gets.
    pub max_attempts: u32,
    /// Error of the previous attempt, if any.
    pub last_error: Option<String>,
}

impl Job {
    /// True on the last attempt.
    pub fn is_last_attempt(&self) -> bool {
        self.attempt >= self.max_attempts
    }
}

/// Why a job attempt failed: whether retrying can help, and the business
/// code of the cause (what tasks records on the task and the user sees).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct JobError {
    /// Worth retrying (a dependency was down, a provider rate-limited us);
    /// false when retrying cannot help (a corrupt clip, a malformed payload).
    pub retryable: bool,
    /// The cause, from the error table.
    pub code: ErrorCode,
    /// What failed, for people.
    pub message: String,
}

impl JobError {
    /// A failure worth retrying later.
    pub fn retryable(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            retryable: true,
            code,
            message: message.into(),
        }
    }

    /// A failure retrying cannot help.
    pub fn permanent(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            retryable: false,
            code,
            message: message.into(),
        }
    }

    /// A failed call to another service (`what` names it): the service's
    /// own code; permanent when the request itself was refused.
    pub fn from_status(s: &tonic::Status, what: &str) -> Self {
        let api = ApiError::from_status(s);
        let message = format!("{what}: {}", s.message());
        match s.code() {
            tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition => {
                Self::permanent(api.code, message)
            }
            _ => Self::retryable(api.code, message),
        }
    }
}

/// What a worker does with jobs.
#[async_trait]
pub trait JobHandler: Send + Sync + 'static {
    /// Handles one job. Must be idempotent: a job can be delivered again.
    async fn handle(&self, job: &Job) -> Result<(), JobError>;

    /// Called when an attempt failed and a retry is scheduled.
    async fn on_retry(&self, _job: &Job, _error: &JobError, _delay: Duration) {}

    /// Called once a job is on the dead-letter topic (retries exhausted or
    /// a permanent error). An error here keeps the job uncommitted, so the
    /// report is retried.
    async fn on_dead_letter(&self, _job: &Job, _error: &JobError) -> Result<(), JobError> {
        Ok(())
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Publishes a new job (attempt 1) on the kind's main topic.
pub async fn enqueue(
    bus: &dyn JobBus,
    kind: &JobKind,
    key: &str,
    payload: Bytes,
) -> Result<(), BusError> {
    let mut m = Message::new(kind.topic(), Some(key.to_string()), payload);
    m.set_header(HEADER_ATTEMPT, "1");
    // The worker's span continues the trace of the request that queued it.
    crate::telemetry::inject_pairs(&mut m.headers);
    bus.publish(m).await
}

/// Creates the kind's topics.
pub async fn ensure_topics(bus: &dyn JobBus, kind: &JobKind) -> Result<(), BusError> {
    bus.ensure_topics(&kind.topics()).await
}

/// Repeats `op` with capped exponential backoff until it succeeds or
/// shutdown fires (then `None`).
async fn persist<T, F, Fut>(what: &str, shutdown: &Shutdown, mut op: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let mut delay = Duration::from_millis(100);
    loop {
        match op().await {
            Ok(v) => return Some(v),
            Err(e) => {
                warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "{what} failed, retrying");
                tokio::select! {
                    _ = shutdown.wait() => return None,
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

async fn subscribe(
    bus: &Arc<dyn JobBus>,
    group: &str,
    topic: &str,
    shutdown: &Shutdown,
) -> Option<Box<dyn Subscription>> {
    let topics = vec![topic.to_string()];
    persist(&format!("subscribe {topic}"), shutdown, || async {
        bus.subscribe(group, &topics)
            .await
            .map_err(|e| e.to_string())
    })
    .await
}

/// A worker for one job kind together with its retry pumps, in a consumer
/// group namespaced by the topic prefix (so deployments sharing a cluster
/// never rebalance each other). Creates the kind's topics first.
pub struct Consumers {
    stop: Shutdown,
    tasks: Vec<JoinHandle<()>>,
}

impl Consumers {
    /// Starts consuming `kind` with `handler` in the kind's consumer group.
    pub async fn start(
        bus: Arc<dyn JobBus>,
        kind: JobKind,
        handler: Arc<dyn JobHandler>,
    ) -> anyhow::Result<Self> {
        ensure_topics(bus.as_ref(), &kind)
            .await
            .map_err(|e| anyhow::anyhow!("job bus: cannot create the {} topics: {e}", kind.name))?;
        let group = kind.consumer_group();
        let stop = Shutdown::new();
        let mut tasks = vec![spawn_worker(
            bus.clone(),
            kind.clone(),
            group.clone(),
            handler,
            stop.clone(),
        )];
        tasks.extend(spawn_retry_pumps(bus, kind, stop.clone()));
        Ok(Self { stop, tasks })
    }

    /// Stops taking jobs and waits for the one in hand to finish or be
    /// given back (left uncommitted).
    pub async fn stop(self) {
        self.stop.trigger();
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Runs a worker for `kind` in consumer group `group` until shutdown. Jobs
/// are handled one at a time per worker; run several workers for parallelism.
pub fn spawn_worker(
    bus: Arc<dyn JobBus>,
    kind: JobKind,
    group: String,
    handler: Arc<dyn JobHandler>,
    shutdown: Shutdown,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let Some(mut sub) = subscribe(&bus, &group, &kind.topic(), &shutdown).await else {
            return;
        };
        info!(topic = %kind.topic(), %group, "worker started");
        loop {
            let delivery = tokio::select! {
                _ = shutdown.wait() => break,
                d = sub.next() => d,
            };
            let delivery = match delivery {
                Ok(d) => d,
                Err(e) => {
                    warn!(topic = %kind.topic(), error = %e, "receive failed");
                    tokio::select! {
                        _ = shutdown.wait() => break,
                        _ = tokio::time::sleep(Duration::from_millis(500)) => continue,
                    }
                }
            };
            if !process(&bus, &kind, &handler, sub.as_mut(), delivery, &shutdown).await {
                // Shutdown before the outcome was durable: leave it uncommitted.
                break;
            }
        }
        info!(topic = %kind.topic(), %group, "worker stopped");
    })
}

/// Handles one delivery and commits it once its outcome is durable. Returns
/// false when shutdown interrupted that.
async fn process(
    bus: &Arc<dyn JobBus>,
    kind: &JobKind,
    handler: &Arc<dyn JobHandler>,
    sub: &mut dyn Subscription,
    delivery: Delivery,
    shutdown: &Shutdown,
) -> bool {
    let m = &delivery.message;
    let job = Job {
        key: m.key.clone(),
        payload: m.payload.clone(),
        attempt: m
            .header(HEADER_ATTEMPT)
            .and_then(|a| a.parse().ok())
            .unwrap_or(1)
            .max(1),
        max_attempts: kind.max_attempts(),
        last_error: m.header(HEADER_LAST_ERROR).map(str::to_string),
    };
    let key = job.key.clone().unwrap_or_default();
    // One span per attempt, in the trace of the request that queued the job.
    let span = tracing::info_span!(
        "job",
        service = kind.group.split('-').next().unwrap_or("worker"),
        job = %kind.name,
        key = %key,
        attempt = job.attempt,
    );
    crate::telemetry::continue_from_pairs(&span, &m.headers);
    // The handler runs in its own task so a panic is an error, not a dead worker.
    let outcome = {
        let handler = handler.clone();
        let job = job.clone();
        let run = async move { handler.handle(&job).await };
        match tokio::spawn(tracing::Instrument::instrument(run, span.clone())).await {
            Ok(r) => r,
            Err(e) => Err(JobError::retryable(
                ErrorCode::Internal,
                format!("handler panicked: {e}"),
            )),
        }
    };
    match outcome {
        Ok(()) => {}
        Err(err) if err.retryable && (job.attempt as usize) <= kind.retry_delays.len() => {
            let e = &err.message;
            let delay = kind.retry_delays[job.attempt as usize - 1];
            span.in_scope(|| {
                warn!(job = %kind.name, key = %key, attempt = job.attempt, error = %e, delay_ms = delay.as_millis() as u64, "job failed, will retry");
            });
            let mut retry = Message::new(
                kind.retry_topic(job.attempt as usize),
                job.key.clone(),
                job.payload.clone(),
            );
            retry.set_header(HEADER_ATTEMPT, (job.attempt + 1).to_string());
            retry.set_header(
                HEADER_NOT_BEFORE,
                (now_ms() + delay.as_millis() as u64).to_string(),
            );
            retry.set_header(HEADER_LAST_ERROR, truncate(e, 1000));
            span.in_scope(|| crate::telemetry::inject_pairs(&mut retry.headers));
            let published = persist("publish retry", shutdown, || {
                let retry = retry.clone();
                async move { bus.publish(retry).await.map_err(|e| e.to_string()) }
            })
            .await;
            if published.is_none() {
                return false;
            }
            handler.on_retry(&job, &err, delay).await;
        }
        Err(err) => {
            let e = err.message.clone();
            span.in_scope(|| {
                error!(job = %kind.name, key = %key, attempt = job.attempt, error = %e, "job failed for good, dead-lettering");
            });
            let mut dead = Message::new(kind.dlq_topic(), job.key.clone(), job.payload.clone());
            dead.set_header(HEADER_ATTEMPT, job.attempt.to_string());
            dead.set_header(HEADER_LAST_ERROR, truncate(&e, 1000));
            dead.set_header(HEADER_DEAD_AT, now_ms().to_string());
            let published = persist("publish dead letter", shutdown, || {
                let dead = dead.clone();
                async move { bus.publish(dead).await.map_err(|e| e.to_string()) }
            })
            .await;
            if published.is_none() {
                return false;
            }
            let reported = persist("report dead letter", shutdown, || async {
                handler
                    .on_dead_letter(&job, &err)
                    .await
                    .map_err(|e| e.to_string())
            })
            .await;
            if reported.is_none() {
                return false;
            }
        }
    }
    commit_durably(sub, &delivery, shutdown).await
}

/// Commits, retrying with backoff: a later commit would implicitly commit
/// this one too, so the worker must not move on until it succeeds.
async fn commit_durably(
    sub: &mut dyn Subscription,
    delivery: &Delivery,
    shutdown: &Shutdown,
) -> bool {
    let mut delay = Duration::from_millis(100);
    loop {
        match sub.commit(delivery).await {
            Ok(()) => return true,
            Err(e) => {
                warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "commit failed, retrying");
                tokio::select! {
                    _ = shutdown.wait() => return false,
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Runs one pump per retry topic of `kind` until shutdown: each holds
/// messages until due, then moves them back to the main topic.
pub fn spawn_retry_pumps(
    bus: Arc<dyn JobBus>,
    kind: JobKind,
    shutdown: Shutdown,
) -> Vec<JoinHandle<()>> {
    (1..=kind.retry_delays.len())
        .map(|n| {
            let bus = bus.clone();
            let kind = kind.clone();
            let group = kind.retry_group(n);
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                let topic = kind.retry_topic(n);
                let Some(mut sub) = subscribe(&bus, &group, &topic, &shutdown).await else {
                    return;
                };
                loop {
                    let d = tokio::select! {
                        _ = shutdown.wait() => break,
                        d = sub.next() => d,
                    };
                    let d = match d {
                        Ok(d) => d,
                        Err(e) => {
                            warn!(%topic, error = %e, "receive failed");
                            tokio::select! {
                                _ = shutdown.wait() => break,
                                _ = tokio::time::sleep(Duration::from_millis(500)) => continue,
                            }
                        }
                    };
                    let due = d
                        .message
                        .header(HEADER_NOT_BEFORE)
                        .and_then(|v| v.parse::<u64>().ok())
                        .unwrap_or(0);
                    let wait = due.saturating_sub(now_ms());
                    if wait > 0 {
                        // One millisecond more: `now_ms` truncates, and a
                        // retry must never run before its delay.
                        tokio::select! {
                            _ = shutdown.wait() => break,
                            _ = tokio::time::sleep(Duration::from_millis(wait + 1)) => {}
                        }
                    }
                    let mut back = d.message.clone();
                    back.topic = kind.topic();
                    let moved = persist("move retry to main topic", &shutdown, || {
                        let back = back.clone();
                        let bus = bus.clone();
                        async move { bus.publish(back).await.map_err(|e| e.to_string()) }
                    })
                    .await;
                    if moved.is_none() {
                        break;
                    }
                    if !commit_durably(sub.as_mut(), &d, &shutdown).await {
                        break;
                    }
                }
            })
        })
        .collect()
}
