//! Test support: where the real servers are, and isolation for each test
//! (a fresh PostgreSQL database, a Redis key prefix, Kafka topic prefix and
//! S3 bucket of its own). The test command (`scripts/test.sh`) starts the
//! servers and exports these variables; the defaults match it.

use std::time::Duration;

use diesel::{Connection, PgConnection, RunQueryDsl};

use crate::config::{BlobBackend, BlobConfig, BusBackend, BusConfig, CacheBackend, CacheConfig};

fn var(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// A short unique suffix.
pub fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_string()
}

/// URL of the PostgreSQL maintenance database (`TEST_POSTGRES_URL`).
pub fn postgres_admin_url() -> String {
    var(
        "TEST_POSTGRES_URL",
        "postgres://postgres@127.0.0.1:5432/postgres",
    )
}

/// A database created for one test and dropped when this value is dropped.
#[derive(Debug)]
pub struct TestDatabase {
    /// URL of the new database.
    pub url: String,
    name: String,
}

/// Creates an empty PostgreSQL database for one test.
pub fn postgres_database() -> TestDatabase {
    let admin = postgres_admin_url();
    let name = format!("scout_test_{}", unique());
    let mut conn = PgConnection::establish(&admin).unwrap_or_else(|e| {
        panic!("PostgreSQL is not reachable at {admin}: {e}. Start the test servers with scripts/test-servers.sh")
    });
    diesel::sql_query(format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .unwrap_or_else(|e| panic!("cannot create database {name}: {e}"));
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b.to_string())
        .unwrap_or(admin.clone());
    TestDatabase {
        url: format!("{base}/{name}"),
        name,
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin = postgres_admin_url();
        let name = self.name.clone();
        // Dropping may run inside a runtime: do the blocking work on a thread.
        let _ = std::thread::spawn(move || {
            if let Ok(mut conn) = PgConnection::establish(&admin) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn);
            }
        })
        .join();
    }
}

/// Redis cache config with a key prefix of its own (`TEST_REDIS_URL`).
pub fn redis_config() -> CacheConfig {
    CacheConfig {
        backend: CacheBackend::Redis,
        url: var("TEST_REDIS_URL", "redis://127.0.0.1:6379"),
        key_prefix: format!("test:{}:", unique()),
        ..CacheConfig::default()
    }
}

/// Kafka bus config with a topic prefix of its own (`TEST_KAFKA_BROKERS`).
pub fn kafka_config() -> BusConfig {
    BusConfig {
        backend: BusBackend::Kafka,
        brokers: var("TEST_KAFKA_BROKERS", "127.0.0.1:9092"),
        topic_prefix: format!("t{}.", unique()),
        partitions: 1,
        session_timeout: Duration::from_secs(6),
        ..BusConfig::default()
    }
}

/// S3 config with a bucket of its own (`TEST_S3_ENDPOINT`,
/// `TEST_S3_ACCESS_KEY`, `TEST_S3_SECRET_KEY`).
pub fn s3_config() -> BlobConfig {
    BlobConfig {
        backend: BlobBackend::S3,
        endpoint: var("TEST_S3_ENDPOINT", "http://127.0.0.1:9000"),
        access_key: var("TEST_S3_ACCESS_KEY", "scout"),
        secret_key: var("TEST_S3_SECRET_KEY", "scout-secret-key"),
        bucket: format!("test-{}", unique()),
        create_bucket: true,
        timeout: Duration::from_secs(10),
        ..BlobConfig::default()
    }
}
