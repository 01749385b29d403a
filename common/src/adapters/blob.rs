//! Object storage: clips, frames, audio and outputs under the seed 000 §5.3
//! keys, plus presigned URLs so clients upload and download directly.
//!
//! Production uses an S3-compatible store (aws-sdk-s3, presigned SigV4
//! URLs). The embedded default is a local directory whose signed URLs are
//! served by the edge (`/blobs/{key}`, HMAC-SHA256 over method, key and
//! expiry). Both pass the same contract tests.
//!
//! An upload URL does not sign a content type, on either store: a plain
//! `curl -T clip.mp4 URL` (which sends none) works, like any client that
//! sends its own. What the upload really is gets checked when it is
//! confirmed, by probing it. Downloads carry the content type of the key's
//! extension.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::AsyncWriteExt;

use crate::config::{BlobBackend, BlobConfig};
use crate::error::{ApiError, ErrorCode};

/// A blob store failure.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// No object under that key.
    #[error("object {0} not found")]
    NotFound(String),
    /// The key is not acceptable (empty, absolute, `..`).
    #[error("invalid object key {0:?}")]
    InvalidKey(String),
    /// The store could not be reached.
    #[error("object store unavailable: {0}")]
    Unavailable(String),
    /// Anything else.
    #[error("object store error: {0}")]
    Other(String),
}

impl From<BlobError> for ApiError {
    fn from(e: BlobError) -> Self {
        match &e {
            BlobError::NotFound(_) => ApiError::new(ErrorCode::NotFound, e.to_string()),
            BlobError::InvalidKey(_) => ApiError::new(ErrorCode::InvalidArgument, e.to_string()),
            BlobError::Unavailable(_) => {
                ApiError::new(ErrorCode::StorageUnavailable, e.to_string())
            }
            BlobError::Other(_) => ApiError::new(ErrorCode::StorageUnavailable, e.to_string()),
        }
    }
}

/// Size and type of a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Size in bytes.
    pub size: u64,
    /// Content type recorded at upload, if any.
    pub content_type: Option<String>,
}

/// How a presigned URL is made.
#[derive(Debug, Clone)]
pub struct PresignOptions {
    /// Validity.
    pub expires_in: Duration,
    /// Signing time; `None` is now. A time in the past yields an already
    /// expired URL, which is how expiry is tested without waiting.
    pub start: Option<SystemTime>,
}

impl PresignOptions {
    /// Valid for `expires_in` from now.
    pub fn expires_in(expires_in: Duration) -> Self {
        Self {
            expires_in,
            start: None,
        }
    }
}

/// A presigned request a plain HTTP client can make.
#[derive(Debug, Clone)]
pub struct PresignedUrl {
    /// `PUT` or `GET`.
    pub method: String,
    /// The URL.
    pub url: String,
    /// Headers the request must carry (none today: kept so a store that
    /// needs some, server-side encryption say, can ask for them).
    pub headers: Vec<(String, String)>,
}

/// Object storage.
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Writes an object from memory.
    async fn put(
        &self,
        key: &str,
        data: Bytes,
        content_type: Option<&str>,
    ) -> Result<(), BlobError>;
    /// Writes an object from a local file, streaming.
    async fn put_file(
        &self,
        key: &str,
        path: &Path,
        content_type: Option<&str>,
    ) -> Result<(), BlobError>;
    /// Reads an object into memory.
    async fn get(&self, key: &str) -> Result<Bytes, BlobError>;
    /// Copies an object into a local file, streaming.
    async fn get_to_file(&self, key: &str, path: &Path) -> Result<(), BlobError>;
    /// Size and type, or `None` when absent.
    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, BlobError>;
    /// Copies an object to another key inside the store (no bytes through
    /// this process); a missing source is `NotFound`.
    async fn copy(&self, from: &str, to: &str) -> Result<(), BlobError>;
    /// Deletes an object; deleting a missing object is not an error.
    async fn delete(&self, key: &str) -> Result<(), BlobError>;
    /// Deletes every object under a prefix; returns how many.
    async fn delete_prefix(&self, prefix: &str) -> Result<u64, BlobError>;
    /// Lists keys under a prefix, sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError>;
    /// A URL a client can PUT the object to.
    async fn presign_put(&self, key: &str, opts: PresignOptions)
    -> Result<PresignedUrl, BlobError>;
    /// A URL a client can GET the object from.
    async fn presign_get(&self, key: &str, opts: PresignOptions)
    -> Result<PresignedUrl, BlobError>;
    /// Checks the store answers.
    async fn ping(&self) -> Result<(), BlobError>;
    /// The object's path on this machine, when the store is a local
    /// directory (lets media code read in place instead of copying).
    fn local_path(&self, _key: &str) -> Option<PathBuf> {
        None
    }
}

