//! One contract, two caches: the in-process map and Redis.

use std::sync::Arc;
use std::time::Duration;

use scout_common::adapters::cache::{Cache, MemoryCache, RedisCache};
use scout_common::testing;

async fn contract(cache: Arc<dyn Cache>) {
    cache.ping().await.expect("ping");

    // get / set / delete, binary-safe and UTF-8 verbatim.
    assert_eq!(cache.get("missing").await.expect("get"), None);
    let value = "验证码 123456 🍲".as_bytes();
    cache.set("k1", value, None).await.expect("set");
    assert_eq!(cache.get("k1").await.expect("get").as_deref(), Some(value));
    assert_eq!(
        cache.ttl("k1").await.expect("ttl"),
        None,
        "no expiry was set"
    );
    assert!(cache.delete("k1").await.expect("delete"));
    assert!(!cache.delete("k1").await.expect("delete again"));
    assert_eq!(cache.get("k1").await.expect("get"), None);

    // set_nx only writes once.
    assert!(
        cache
            .set_nx("nx", b"a", Some(Duration::from_secs(60)))
            .await
            .expect("set_nx")
    );
    assert!(
        !cache
            .set_nx("nx", b"b", Some(Duration::from_secs(60)))
            .await
            .expect("set_nx")
    );
    assert_eq!(
        cache.get("nx").await.expect("get").as_deref(),
        Some(&b"a"[..])
    );
    let ttl = cache.ttl("nx").await.expect("ttl").expect("has ttl");
    assert!(
        ttl <= Duration::from_secs(60) && ttl > Duration::from_secs(55),
        "{ttl:?}"
    );

    // TTLs expire.
    cache
        .set("short", b"x", Some(Duration::from_millis(150)))
        .await
        .expect("set");
    assert!(cache.get("short").await.expect("get").is_some());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        cache.get("short").await.expect("get"),
        None,
        "expired key still readable"
    );
    assert!(
        cache
            .set_nx("short", b"y", None)
            .await
            .expect("set_nx after expiry")
    );

    // Fixed-window counters: counts, reports the reset, resets after the window.
    let w = Duration::from_millis(400);
    for expected in 1..=5 {
        let c = cache.incr_window("rl", w).await.expect("incr");
        assert_eq!(c.count, expected);
        assert!(c.resets_in <= w && c.resets_in > Duration::ZERO, "{c:?}");
    }
    tokio::time::sleep(Duration::from_millis(550)).await;
    assert_eq!(
        cache.incr_window("rl", w).await.expect("incr").count,
        1,
        "window did not reset"
    );

    // Counters are atomic under concurrency.
    let mut handles = Vec::new();
    for _ in 0..50 {
        let c = cache.clone();
        handles.push(tokio::spawn(async move {
            c.incr_window("concurrent", Duration::from_secs(30))
                .await
                .map(|w| w.count)
        }));
    }
    let mut counts = Vec::new();
    for h in handles {
        counts.push(h.await.expect("join").expect("incr"));
    }
    counts.sort();
    assert_eq!(
        counts,
        (1..=50).collect::<Vec<i64>>(),
        "lost or duplicated increments"
    );
}

#[tokio::test]
async fn memory_cache_meets_the_contract() {
    contract(Arc::new(MemoryCache::new())).await;
}

#[tokio::test]
async fn redis_cache_meets_the_contract() {
    let config = testing::redis_config();
    let cache = RedisCache::connect(&config)
        .await
        .unwrap_or_else(|e| panic!("Redis at {}: {e}", config.url));
    contract(Arc::new(cache)).await;
}

#[tokio::test]
async fn redis_down_fails_fast_with_unavailable() {
    let mut config = testing::redis_config();
    // Nothing listens on port 1.
    config.url = "redis://127.0.0.1:1".into();
    let started = std::time::Instant::now();
    let err = match RedisCache::connect(&config).await {
        Ok(_) => panic!("connected to nothing"),
        Err(e) => e,
    };
    assert!(
        matches!(
            err,
            scout_common::adapters::cache::CacheError::Unavailable(_)
        ),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}
