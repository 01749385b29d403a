//! The same binary on production adapters: PostgreSQL, Redis, a
//! Kafka-protocol broker and an S3-compatible server, all on loopback
//! (started by scripts/test-servers.sh).

mod support;

use diesel::{Connection, PgConnection, RunQueryDsl};
use scout::mesh::Mesh;
use scout_common::config::{BlobBackend, BusBackend, CacheBackend};
use scout_common::testing;
use scout_proto::scout::render::v1::CapabilitiesRequest;
use scout_proto::scout::render::v1::render_service_client::RenderServiceClient;
use support::*;

#[derive(diesel::QueryableByName)]
struct Table {
    #[diesel(sql_type = diesel::sql_types::Text)]
    table_name: String,
}

fn tables(url: &str) -> Vec<String> {
    let mut conn = PgConnection::establish(url).expect("connect");
    let mut names: Vec<String> = diesel::sql_query("SELECT table_name::text AS table_name FROM information_schema.tables WHERE table_schema = 'public'")
        .load::<Table>(&mut conn)
        .expect("query")
        .into_iter()
        .map(|t| t.table_name)
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn the_mesh_runs_on_production_adapters() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (identity_db, tasks_db, publish_db) = (
        testing::postgres_database(),
        testing::postgres_database(),
        testing::postgres_database(),
    );
    let mut config = embedded_config(dir.path());
    config.identity.database_url = identity_db.url.clone();
    config.tasks.database_url = tasks_db.url.clone();
    config.publish.database_url = publish_db.url.clone();
    config.cache = testing::redis_config();
    config.bus = testing::kafka_config();
    config.blobs = testing::s3_config();
    assert_eq!(
        (
            config.cache.backend,
            config.bus.backend,
            config.blobs.backend
        ),
        (CacheBackend::Redis, BusBackend::Kafka, BlobBackend::S3)
    );

    let mesh = Mesh::start(config)
        .await
        .expect("mesh starts on production adapters");
    // Migrations ran at start, into each service's own database.
    for (url, expected) in [
        (
            &identity_db.url,
            vec!["admin_audit", "refresh_tokens", "users", "voice_samples"],
        ),
        (
            &tasks_db.url,
            vec![
                "admin_audit",
                "brand_kits",
                "daily_usage",
                "dead_letters",
                "output_labels",
                "prepaid_videos",
                "render_nodes",
                "scripts",
                "task_recipes",
                "task_usage",
                "tasks",
                "videos",
            ],
        ),
        (
            &publish_db.url,
            vec![
                "platform_accounts",
                "publication_stats",
                "publications",
                "publish_assists",
            ],
        ),
    ] {
        let found: Vec<String> = tables(url)
            .into_iter()
            .filter(|t| !t.starts_with("__diesel"))
            .collect();
        assert_eq!(found, expected, "{url}");
    }
    // Every service reports its adapters healthy.
    for name in scout::mesh::INTERNAL {
        let body: serde_json::Value = reqwest::get(format!("{}/readyz", mesh.service_url(name)))
            .await
            .expect("readyz")
            .json()
            .await
            .expect("json");
        assert_eq!(body["ready"], true, "{name}: {body}");
        for dep in ["cache", "bus", "blobs"] {
            assert_eq!(body["dependencies"][dep], "ok", "{name}: {body}");
        }
    }
    // Login goes through Redis (codes) and PostgreSQL (users, refresh tokens).
    let tokens = login(&mesh.edge_url(), dir.path()).await;
    let mut client = RenderServiceClient::new(authed_channel(&mesh.edge_url(), &tokens.access));
    client
        .capabilities(CapabilitiesRequest {})
        .await
        .expect("capabilities through the edge");
    mesh.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_bad_production_endpoint_fails_start_up_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = embedded_config(dir.path());
    config.tasks.database_url = "postgres://postgres@127.0.0.1:1/nowhere".into();
    let err = match Mesh::start(config).await {
        Ok(_) => panic!("started against a dead database"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        err.contains("tasks database") && err.contains("127.0.0.1:1"),
        "{err}"
    );

    let mut config = embedded_config(dir.path());
    config.cache = testing::redis_config();
    config.cache.url = "redis://127.0.0.1:1".into();
    let err = match Mesh::start(config).await {
        Ok(_) => panic!("started against a dead redis"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("cache"), "{err}");
}