/// Builds the configured store. `public_base_url` is where the edge serves
/// locally signed URLs.
pub async fn from_config(
    config: &BlobConfig,
    public_base_url: &str,
) -> Result<Arc<dyn BlobStore>, BlobError> {
    Ok(match config.backend {
        BlobBackend::Local => Arc::new(LocalBlobStore::new(config, public_base_url)?),
        BlobBackend::S3 => Arc::new(S3BlobStore::connect(config).await?),
    })
}

/// Checks a key: relative, no `..`, no empty segments, no backslashes.
pub fn validate_key(key: &str) -> Result<(), BlobError> {
    let bad = key.is_empty()
        || key.len() > 1024
        || key.starts_with('/')
        || key.contains('\\')
        || key.contains('\0')
        || key
            .split('/')
            .any(|seg| seg.is_empty() || seg == "." || seg == "..");
    if bad {
        Err(BlobError::InvalidKey(key.to_string()))
    } else {
        Ok(())
    }
}

/// A content type from a key's extension.
pub fn guess_content_type(key: &str) -> &'static str {
    let ext = key
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match ext.as_str() {
        "mp4" | "m4v" => "video/mp4",
        "mov" => "video/quicktime",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "m4a" => "audio/mp4",
        "ass" => "text/x-ssa; charset=utf-8",
        "json" => "application/json",
        "zip" => "application/zip",
        _ => "application/octet-stream",
    }
}

// ---------------------------------------------------------------------------
// Local directory
// ---------------------------------------------------------------------------

/// A local directory store with HMAC-signed URLs. The server's blob routes
/// (`scout_common::server::blob_routes`) answer those URLs by asking this
/// store to [`authorize`](LocalBlobStore::authorize) them, then to
/// [`write`](LocalBlobStore::write) or [`read`](LocalBlobStore::read).
pub struct LocalBlobStore {
    root: PathBuf,
    base_url: String,
    key: Vec<u8>,
    max_upload_bytes: u64,
}

