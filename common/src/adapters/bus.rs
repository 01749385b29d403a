//! The job bus: topics of keyed messages, consumed in groups, committed
//! after handling.
//!
//! Production uses Kafka (rdkafka). The embedded default is an in-process
//! log with the same semantics: each topic is an append-only log, a group
//! remembers its committed offset per topic, one member of a group owns a
//! topic at a time, and a member that goes away without committing leaves
//! its uncommitted messages to be redelivered to the next member. Retry and
//! dead-letter handling is built on top of this trait, once, in
//! [`crate::jobs`], so both backends share it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use rdkafka::ClientConfig;
use rdkafka::Message as _;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaErrorCode;
use tokio::sync::Notify;

use crate::config::{BusBackend, BusConfig};

/// A bus failure.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The broker could not be reached or did not acknowledge in time.
    #[error("job bus unavailable: {0}")]
    Unavailable(String),
    /// Anything else.
    #[error("job bus error: {0}")]
    Other(String),
}

/// A message to publish or a delivered one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Topic name (with the configured prefix).
    pub topic: String,
    /// Partitioning key (the task id for task jobs).
    pub key: Option<String>,
    /// Payload (a protobuf from `scout.jobs.v1`).
    pub payload: Bytes,
    /// Headers (retry bookkeeping).
    pub headers: Vec<(String, String)>,
}

impl Message {
    /// A message without headers.
    pub fn new(topic: impl Into<String>, key: Option<String>, payload: impl Into<Bytes>) -> Self {
        Self {
            topic: topic.into(),
            key,
            payload: payload.into(),
            headers: Vec::new(),
        }
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Sets (replaces) a header.
    pub fn set_header(&mut self, name: &str, value: impl Into<String>) {
        self.headers.retain(|(k, _)| k != name);
        self.headers.push((name.to_string(), value.into()));
    }
}

/// A delivered message and where it sits, for committing.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The message.
    pub message: Message,
    /// Partition.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
}

/// A topic to create.
#[derive(Debug, Clone)]
pub struct TopicSpec {
    /// Full topic name.
    pub name: String,
    /// Partitions.
    pub partitions: i32,
}

/// Where a topic stands for one consumer group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TopicStats {
    /// Messages the broker holds (over every partition).
    pub messages: i64,
    /// Of those, how many the group has not committed yet (its lag).
    pub lag: i64,
}

/// A consumer-group membership.
#[async_trait]
pub trait Subscription: Send {
    /// The next message, waiting for one.
    async fn next(&mut self) -> Result<Delivery, BusError>;
    /// Marks this delivery (and everything before it in its partition) as
    /// handled. Until then, it is redelivered if this member goes away.
    async fn commit(&mut self, delivery: &Delivery) -> Result<(), BusError>;
}

/// The job bus.
#[async_trait]
pub trait JobBus: Send + Sync {
    /// Creates topics that do not exist yet.
    async fn ensure_topics(&self, topics: &[TopicSpec]) -> Result<(), BusError>;
    /// Publishes a message; returns once the broker has it durably.
    async fn publish(&self, message: Message) -> Result<(), BusError>;
    /// Joins `group` on `topics`.
    async fn subscribe(
        &self,
        group: &str,
        topics: &[String],
    ) -> Result<Box<dyn Subscription>, BusError>;
    /// Where `topic` stands for `group` (without joining the group).
    async fn topic_stats(&self, topic: &str, group: &str) -> Result<TopicStats, BusError>;
    /// Checks the bus answers.
    async fn ping(&self) -> Result<(), BusError>;
    /// True when published messages outlive this process (a broker); false
    /// for the in-process queue, whose owner must re-dispatch unfinished
    /// jobs from its database at start.
    fn is_durable(&self) -> bool;
}

/// Builds the configured bus.
pub async fn from_config(config: &BusConfig) -> Result<Arc<dyn JobBus>, BusError> {
    Ok(match config.backend {
        BusBackend::Memory => Arc::new(MemoryBus::new()),
        BusBackend::Kafka => Arc::new(KafkaBus::connect(config).await?),
    })
}

// ---------------------------------------------------------------------------
// In-process
// ---------------------------------------------------------------------------

#[derive(Default)]
struct MemoryState {
    topics: HashMap<String, Vec<Message>>,
    groups: HashMap<String, GroupState>,
    next_member: u64,
}

#[derive(Default)]
struct GroupState {
    /// Next offset to deliver after a rebalance, per topic.
    committed: HashMap<String, i64>,
    /// The member that owns each topic (one partition per topic here).
    owners: HashMap<String, u64>,
}

