//! The cache: short-lived keys with TTLs and atomic fixed-window counters.
//!
//! Used for SMS codes, rate limits, token revocations and live progress.
//! Production uses Redis (deadpool-redis); the embedded default is an
//! in-process map. Both pass the same contract tests (`tests/cache_contract.rs`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use deadpool_redis::redis::{self, AsyncCommands};

use crate::config::{CacheBackend, CacheConfig};

/// A cache failure. Callers decide whether to fail open or closed.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The cache could not be reached in time.
    #[error("cache unavailable: {0}")]
    Unavailable(String),
    /// The cache answered something unexpected.
    #[error("cache error: {0}")]
    Other(String),
}

/// The result of counting one hit in a fixed window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowCount {
    /// Hits in the current window, this one included.
    pub count: i64,
    /// Time until the window resets.
    pub resets_in: Duration,
}

/// Key/value cache with TTLs.
#[async_trait]
pub trait Cache: Send + Sync {
    /// Reads a key.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError>;
    /// Writes a key, replacing any value; `ttl` of `None` keeps it forever.
    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), CacheError>;
    /// Writes a key only if absent; true when written.
    async fn set_nx(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, CacheError>;
    /// Deletes a key; true when it existed.
    async fn delete(&self, key: &str) -> Result<bool, CacheError>;
    /// Time left on a key; `None` when absent or without expiry.
    async fn ttl(&self, key: &str) -> Result<Option<Duration>, CacheError>;
    /// Counts one hit in the fixed window `key` of length `window`,
    /// atomically: the first hit starts the window.
    async fn incr_window(&self, key: &str, window: Duration) -> Result<WindowCount, CacheError>;
    /// Checks the cache answers.
    async fn ping(&self) -> Result<(), CacheError>;
}

/// Builds the configured cache.
pub async fn from_config(config: &CacheConfig) -> Result<std::sync::Arc<dyn Cache>, CacheError> {
    Ok(match config.backend {
        CacheBackend::Memory => std::sync::Arc::new(MemoryCache::new()),
        CacheBackend::Redis => std::sync::Arc::new(RedisCache::connect(config).await?),
    })
}

struct Entry {
    value: Vec<u8>,
    expires_at: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires_at.is_none_or(|t| t > now)
    }
}

/// In-process cache. Expired keys are dropped when touched and swept every
/// 1024 writes, so memory stays bounded by the live keys.
#[derive(Default)]
pub struct MemoryCache {
    inner: Mutex<MemoryInner>,
}

#[derive(Default)]
struct MemoryInner {
    map: HashMap<String, Entry>,
    writes: u64,
}

impl MemoryCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, f: impl FnOnce(&mut MemoryInner, Instant) -> R) -> Result<R, CacheError> {
        let mut guard = self
            .inner
            .lock()
            .map_err(|_| CacheError::Other("cache lock poisoned".into()))?;
        let now = Instant::now();
        guard.writes += 1;
        if guard.writes % 1024 == 0 {
            guard.map.retain(|_, e| e.live(now));
        }
        Ok(f(&mut guard, now))
    }
}

#[async_trait]
impl Cache for MemoryCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        self.with(|m, now| match m.map.get(key) {
            Some(e) if e.live(now) => Some(e.value.clone()),
            _ => None,
        })
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), CacheError> {
        self.with(|m, now| {
            m.map.insert(
                key.to_string(),
                Entry {
                    value: value.to_vec(),
                    expires_at: ttl.map(|t| now + t),
                },
            );
        })
    }

    async fn set_nx(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, CacheError> {
        self.with(|m, now| {
            if m.map.get(key).is_some_and(|e| e.live(now)) {
                return false;
            }
            m.map.insert(
                key.to_string(),
                Entry {
                    value: value.to_vec(),
                    expires_at: ttl.map(|t| now + t),
                },
            );
            true
        })
    }

    async fn delete(&self, key: &str) -> Result<bool, CacheError> {
        self.with(|m, now| m.map.remove(key).is_some_and(|e| e.live(now)))
    }

    async fn ttl(&self, key: &str) -> Result<Option<Duration>, CacheError> {
        self.with(|m, now| match m.map.get(key) {
            Some(e) if e.live(now) => e.expires_at.map(|t| t.saturating_duration_since(now)),
            _ => None,
        })
    }

    async fn incr_window(&self, key: &str, window: Duration) -> Result<WindowCount, CacheError> {
        self.with(|m, now| {
            let entry = m.map.entry(key.to_string()).or_insert_with(|| Entry {
                value: b"0".to_vec(),
                expires_at: Some(now + window),
            });
            if !entry.live(now) {
                *entry = Entry {
                    value: b"0".to_vec(),
                    expires_at: Some(now + window),
                };
            }
            let count = std::str::from_utf8(&entry.value)
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
                .unwrap_or(0)
                + 1;
            entry.value = count.to_string().into_bytes();
            let resets_in = entry
                .expires_at
                .map(|t| t.saturating_duration_since(now))
                .unwrap_or(window);
            WindowCount { count, resets_in }
        })
    }

    async fn ping(&self) -> Result<(), CacheError> {
        self.with(|_, _| ())
    }
}