impl LocalBlobStore {
    /// Opens (and creates) the directory.
    pub fn new(config: &BlobConfig, public_base_url: &str) -> Result<Self, BlobError> {
        std::fs::create_dir_all(&config.dir).map_err(|e| {
            BlobError::Other(format!("cannot create {}: {e}", config.dir.display()))
        })?;
        let key = if config.signing_key.is_empty() {
            uuid::Uuid::new_v4()
                .as_bytes()
                .iter()
                .chain(uuid::Uuid::new_v4().as_bytes())
                .copied()
                .collect()
        } else {
            config.signing_key.as_bytes().to_vec()
        };
        Ok(Self {
            root: config.dir.clone(),
            base_url: public_base_url.trim_end_matches('/').to_string(),
            key,
            max_upload_bytes: config.max_upload_bytes,
        })
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> Result<PathBuf, BlobError> {
        validate_key(key)?;
        Ok(self.root.join(key))
    }

    fn mac(&self, method: &str, key: &str, expires: u64) -> Option<Hmac<Sha256>> {
        // HMAC accepts keys of any length, so this never fails in practice.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).ok()?;
        mac.update(format!("{method}\n{key}\n{expires}").as_bytes());
        Some(mac)
    }

    fn signature(&self, method: &str, key: &str, expires: u64) -> Result<String, BlobError> {
        let mac = self
            .mac(method, key, expires)
            .ok_or_else(|| BlobError::Other("signing key unusable".into()))?;
        Ok(hex::encode(mac.finalize().into_bytes()))
    }

    /// Largest object a signed PUT accepts, in bytes.
    pub fn max_upload_bytes(&self) -> u64 {
        self.max_upload_bytes
    }

    /// Checks a signed URL's query for `method` on `key`: the signature
    /// matches and has not expired.
    pub fn authorize(&self, method: &str, key: &str, q: &SignedQuery) -> Result<(), ApiError> {
        let mac = self
            .mac(method, key, q.expires)
            .ok_or_else(|| ApiError::internal("signing key unusable"))?;
        let given = hex::decode(&q.sig).unwrap_or_default();
        // `verify_slice` compares in constant time.
        if mac.verify_slice(&given).is_err() {
            return Err(ApiError::new(
                ErrorCode::PermissionDenied,
                "signature does not match",
            ));
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(u64::MAX);
        if now >= q.expires {
            return Err(ApiError::new(
                ErrorCode::PermissionDenied,
                "request has expired",
            ));
        }
        Ok(())
    }

    fn presign(
        &self,
        method: &str,
        key: &str,
        opts: &PresignOptions,
    ) -> Result<PresignedUrl, BlobError> {
        validate_key(key)?;
        let start = opts.start.unwrap_or_else(SystemTime::now);
        let expires = (start + opts.expires_in)
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let sig = self.signature(method, key, expires)?;
        let encoded_key: String = key
            .split('/')
            .map(|s| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>())
            .collect::<Vec<_>>()
            .join("/");
        Ok(PresignedUrl {
            method: method.to_string(),
            url: format!(
                "{}/blobs/{encoded_key}?expires={expires}&sig={sig}",
                self.base_url
            ),
            headers: Vec::new(),
        })
    }

    /// Stores a streamed body under `key`, all or nothing: written to a
    /// temporary file, synced, then renamed. More than `limit` bytes is
    /// refused and leaves nothing behind.
    pub async fn write(
        &self,
        key: &str,
        mut body: impl futures::Stream<Item = Result<Bytes, String>> + Unpin,
        limit: u64,
    ) -> Result<u64, ApiError> {
        let path = self.path(key).map_err(ApiError::from)?;
        let parent = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.root.clone());
        tokio::fs::create_dir_all(&parent).await.map_err(|e| {
            ApiError::new(
                ErrorCode::StorageUnavailable,
                format!("cannot create directory: {e}"),
            )
        })?;
        let tmp = parent.join(format!(".upload-{}", uuid::Uuid::new_v4()));
        let result: Result<u64, ApiError> = async {
            let mut file = tokio::fs::File::create(&tmp).await.map_err(|e| {
                ApiError::new(ErrorCode::StorageUnavailable, format!("cannot write: {e}"))
            })?;
            let mut written: u64 = 0;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| {
                    ApiError::new(
                        ErrorCode::MalformedRequest,
                        format!("upload interrupted: {e}"),
                    )
                })?;
                written += chunk.len() as u64;
                if written > limit {
                    return Err(ApiError::new(
                        ErrorCode::PayloadTooLarge,
                        format!("upload exceeds the {limit}-byte limit"),
                    ));
                }
                file.write_all(&chunk).await.map_err(|e| {
                    ApiError::new(ErrorCode::StorageUnavailable, format!("cannot write: {e}"))
                })?;
            }
            file.sync_all().await.map_err(|e| {
                ApiError::new(ErrorCode::StorageUnavailable, format!("cannot sync: {e}"))
            })?;
            Ok(written)
        }
        .await;
        match result {
            Ok(n) => {
                tokio::fs::rename(&tmp, &path).await.map_err(|e| {
                    ApiError::new(ErrorCode::StorageUnavailable, format!("cannot store: {e}"))
                })?;
                Ok(n)
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                Err(e)
            }
        }
    }
}

fn io_err(key: &str, e: std::io::Error) -> BlobError {
    if e.kind() == std::io::ErrorKind::NotFound {
        BlobError::NotFound(key.to_string())
    } else {
        BlobError::Other(format!("{key}: {e}"))
    }
}

#[async_trait]
impl BlobStore for LocalBlobStore {
    async fn put(
        &self,
        key: &str,
        data: Bytes,
        _content_type: Option<&str>,
    ) -> Result<(), BlobError> {
        validate_key(key)?;
        let stream = futures::stream::iter([Ok::<_, String>(data)]);
        self.write(key, stream, u64::MAX)
            .await
            .map(|_| ())
            .map_err(|e| BlobError::Other(e.message))
    }

