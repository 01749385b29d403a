//! One contract, two buses: the in-process log and Kafka (a real
//! Kafka-protocol broker on loopback). Covers produce, consume in a group,
//! commit after handling, redelivery of uncommitted jobs, delayed retry and
//! dead letters.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use scout_common::ErrorCode;
use scout_common::adapters::bus::{JobBus, KafkaBus, MemoryBus, Message, Subscription, TopicSpec};
use scout_common::jobs::{self, Job, JobError, JobHandler, JobKind};
use scout_common::shutdown::Shutdown;
use scout_common::testing;
use tokio::sync::mpsc;

/// Waits for the next delivery, failing the test after `limit`.
async fn next(
    sub: &mut dyn Subscription,
    limit: Duration,
) -> scout_common::adapters::bus::Delivery {
    tokio::time::timeout(limit, sub.next())
        .await
        .expect("no message in time")
        .expect("receive")
}

async fn basics(bus: Arc<dyn JobBus>, prefix: &str, wait: Duration) {
    let topic = format!("{prefix}basics");
    bus.ensure_topics(&[TopicSpec {
        name: topic.clone(),
        partitions: 1,
    }])
    .await
    .expect("topics");
    bus.ensure_topics(&[TopicSpec {
        name: topic.clone(),
        partitions: 1,
    }])
    .await
    .expect("topics are idempotent");

    let mut m = Message::new(
        &topic,
        Some("task-1".into()),
        Bytes::from_static("分析 job 1".as_bytes()),
    );
    m.set_header("scout-attempt", "1");
    bus.publish(m.clone()).await.expect("publish 1");
    bus.publish(Message::new(
        &topic,
        Some("task-2".into()),
        Bytes::from_static(b"job 2"),
    ))
    .await
    .expect("publish 2");

    // Consume in a group; commit only the first.
    let mut a = bus
        .subscribe("workers", std::slice::from_ref(&topic))
        .await
        .expect("subscribe");
    let d1 = next(a.as_mut(), wait).await;
    assert_eq!(d1.message.payload, m.payload);
    assert_eq!(d1.message.key.as_deref(), Some("task-1"));
    assert_eq!(d1.message.header("scout-attempt"), Some("1"));
    a.commit(&d1).await.expect("commit 1");
    let d2 = next(a.as_mut(), wait).await;
    assert_eq!(d2.message.payload, Bytes::from_static(b"job 2"));
    // The worker "crashes" before committing job 2.
    drop(a);

    // The admin view: two messages held; the group is one behind, a group
    // that never consumed is two behind.
    let stats = bus.topic_stats(&topic, "workers").await.expect("stats");
    assert_eq!((stats.messages, stats.lag), (2, 1), "{stats:?}");
    let idle = bus.topic_stats(&topic, "nobody").await.expect("stats");
    assert_eq!((idle.messages, idle.lag), (2, 2), "{idle:?}");

    // Another member of the group gets job 2 again, not job 1.
    let mut b = bus
        .subscribe("workers", std::slice::from_ref(&topic))
        .await
        .expect("resubscribe");
    let again = next(b.as_mut(), wait).await;
    assert_eq!(
        again.message.payload,
        Bytes::from_static(b"job 2"),
        "uncommitted job not redelivered"
    );
    b.commit(&again).await.expect("commit 2");

    // A different group sees every message from the start.
    let mut other = bus
        .subscribe("auditors", std::slice::from_ref(&topic))
        .await
        .expect("subscribe other group");
    assert_eq!(next(other.as_mut(), wait).await.message.payload, m.payload);

    // After both are committed, a new member gets only new messages.
    drop(b);
    bus.publish(Message::new(
        &topic,
        Some("task-3".into()),
        Bytes::from_static(b"job 3"),
    ))
    .await
    .expect("publish 3");
    let mut c = bus
        .subscribe("workers", std::slice::from_ref(&topic))
        .await
        .expect("subscribe again");
    assert_eq!(
        next(c.as_mut(), wait).await.message.payload,
        Bytes::from_static(b"job 3")
    );
}

/// Fails the first `fail_times` attempts (or always), recording each attempt.
struct Flaky {
    fail_times: u32,
    permanent: bool,
    attempts: AtomicU32,
    seen: mpsc::UnboundedSender<(u32, Instant)>,
    dead: mpsc::UnboundedSender<String>,
}

#[async_trait]
impl JobHandler for Flaky {
    async fn handle(&self, job: &Job) -> Result<(), JobError> {
        let n = self.attempts.fetch_add(1, Ordering::SeqCst) + 1;
        let _ = self.seen.send((job.attempt, Instant::now()));
        if self.permanent {
            return Err(JobError::permanent(
                ErrorCode::InvalidMedia,
                "clip is corrupt",
            ));
        }
        if n <= self.fail_times {
            return Err(JobError::retryable(
                ErrorCode::ProviderRateLimited,
                format!("provider busy (attempt {n})"),
            ));
        }
        Ok(())
    }

    async fn on_dead_letter(&self, _job: &Job, error: &JobError) -> Result<(), JobError> {
        let _ = self.dead.send(error.message.clone());
        Ok(())
    }
}

