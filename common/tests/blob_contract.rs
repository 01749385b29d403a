//! One contract, two object stores: a local directory (signed URLs served by
//! the same routes the edge mounts) and an S3-compatible server. Presigned
//! URLs are exercised with a plain HTTP client.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use scout_common::adapters::blob::{self, BlobStore, LocalBlobStore, PresignOptions, S3BlobStore};
use scout_common::config::BlobConfig;
use scout_common::testing;

async fn contract(store: Arc<dyn BlobStore>) {
    let http = reqwest::Client::new();
    store.ping().await.expect("ping");

    // put / head / get / list / delete.
    let key = "videos/1/2/片段-one.mp4";
    let data = Bytes::from(vec![7u8; 300_000]);
    store
        .put(key, data.clone(), Some("video/mp4"))
        .await
        .expect("put");
    let meta = store.head(key).await.expect("head").expect("exists");
    assert_eq!(meta.size, 300_000);
    assert_eq!(store.get(key).await.expect("get"), data);
    assert!(
        store
            .head("videos/1/2/none.mp4")
            .await
            .expect("head")
            .is_none()
    );
    assert!(matches!(
        store.get("videos/1/2/none.mp4").await,
        Err(blob::BlobError::NotFound(_))
    ));

    // Files stream both ways.
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src.bin");
    std::fs::write(&src, b"frame bytes").expect("write");
    store
        .put_file("frames/2/3/frame_1.jpg", &src, None)
        .await
        .expect("put_file");
    let dst = dir.path().join("dst.bin");
    store
        .get_to_file("frames/2/3/frame_1.jpg", &dst)
        .await
        .expect("get_to_file");
    assert_eq!(std::fs::read(&dst).expect("read"), b"frame bytes");
    store
        .put("frames/2/3/frame_2.jpg", Bytes::from_static(b"2"), None)
        .await
        .expect("put");
    assert_eq!(
        store.list("frames/2/").await.expect("list"),
        vec!["frames/2/3/frame_1.jpg", "frames/2/3/frame_2.jpg"]
    );
    assert_eq!(
        store
            .delete_prefix("frames/2/")
            .await
            .expect("delete prefix"),
        2
    );
    assert!(store.list("frames/2/").await.expect("list").is_empty());
    // Copied inside the store: same bytes under the new key, the source
    // kept; a missing source is NotFound and writes nothing.
    let copied = "videos/1/3/lib7.mp4";
    store.copy(key, copied).await.expect("copy");
    assert_eq!(store.get(copied).await.expect("copy get"), data);
    assert_eq!(store.get(key).await.expect("source kept"), data);
    assert!(matches!(
        store
            .copy("videos/1/2/none.mp4", "videos/1/3/none.mp4")
            .await,
        Err(blob::BlobError::NotFound(_))
    ));
    assert!(
        store
            .head("videos/1/3/none.mp4")
            .await
            .expect("head")
            .is_none()
    );
    store.delete(copied).await.expect("delete copy");
    store.delete(key).await.expect("delete");
    store
        .delete(key)
        .await
        .expect("deleting a missing object is fine");
    assert!(store.head(key).await.expect("head").is_none());

    // Keys that escape are refused.
    assert!(matches!(
        store.put("../etc/passwd", Bytes::new(), None).await,
        Err(blob::BlobError::InvalidKey(_))
    ));

    // Presigned PUT with a plain client, then presigned GET.
    let up = store
        .presign_put(
            "videos/9/8/upload.mp4",
            PresignOptions::expires_in(Duration::from_secs(900)),
        )
        .await
        .expect("presign put");
    assert_eq!(up.method, "PUT");
    assert!(up.headers.is_empty(), "nothing to repeat: {:?}", up.headers);
    let resp = http
        .put(&up.url)
        .header("content-type", "video/mp4")
        .body("clip bytes from a phone")
        .send()
        .await
        .expect("PUT");
    assert!(
        resp.status().is_success(),
        "PUT {}: {}",
        resp.status(),
        resp.text().await.unwrap_or_default()
    );
    assert_eq!(
        store.get("videos/9/8/upload.mp4").await.expect("uploaded"),
        Bytes::from_static(b"clip bytes from a phone")
    );

    // The README's upload, exactly: `curl -T FILE URL` (no content type).
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("clip.mp4");
    std::fs::write(&file, b"a clip as curl sends it").expect("write");
    let curl_put = store
        .presign_put(
            "videos/9/8/curl.mp4",
            PresignOptions::expires_in(Duration::from_secs(900)),
        )
        .await
        .expect("presign put");
    // Off the runtime: the local store's server answers on this one.
    let url = curl_put.url.clone();
    let status = tokio::task::spawn_blocking(move || {
        std::process::Command::new("curl")
            .args(["-sS", "--fail-with-body", "-T"])
            .arg(&file)
            .arg(&url)
            .status()
    })
    .await
    .expect("joined")
    .expect("curl runs");
    assert!(status.success(), "curl -T was refused: {status}");
    assert_eq!(
        store
            .get("videos/9/8/curl.mp4")
            .await
            .expect("uploaded by curl"),
        Bytes::from_static(b"a clip as curl sends it")
    );
    let curl_get = store
        .presign_get(
            "videos/9/8/curl.mp4",
            PresignOptions::expires_in(Duration::from_secs(3600)),
        )
        .await
        .expect("presign get");
    let got = http.get(&curl_get.url).send().await.expect("GET");
    assert_eq!(
        got.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("video/mp4"),
        "downloads carry the key's type whatever the upload sent"
    );

    let down = store
        .presign_get(
            "videos/9/8/upload.mp4",
            PresignOptions::expires_in(Duration::from_secs(3600)),
        )
        .await
        .expect("presign get");
    let resp = http.get(&down.url).send().await.expect("GET");
    assert!(resp.status().is_success(), "GET {}", resp.status());
    assert_eq!(
        resp.bytes().await.expect("body"),
        Bytes::from_static(b"clip bytes from a phone")
    );

    // A tampered URL is refused.
    let tampered = down.url.replace("upload.mp4", "other.mp4");
    let resp = http.get(&tampered).send().await.expect("GET tampered");
    assert!(
        resp.status().is_client_error(),
        "tampered URL answered {}",
        resp.status()
    );

    // Expiry is enforced: URLs signed two hours ago for one hour.
    let past = SystemTime::now() - Duration::from_secs(7200);
    let old_get = store
        .presign_get(
            "videos/9/8/upload.mp4",
            PresignOptions {
                expires_in: Duration::from_secs(3600),
                start: Some(past),
            },
        )
        .await
        .expect("presign");
    let resp = http.get(&old_get.url).send().await.expect("GET expired");
    assert_eq!(
        resp.status().as_u16(),
        403,
        "expired GET answered {}",
        resp.status()
    );
    let old_put = store
        .presign_put(
            "videos/9/8/late.mp4",
            PresignOptions {
                expires_in: Duration::from_secs(900),
                start: Some(past),
            },
        )
        .await
        .expect("presign");
    let resp = http
        .put(&old_put.url)
        .body("late")
        .send()
        .await
        .expect("PUT expired");
    assert_eq!(
        resp.status().as_u16(),
        403,
        "expired PUT answered {}",
        resp.status()
    );
    assert!(
        store
            .head("videos/9/8/late.mp4")
            .await
            .expect("head")
            .is_none(),
        "expired PUT stored an object"
    );
}