    async fn put_file(
        &self,
        key: &str,
        path: &Path,
        _content_type: Option<&str>,
    ) -> Result<(), BlobError> {
        validate_key(key)?;
        // One copy in the kernel (copy_file_range), synced, then renamed
        // into place: a reader sees the whole object or none, and a large
        // file does not cross the async runtime in small chunks.
        let (dest, from) = (self.path(key)?, path.to_path_buf());
        let parent = dest
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.root.clone());
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&parent)?;
            let tmp = parent.join(format!(".upload-{}", uuid::Uuid::new_v4()));
            let copied = std::fs::copy(&from, &tmp)
                .and_then(|_| std::fs::File::open(&tmp)?.sync_all())
                .and_then(|()| std::fs::rename(&tmp, &dest));
            if copied.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            copied
        })
        .await
        .map_err(|e| BlobError::Other(format!("{key}: {e}")))?
        .map_err(|e| BlobError::Other(format!("{} to {key}: {e}", path.display())))
    }

    async fn get(&self, key: &str) -> Result<Bytes, BlobError> {
        let path = self.path(key)?;
        tokio::fs::read(&path)
            .await
            .map(Bytes::from)
            .map_err(|e| io_err(key, e))
    }

    async fn get_to_file(&self, key: &str, path: &Path) -> Result<(), BlobError> {
        let src = self.path(key)?;
        tokio::fs::copy(&src, path)
            .await
            .map(|_| ())
            .map_err(|e| io_err(key, e))
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, BlobError> {
        let path = self.path(key)?;
        match tokio::fs::metadata(&path).await {
            Ok(m) if m.is_file() => Ok(Some(ObjectMeta {
                size: m.len(),
                content_type: Some(guess_content_type(key).to_string()),
            })),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(BlobError::Other(format!("{key}: {e}"))),
        }
    }

    async fn copy(&self, from: &str, to: &str) -> Result<(), BlobError> {
        let src = self.path(from)?;
        if !tokio::fs::metadata(&src).await.is_ok_and(|m| m.is_file()) {
            return Err(BlobError::NotFound(from.to_string()));
        }
        self.put_file(to, &src, None).await
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        let path = self.path(key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(BlobError::Other(format!("{key}: {e}"))),
        }
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64, BlobError> {
        let keys = self.list(prefix).await?;
        for key in &keys {
            self.delete(key).await?;
        }
        Ok(keys.len() as u64)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        let root = self.root.clone();
        let prefix = prefix.to_string();
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            let mut stack = vec![root.clone()];
            while let Some(dir) = stack.pop() {
                let entries = match std::fs::read_dir(&dir) {
                    Ok(e) => e,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(BlobError::Other(e.to_string())),
                };
                for entry in entries.flatten() {
                    let path = entry.path();
                    let name = entry.file_name().to_string_lossy().to_string();
                    if name.starts_with(".upload-") {
                        continue;
                    }
                    if path.is_dir() {
                        stack.push(path);
                    } else if let Ok(rel) = path.strip_prefix(&root) {
                        let key = rel.to_string_lossy().replace('\\', "/");
                        if key.starts_with(&prefix) {
                            out.push(key);
                        }
                    }
                }
            }
            out.sort();
            Ok(out)
        })
        .await
        .map_err(|e| BlobError::Other(e.to_string()))?
    }

    async fn presign_put(
        &self,
        key: &str,
        opts: PresignOptions,
    ) -> Result<PresignedUrl, BlobError> {
        self.presign("PUT", key, &opts)
    }

    async fn presign_get(
        &self,
        key: &str,
        opts: PresignOptions,
    ) -> Result<PresignedUrl, BlobError> {
        self.presign("GET", key, &opts)
    }

    async fn ping(&self) -> Result<(), BlobError> {
        tokio::fs::metadata(&self.root)
            .await
            .map(|_| ())
            .map_err(|e| BlobError::Unavailable(format!("{}: {e}", self.root.display())))
    }

    fn local_path(&self, key: &str) -> Option<PathBuf> {
        self.path(key).ok()
    }
}

/// The query of a locally signed URL.
#[derive(Debug, serde::Deserialize)]
pub struct SignedQuery {
    /// Unix seconds after which the URL is refused.
    pub expires: u64,
    /// Hex HMAC-SHA256 over method, key and expiry.
    pub sig: String,
}