/// One job kind with a worker, its retry pumps and one enqueued job.
struct Scenario {
    kind: JobKind,
    handler: Arc<Flaky>,
    seen: mpsc::UnboundedReceiver<(u32, Instant)>,
    dead: mpsc::UnboundedReceiver<String>,
    shutdown: Shutdown,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Scenario {
    async fn start(
        bus: &Arc<dyn JobBus>,
        kind: JobKind,
        fail_times: u32,
        permanent: bool,
        key: &str,
    ) -> Self {
        jobs::ensure_topics(bus.as_ref(), &kind)
            .await
            .expect("topics");
        let (seen_tx, seen) = mpsc::unbounded_channel();
        let (dead_tx, dead) = mpsc::unbounded_channel();
        let handler = Arc::new(Flaky {
            fail_times,
            permanent,
            attempts: AtomicU32::new(0),
            seen: seen_tx,
            dead: dead_tx,
        });
        let shutdown = Shutdown::new();
        let group = format!("{}-workers", kind.name);
        let kind = kind.worked_by(&group);
        let mut tasks = vec![jobs::spawn_worker(
            bus.clone(),
            kind.clone(),
            kind.consumer_group(),
            handler.clone(),
            shutdown.clone(),
        )];
        tasks.extend(jobs::spawn_retry_pumps(
            bus.clone(),
            kind.clone(),
            shutdown.clone(),
        ));
        let payload = Bytes::from(format!("{} job {key}", kind.name));
        jobs::enqueue(bus.as_ref(), &kind, key, payload)
            .await
            .expect("enqueue");
        Self {
            kind,
            handler,
            seen,
            dead,
            shutdown,
            tasks,
        }
    }

    async fn next_attempt(&mut self, limit: Duration) -> (u32, Instant) {
        tokio::time::timeout(limit, self.seen.recv())
            .await
            .expect("attempt in time")
            .expect("channel")
    }

    async fn dead_letter(&mut self, limit: Duration) -> String {
        tokio::time::timeout(limit, self.dead.recv())
            .await
            .expect("dead letter in time")
            .expect("channel")
    }

    async fn stop(self) {
        self.shutdown.trigger();
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

async fn retries(bus: Arc<dyn JobBus>, prefix: &str, wait: Duration) {
    let delays = vec![Duration::from_millis(300), Duration::from_millis(600)];
    let limit = wait * 3 + Duration::from_secs(5);

    // Fails twice, then succeeds on the third attempt, each retry no earlier than its delay.
    let mut s = Scenario::start(
        &bus,
        JobKind::new(prefix, "analyze", delays.clone(), 1),
        2,
        false,
        "42",
    )
    .await;
    let (a1, t1) = s.next_attempt(limit).await;
    let (a2, t2) = s.next_attempt(limit).await;
    let (a3, t3) = s.next_attempt(limit).await;
    assert_eq!((a1, a2, a3), (1, 2, 3));
    assert!(
        t2 - t1 >= delays[0],
        "retry 1 ran after {:?}, before its delay",
        t2 - t1
    );
    assert!(
        t3 - t2 >= delays[1],
        "retry 2 ran after {:?}, before its delay",
        t3 - t2
    );
    // Success: nothing dead-lettered, no fourth attempt.
    assert!(
        tokio::time::timeout(Duration::from_millis(800), s.seen.recv())
            .await
            .is_err(),
        "job ran again after success"
    );
    assert!(s.dead.try_recv().is_err());
    s.stop().await;

    // Always failing: three attempts, then the dead-letter topic, and the handler is told.
    let mut s = Scenario::start(
        &bus,
        JobKind::new(prefix, "compose", delays.clone(), 1),
        u32::MAX,
        false,
        "7",
    )
    .await;
    let error = s.dead_letter(limit).await;
    assert!(error.contains("provider busy (attempt 3)"), "{error}");
    assert_eq!(s.handler.attempts.load(Ordering::SeqCst), 3);
    let mut attempts = Vec::new();
    while let Ok((a, _)) = s.seen.try_recv() {
        attempts.push(a);
    }
    assert_eq!(attempts, vec![1, 2, 3]);
    let mut dlq = bus
        .subscribe("dlq-reader", &[s.kind.dlq_topic()])
        .await
        .expect("subscribe dlq");
    let d = next(dlq.as_mut(), wait).await;
    assert_eq!(d.message.payload, Bytes::from_static(b"compose job 7"));
    assert_eq!(d.message.key.as_deref(), Some("7"));
    assert_eq!(d.message.header(jobs::HEADER_ATTEMPT), Some("3"));
    assert!(
        d.message
            .header(jobs::HEADER_LAST_ERROR)
            .is_some_and(|e| e.contains("provider busy"))
    );
    s.stop().await;

    // A permanent error skips the retries.
    let mut s = Scenario::start(&bus, JobKind::new(prefix, "clone", delays, 1), 0, true, "9").await;
    assert_eq!(s.dead_letter(limit).await, "clip is corrupt");
    assert_eq!(s.handler.attempts.load(Ordering::SeqCst), 1);
    s.stop().await;
}

#[tokio::test]
async fn memory_bus_meets_the_contract() {
    let bus: Arc<dyn JobBus> = Arc::new(MemoryBus::new());
    basics(bus.clone(), "m.", Duration::from_secs(2)).await;
    retries(bus, "m.", Duration::from_secs(2)).await;
}

#[tokio::test]
async fn kafka_bus_meets_the_contract() {
    let config = testing::kafka_config();
    let bus = KafkaBus::connect(&config)
        .await
        .unwrap_or_else(|e| panic!("Kafka at {}: {e}", config.brokers));
    let bus: Arc<dyn JobBus> = Arc::new(bus);
    // Group joins and rebalances take a few seconds on a real broker.
    basics(bus.clone(), &config.topic_prefix, Duration::from_secs(30)).await;
    retries(bus, &config.topic_prefix, Duration::from_secs(30)).await;
}