/// The in-process bus. Cheap to clone; clones share the log.
#[derive(Clone, Default)]
pub struct MemoryBus {
    state: Arc<Mutex<MemoryState>>,
    changed: Arc<Notify>,
}

impl MemoryBus {
    /// An empty bus.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, MemoryState>, BusError> {
        self.state
            .lock()
            .map_err(|_| BusError::Other("bus lock poisoned".into()))
    }

    /// Messages in a topic (for tests and diagnostics).
    pub fn topic_len(&self, topic: &str) -> usize {
        self.lock()
            .map(|s| s.topics.get(topic).map_or(0, Vec::len))
            .unwrap_or(0)
    }
}

#[async_trait]
impl JobBus for MemoryBus {
    async fn ensure_topics(&self, topics: &[TopicSpec]) -> Result<(), BusError> {
        let mut s = self.lock()?;
        for t in topics {
            s.topics.entry(t.name.clone()).or_default();
        }
        Ok(())
    }

    async fn publish(&self, message: Message) -> Result<(), BusError> {
        self.lock()?
            .topics
            .entry(message.topic.clone())
            .or_default()
            .push(message);
        self.changed.notify_waiters();
        Ok(())
    }

    async fn subscribe(
        &self,
        group: &str,
        topics: &[String],
    ) -> Result<Box<dyn Subscription>, BusError> {
        let member = {
            let mut s = self.lock()?;
            s.next_member += 1;
            s.groups.entry(group.to_string()).or_default();
            for t in topics {
                s.topics.entry(t.clone()).or_default();
            }
            s.next_member
        };
        Ok(Box::new(MemorySubscription {
            bus: self.clone(),
            group: group.to_string(),
            topics: topics.to_vec(),
            member,
            cursors: HashMap::new(),
            next_topic: 0,
        }))
    }

    fn is_durable(&self) -> bool {
        false
    }

    async fn topic_stats(&self, topic: &str, group: &str) -> Result<TopicStats, BusError> {
        let s = self.lock()?;
        let messages = s.topics.get(topic).map_or(0, Vec::len) as i64;
        let committed = s
            .groups
            .get(group)
            .and_then(|g| g.committed.get(topic))
            .copied()
            .unwrap_or(0);
        Ok(TopicStats {
            messages,
            lag: (messages - committed).max(0),
        })
    }

    async fn ping(&self) -> Result<(), BusError> {
        self.lock().map(|_| ())
    }
}

struct MemorySubscription {
    bus: MemoryBus,
    group: String,
    topics: Vec<String>,
    member: u64,
    /// Next offset to deliver, per owned topic.
    cursors: HashMap<String, i64>,
    /// Round-robin start, so one busy topic does not starve the others.
    next_topic: usize,
}

impl MemorySubscription {
    fn poll(&mut self) -> Result<Option<Delivery>, BusError> {
        let mut s = self.bus.lock()?;
        let state = &mut *s;
        let group = state.groups.entry(self.group.clone()).or_default();
        let n = self.topics.len();
        for i in 0..n {
            let topic = &self.topics[(self.next_topic + i) % n];
            let owner = *group.owners.entry(topic.clone()).or_insert(self.member);
            if owner != self.member {
                continue;
            }
            let committed = group.committed.get(topic).copied().unwrap_or(0);
            let cursor = self.cursors.entry(topic.clone()).or_insert(committed);
            let log = state.topics.get(topic).map(Vec::as_slice).unwrap_or(&[]);
            if let Some(message) = log.get(*cursor as usize) {
                let delivery = Delivery {
                    message: message.clone(),
                    partition: 0,
                    offset: *cursor,
                };
                *cursor += 1;
                self.next_topic = (self.next_topic + i + 1) % n;
                return Ok(Some(delivery));
            }
        }
        Ok(None)
    }
}

#[async_trait]
impl Subscription for MemorySubscription {
    async fn next(&mut self) -> Result<Delivery, BusError> {
        loop {
            // Register for wake-ups before looking, so a publish between the
            // look and the wait is not missed.
            let changed = self.bus.changed.clone();
            let notified = changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(d) = self.poll()? {
                return Ok(d);
            }
            notified.await;
        }
    }

    async fn commit(&mut self, delivery: &Delivery) -> Result<(), BusError> {
        let mut s = self.bus.lock()?;
        let group = s.groups.entry(self.group.clone()).or_default();
        let entry = group
            .committed
            .entry(delivery.message.topic.clone())
            .or_insert(0);
        *entry = (*entry).max(delivery.offset + 1);
        Ok(())
    }
}