impl LocalBlobStore {
    /// Opens `key` for reading; also gives its size.
    pub async fn open(&self, key: &str) -> Result<(tokio::fs::File, u64), ApiError> {
        let path = self.path(key).map_err(ApiError::from)?;
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(|_| ApiError::not_found(format!("object {key}")))?;
        let size = file
            .metadata()
            .await
            .map_err(|e| ApiError::new(ErrorCode::StorageUnavailable, e.to_string()))?
            .len();
        Ok((file, size))
    }
}

// ---------------------------------------------------------------------------
// S3
// ---------------------------------------------------------------------------

/// An S3-compatible store.
pub struct S3BlobStore {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3BlobStore {
    /// Connects, and creates the bucket when configured to.
    pub async fn connect(config: &BlobConfig) -> Result<Self, BlobError> {
        use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
        let timeouts = aws_smithy_types::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3).min(config.timeout))
            .operation_attempt_timeout(config.timeout)
            .build();
        let mut builder = aws_sdk_s3::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(config.region.clone()))
            .credentials_provider(Credentials::new(
                &config.access_key,
                &config.secret_key,
                None,
                None,
                "scout-config",
            ))
            .force_path_style(config.force_path_style)
            .timeout_config(timeouts);
        if !config.endpoint.is_empty() {
            builder = builder.endpoint_url(&config.endpoint);
        }
        let client = aws_sdk_s3::Client::from_conf(builder.build());
        let store = Self {
            client,
            bucket: config.bucket.clone(),
        };
        match store
            .client
            .head_bucket()
            .bucket(&store.bucket)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e)
                if config.create_bucket
                    && e.as_service_error().is_some_and(|s| s.is_not_found()) =>
            {
                store
                    .client
                    .create_bucket()
                    .bucket(&store.bucket)
                    .send()
                    .await
                    .map_err(|e| {
                        BlobError::Unavailable(format!(
                            "cannot create bucket {}: {}",
                            store.bucket,
                            sdk_msg(&e)
                        ))
                    })?;
            }
            Err(e) => {
                return Err(BlobError::Unavailable(format!(
                    "bucket {}: {}",
                    store.bucket,
                    sdk_msg(&e)
                )));
            }
        }
        Ok(store)
    }

    /// GetObject, with a missing key as `NotFound`.
    async fn object(
        &self,
        key: &str,
    ) -> Result<aws_sdk_s3::operation::get_object::GetObjectOutput, BlobError> {
        self.client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error().is_some_and(|s| s.is_no_such_key()) {
                    BlobError::NotFound(key.to_string())
                } else {
                    sdk_err(key, &e)
                }
            })
    }

    async fn presigning(
        opts: &PresignOptions,
    ) -> Result<aws_sdk_s3::presigning::PresigningConfig, BlobError> {
        let mut b = aws_sdk_s3::presigning::PresigningConfig::builder().expires_in(opts.expires_in);
        if let Some(start) = opts.start {
            b = b.start_time(start);
        }
        b.build().map_err(|e| BlobError::Other(e.to_string()))
    }
}