#[tokio::test]
async fn local_store_meets_the_contract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let config = BlobConfig {
        dir: dir.path().to_path_buf(),
        max_upload_bytes: 1024 * 1024,
        ..BlobConfig::default()
    };
    let store = Arc::new(LocalBlobStore::new(&config, &base).expect("store"));
    let app = scout_common::server::blob_routes(store.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    contract(store.clone()).await;

    // Too large an upload is refused and leaves nothing behind.
    let up = store
        .presign_put(
            "videos/1/1/big.mp4",
            PresignOptions::expires_in(Duration::from_secs(60)),
        )
        .await
        .expect("presign");
    let resp = reqwest::Client::new()
        .put(&up.url)
        .body(vec![0u8; 2 * 1024 * 1024])
        .send()
        .await
        .expect("PUT");
    assert_eq!(resp.status().as_u16(), 413);
    assert!(
        store
            .head("videos/1/1/big.mp4")
            .await
            .expect("head")
            .is_none()
    );
    assert!(
        store
            .list("")
            .await
            .expect("list")
            .iter()
            .all(|k| !k.contains("upload-")),
        "temp file left behind"
    );
}

#[tokio::test]
async fn s3_store_meets_the_contract() {
    let config = testing::s3_config();
    let store = S3BlobStore::connect(&config)
        .await
        .unwrap_or_else(|e| panic!("S3 at {}: {e}", config.endpoint));
    contract(Arc::new(store)).await;
}