/// Redis cache. Every operation is bounded by the configured timeout, so a
/// dead Redis answers `Unavailable` quickly instead of hanging the caller.
pub struct RedisCache {
    pool: deadpool_redis::Pool,
    prefix: String,
    timeout: Duration,
    window_script: redis::Script,
}

/// INCR then, on the window's first hit, PEXPIRE — in one atomic script so a
/// crash between the two cannot leave a counter without expiry.
const WINDOW_SCRIPT: &str = r"
local v = redis.call('INCR', KEYS[1])
if v == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {v, ttl}
";

impl RedisCache {
    /// Connects and checks the server answers.
    pub async fn connect(config: &CacheConfig) -> Result<Self, CacheError> {
        let mut cfg = deadpool_redis::Config::from_url(config.url.clone());
        let mut pool_cfg = deadpool_redis::PoolConfig::new(config.pool_size.max(1));
        pool_cfg.timeouts.wait = Some(config.timeout);
        pool_cfg.timeouts.create = Some(config.timeout);
        pool_cfg.timeouts.recycle = Some(config.timeout);
        cfg.pool = Some(pool_cfg);
        let pool = cfg
            .create_pool(Some(deadpool_redis::Runtime::Tokio1))
            .map_err(|e| CacheError::Other(format!("invalid redis config {}: {e}", config.url)))?;
        let cache = Self {
            pool,
            prefix: config.key_prefix.clone(),
            timeout: config.timeout,
            window_script: redis::Script::new(WINDOW_SCRIPT),
        };
        cache.ping().await?;
        Ok(cache)
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    async fn run<T, F, Fut>(&self, f: F) -> Result<T, CacheError>
    where
        F: FnOnce(deadpool_redis::Connection) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let op = async {
            let conn = self
                .pool
                .get()
                .await
                .map_err(|e| CacheError::Unavailable(e.to_string()))?;
            f(conn).await.map_err(|e| {
                if e.is_io_error()
                    || e.is_timeout()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
                {
                    CacheError::Unavailable(e.to_string())
                } else {
                    CacheError::Other(e.to_string())
                }
            })
        };
        match tokio::time::timeout(self.timeout, op).await {
            Ok(r) => r,
            Err(_) => Err(CacheError::Unavailable(format!(
                "redis did not answer within {} ms",
                self.timeout.as_millis()
            ))),
        }
    }
}

fn ms(d: Duration) -> u64 {
    (d.as_millis() as u64).max(1)
}

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        let key = self.key(key);
        self.run(|mut c| async move { c.get::<_, Option<Vec<u8>>>(key).await })
            .await
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), CacheError> {
        let key = self.key(key);
        let value = value.to_vec();
        self.run(|mut c| async move {
            match ttl {
                Some(t) => c.pset_ex::<_, _, ()>(key, value, ms(t)).await,
                None => c.set::<_, _, ()>(key, value).await,
            }
        })
        .await
    }

    async fn set_nx(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, CacheError> {
        let key = self.key(key);
        let value = value.to_vec();
        self.run(|mut c| async move {
            let mut cmd = redis::cmd("SET");
            cmd.arg(key).arg(value).arg("NX");
            if let Some(t) = ttl {
                cmd.arg("PX").arg(ms(t));
            }
            let reply: Option<String> = cmd.query_async(&mut c).await?;
            Ok(reply.is_some())
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<bool, CacheError> {
        let key = self.key(key);
        self.run(|mut c| async move { c.del::<_, i64>(key).await.map(|n| n > 0) })
            .await
    }

    async fn ttl(&self, key: &str) -> Result<Option<Duration>, CacheError> {
        let key = self.key(key);
        self.run(|mut c| async move {
            let pttl: i64 = redis::cmd("PTTL").arg(key).query_async(&mut c).await?;
            Ok((pttl > 0).then(|| Duration::from_millis(pttl as u64)))
        })
        .await
    }

    async fn incr_window(&self, key: &str, window: Duration) -> Result<WindowCount, CacheError> {
        let key = self.key(key);
        let script = self.window_script.clone();
        self.run(|mut c| async move {
            let (count, ttl): (i64, i64) =
                script.key(key).arg(ms(window)).invoke_async(&mut c).await?;
            Ok(WindowCount {
                count,
                resets_in: Duration::from_millis(ttl.max(0) as u64),
            })
        })
        .await
    }

    async fn ping(&self) -> Result<(), CacheError> {
        self.run(|mut c| async move {
            redis::cmd("PING")
                .query_async::<String>(&mut c)
                .await
                .map(|_| ())
        })
        .await
    }
}