/// A presigned SDK request as a URL a plain client can use.
fn presigned(p: &aws_sdk_s3::presigning::PresignedRequest) -> PresignedUrl {
    PresignedUrl {
        method: p.method().to_string(),
        url: p.uri().to_string(),
        headers: p
            .headers()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn sdk_msg<E: std::fmt::Debug + std::error::Error + 'static, R>(
    e: &aws_sdk_s3::error::SdkError<E, R>,
) -> String {
    use aws_sdk_s3::error::SdkError;
    match e {
        SdkError::ServiceError(s) => format!("{:?}", s.err()),
        SdkError::DispatchFailure(d) => format!("dispatch failure: {d:?}"),
        SdkError::TimeoutError(_) => "timed out".into(),
        other => format!("{other}"),
    }
}

fn sdk_err<E: std::fmt::Debug + std::error::Error + 'static, R>(
    key: &str,
    e: &aws_sdk_s3::error::SdkError<E, R>,
) -> BlobError {
    use aws_sdk_s3::error::SdkError;
    match e {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
            BlobError::Unavailable(format!("{key}: {}", sdk_msg(e)))
        }
        _ => BlobError::Other(format!("{key}: {}", sdk_msg(e))),
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put(
        &self,
        key: &str,
        data: Bytes,
        content_type: Option<&str>,
    ) -> Result<(), BlobError> {
        validate_key(key)?;
        let ct = content_type.unwrap_or_else(|| guess_content_type(key));
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(ct)
            .body(data.into())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_err(key, &e))
    }

    async fn put_file(
        &self,
        key: &str,
        path: &Path,
        content_type: Option<&str>,
    ) -> Result<(), BlobError> {
        validate_key(key)?;
        let body = aws_sdk_s3::primitives::ByteStream::from_path(path)
            .await
            .map_err(|e| BlobError::Other(format!("{}: {e}", path.display())))?;
        let ct = content_type.unwrap_or_else(|| guess_content_type(key));
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(ct)
            .body(body)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_err(key, &e))
    }

    async fn get(&self, key: &str) -> Result<Bytes, BlobError> {
        validate_key(key)?;
        let resp = self.object(key).await?;
        let data = resp
            .body
            .collect()
            .await
            .map_err(|e| BlobError::Other(format!("{key}: {e}")))?;
        Ok(data.into_bytes())
    }

    async fn get_to_file(&self, key: &str, path: &Path) -> Result<(), BlobError> {
        validate_key(key)?;
        let resp = self.object(key).await?;
        let mut reader = resp.body.into_async_read();
        let mut file = tokio::fs::File::create(path)
            .await
            .map_err(|e| BlobError::Other(format!("{}: {e}", path.display())))?;
        tokio::io::copy(&mut reader, &mut file)
            .await
            .map_err(|e| BlobError::Other(format!("{key}: {e}")))?;
        file.flush()
            .await
            .map_err(|e| BlobError::Other(format!("{key}: {e}")))?;
        Ok(())
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, BlobError> {
        validate_key(key)?;
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(h) => Ok(Some(ObjectMeta {
                size: h.content_length().unwrap_or(0).max(0) as u64,
                content_type: h.content_type().map(str::to_string),
            })),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(sdk_err(key, &e)),
        }
    }

    async fn copy(&self, from: &str, to: &str) -> Result<(), BlobError> {
        validate_key(from)?;
        validate_key(to)?;
        // x-amz-copy-source is `bucket/key`, the key URL-encoded.
        let source: String = format!("{}/{from}", self.bucket)
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        self.client
            .copy_object()
            .bucket(&self.bucket)
            .key(to)
            .copy_source(source)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                use aws_sdk_s3::error::ProvideErrorMetadata as _;
                if e.as_service_error()
                    .is_some_and(|s| matches!(s.code(), Some("NoSuchKey" | "NotFound")))
                {
                    BlobError::NotFound(from.to_string())
                } else {
                    sdk_err(to, &e)
                }
            })
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        validate_key(key)?;
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_err(key, &e))
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64, BlobError> {
        let keys = self.list(prefix).await?;
        for key in &keys {
            self.delete(key).await?;
        }
        Ok(keys.len() as u64)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        let mut out = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk_err(prefix, &e))?;
            out.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
        }
        out.sort();
        Ok(out)
    }

    async fn presign_put(
        &self,
        key: &str,
        opts: PresignOptions,
    ) -> Result<PresignedUrl, BlobError> {
        validate_key(key)?;
        let cfg = Self::presigning(&opts).await?;
        let p = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(cfg)
            .await
            .map_err(|e| sdk_err(key, &e))?;
        Ok(presigned(&p))
    }

    async fn presign_get(
        &self,
        key: &str,
        opts: PresignOptions,
    ) -> Result<PresignedUrl, BlobError> {
        validate_key(key)?;
        let cfg = Self::presigning(&opts).await?;
        let p = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            // Whatever type the uploader sent (or none), players and
            // browsers get the key's.
            .response_content_type(guess_content_type(key))
            .presigned(cfg)
            .await
            .map_err(|e| sdk_err(key, &e))?;
        Ok(presigned(&p))
    }

    async fn ping(&self) -> Result<(), BlobError> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| BlobError::Unavailable(sdk_msg(&e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_validated() {
        assert!(validate_key("videos/1/2/abc.mp4").is_ok());
        for bad in ["", "/abs", "a/../b", "a//b", "a\\b", "./a", "a/."] {
            assert!(validate_key(bad).is_err(), "{bad:?} accepted");
        }
    }
}