impl Drop for MemorySubscription {
    fn drop(&mut self) {
        // Leave the group: hand the topics to the next member, who resumes
        // from the committed offset (redelivering what we did not commit).
        if let Ok(mut s) = self.bus.state.lock()
            && let Some(group) = s.groups.get_mut(&self.group)
        {
            group.owners.retain(|_, owner| *owner != self.member);
        }
        self.bus.changed.notify_waiters();
    }
}

// ---------------------------------------------------------------------------
// Kafka
// ---------------------------------------------------------------------------

/// Kafka through rdkafka.
pub struct KafkaBus {
    brokers: String,
    producer: FutureProducer,
    admin: AdminClient<DefaultClientContext>,
    replication: i32,
    session_timeout: Duration,
}

impl KafkaBus {
    /// Connects the producer and admin client and checks the cluster answers.
    pub async fn connect(config: &BusConfig) -> Result<Self, BusError> {
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", &config.brokers)
            // Durable before `publish` returns, and no duplicates from
            // producer retries.
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("message.timeout.ms", "15000")
            .set("socket.connection.setup.timeout.ms", "5000")
            .create()
            .map_err(|e| BusError::Other(format!("kafka producer: {e}")))?;
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &config.brokers)
            .create()
            .map_err(|e| BusError::Other(format!("kafka admin: {e}")))?;
        let bus = Self {
            brokers: config.brokers.clone(),
            producer,
            admin,
            replication: config.replication.max(1),
            session_timeout: config.session_timeout,
        };
        bus.ping().await?;
        Ok(bus)
    }
}

fn kafka_headers(headers: &[(String, String)]) -> OwnedHeaders {
    headers.iter().fold(
        OwnedHeaders::new_with_capacity(headers.len()),
        |h, (k, v)| {
            h.insert(Header {
                key: k,
                value: Some(v.as_bytes()),
            })
        },
    )
}

#[async_trait]
impl JobBus for KafkaBus {
    async fn ensure_topics(&self, topics: &[TopicSpec]) -> Result<(), BusError> {
        let new: Vec<NewTopic<'_>> = topics
            .iter()
            .map(|t| {
                NewTopic::new(
                    &t.name,
                    t.partitions.max(1),
                    TopicReplication::Fixed(self.replication),
                )
            })
            .collect();
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        let results = self
            .admin
            .create_topics(new.iter(), &opts)
            .await
            .map_err(|e| BusError::Unavailable(format!("create topics: {e}")))?;
        for r in results {
            match r {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => {
                    return Err(BusError::Other(format!("create topic {name}: {code}")));
                }
            }
        }
        Ok(())
    }

    async fn publish(&self, message: Message) -> Result<(), BusError> {
        let mut record = FutureRecord::to(&message.topic)
            .payload(message.payload.as_ref())
            .headers(kafka_headers(&message.headers));
        if let Some(key) = &message.key {
            record = record.key(key.as_str());
        }
        self.producer
            .send(record, Duration::from_secs(15))
            .await
            .map(|_| ())
            .map_err(|(e, _)| BusError::Unavailable(format!("publish to {}: {e}", message.topic)))
    }

    async fn subscribe(
        &self,
        group: &str,
        topics: &[String],
    ) -> Result<Box<dyn Subscription>, BusError> {
        let session = self.session_timeout.as_millis().max(6000).to_string();
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .set("group.id", group)
            // Offsets move only when a handler has finished (at-least-once).
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", &session)
            .set("heartbeat.interval.ms", "1000")
            .set("max.poll.interval.ms", "900000")
            .set("enable.partition.eof", "false")
            // A topic created just before (or after) subscribing is seen
            // within seconds, not at the default 5-minute metadata refresh.
            .set("topic.metadata.refresh.interval.ms", "2000")
            .create()
            .map_err(|e| BusError::Other(format!("kafka consumer: {e}")))?;
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer
            .subscribe(&names)
            .map_err(|e| BusError::Other(format!("subscribe {names:?}: {e}")))?;
        Ok(Box::new(KafkaSubscription {
            consumer: Some(Arc::new(consumer)),
        }))
    }

    fn is_durable(&self) -> bool {
        true
    }

    async fn topic_stats(&self, topic: &str, group: &str) -> Result<TopicStats, BusError> {
        let (brokers, topic, group) = (self.brokers.clone(), topic.to_string(), group.to_string());
        tokio::task::spawn_blocking(move || kafka_topic_stats(&brokers, &topic, &group))
            .await
            .map_err(|e| BusError::Other(e.to_string()))?
    }

    async fn ping(&self) -> Result<(), BusError> {
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || {
            use rdkafka::producer::Producer;
            producer
                .client()
                .fetch_metadata(None, Duration::from_secs(3))
                .map(|_| ())
                .map_err(|e| BusError::Unavailable(format!("kafka metadata: {e}")))
        })
        .await
        .map_err(|e| BusError::Other(e.to_string()))?
    }
}

/// Watermarks of every partition and the group's committed offsets, read
/// with a consumer that never joins the group.
fn kafka_topic_stats(brokers: &str, topic: &str, group: &str) -> Result<TopicStats, BusError> {
    use rdkafka::consumer::BaseConsumer;
    let timeout = Duration::from_secs(5);
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .map_err(|e| BusError::Other(format!("kafka consumer: {e}")))?;
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(|e| BusError::Unavailable(format!("kafka metadata: {e}")))?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    let mut tpl = TopicPartitionList::new();
    let mut marks = Vec::with_capacity(partitions.len());
    for p in &partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, *p, timeout)
            .map_err(|e| BusError::Unavailable(format!("watermarks of {topic}/{p}: {e}")))?;
        marks.push((*p, low, high));
        tpl.add_partition(topic, *p);
    }
    let committed = consumer
        .committed_offsets(tpl, timeout)
        .map_err(|e| BusError::Unavailable(format!("committed offsets of {group}: {e}")))?;
    let mut stats = TopicStats::default();
    for (p, low, high) in marks {
        let done = match committed.find_partition(topic, p).map(|e| e.offset()) {
            Some(Offset::Offset(n)) => n.max(low),
            _ => low,
        };
        stats.messages += high - low;
        stats.lag += (high - done).max(0);
    }
    Ok(stats)
}

struct KafkaSubscription {
    consumer: Option<Arc<StreamConsumer>>,
}

impl KafkaSubscription {
    fn consumer(&self) -> Result<&Arc<StreamConsumer>, BusError> {
        self.consumer
            .as_ref()
            .ok_or_else(|| BusError::Other("subscription closed".into()))
    }
}

#[async_trait]
impl Subscription for KafkaSubscription {
    async fn next(&mut self) -> Result<Delivery, BusError> {
        let consumer = self.consumer()?;
        let m = loop {
            match consumer.recv().await {
                Ok(m) => break m,
                // Transport trouble (a broker restarting, a network blip):
                // the client reconnects by itself and the uncommitted
                // messages are still there, so keep waiting.
                Err(rdkafka::error::KafkaError::MessageConsumption(code)) => {
                    tracing::warn!(%code, "kafka consumer: transient error, waiting for the broker");
                    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                }
                Err(e) => return Err(BusError::Unavailable(format!("receive: {e}"))),
            }
        };
        let headers = m
            .headers()
            .map(|h| {
                h.iter()
                    .map(|hdr| {
                        (
                            hdr.key.to_string(),
                            hdr.value
                                .map(|v| String::from_utf8_lossy(v).into_owned())
                                .unwrap_or_default(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Delivery {
            message: Message {
                topic: m.topic().to_string(),
                key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                payload: Bytes::copy_from_slice(m.payload().unwrap_or_default()),
                headers,
            },
            partition: m.partition(),
            offset: m.offset(),
        })
    }

    async fn commit(&mut self, delivery: &Delivery) -> Result<(), BusError> {
        let consumer = self.consumer()?.clone();
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(
            &delivery.message.topic,
            delivery.partition,
            Offset::Offset(delivery.offset + 1),
        )
        .map_err(|e| BusError::Other(e.to_string()))?;
        // A synchronous commit blocks until the broker has it: run it off the runtime.
        tokio::task::spawn_blocking(move || consumer.commit(&tpl, CommitMode::Sync))
            .await
            .map_err(|e| BusError::Other(e.to_string()))?
            .map_err(|e| BusError::Unavailable(format!("commit: {e}")))
    }
}

impl Drop for KafkaSubscription {
    fn drop(&mut self) {
        // Closing a consumer leaves the group (a blocking call): do it on the
        // blocking pool when a runtime is around.
        if let Some(consumer) = self.consumer.take() {
            match tokio::runtime::Handle::try_current() {
                Ok(handle) => {
                    handle.spawn_blocking(move || drop(consumer));
                }
                Err(_) => drop(consumer),
            }
        }
    }
}
