//! The client side of the public API for the CLI: log in (send a code,
//! read it, exchange it for tokens) and keep the session in the data
//! directory, so later commands call the edge as that user.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use scout_common::ApiError;
use scout_proto::scout::identity::v1::identity_service_client::IdentityServiceClient;
use scout_proto::scout::identity::v1::{LoginRequest, SendCodeRequest};
use serde::{Deserialize, Serialize};

/// A logged-in session, as saved to `{data_dir}/session.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    /// The edge it belongs to.
    pub edge: String,
    /// User id.
    pub user_id: i64,
    /// Display name.
    pub nickname: String,
    /// JWT access token.
    pub access_token: String,
    /// Refresh token.
    pub refresh_token: String,
}

/// Where a data directory keeps the CLI's session.
pub fn session_path(data_dir: &Path) -> PathBuf {
    data_dir.join("session.json")
}

fn status_error(edge: &str, s: &tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{edge}: {}", ApiError::from_status(s))
}

/// The code for `phone` written to a log-provider outbox after byte
/// `from`, waiting briefly for it.
async fn code_from_outbox(
    outbox: &Path,
    phone: &str,
    from: usize,
    wait: Duration,
) -> Option<String> {
    let start = Instant::now();
    loop {
        if let Ok(text) = tokio::fs::read_to_string(outbox).await
            && let Some(code) = text
                .get(from..)
                .unwrap_or_default()
                .lines()
                .rev()
                .filter_map(|l| l.split_once(' '))
                .find(|(p, _)| *p == phone)
                .map(|(_, c)| c.trim().to_string())
        {
            return Some(code);
        }
        if start.elapsed() >= wait {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends a login code to `phone` and logs in. The code is `code` when
/// given, else read from the outbox of a local mesh (log SMS provider),
/// else asked for on the terminal.
pub async fn login(
    edge: &str,
    phone: &str,
    code: Option<String>,
    outbox: &Path,
) -> anyhow::Result<Session> {
    let channel = scout_common::grpc::channel(edge)?;
    let mut ids = IdentityServiceClient::new(channel);
    let code = match code {
        Some(c) => c,
        None => {
            // Codes already in the outbox are older than the one we ask for.
            let from = tokio::fs::metadata(outbox)
                .await
                .map(|m| m.len() as usize)
                .unwrap_or(0);
            ids.send_code(SendCodeRequest {
                phone: phone.to_string(),
            })
            .await
            .map_err(|s| status_error(edge, &s))?;
            match code_from_outbox(outbox, phone, from, Duration::from_secs(3)).await {
                Some(c) => c,
                None => prompt_code(phone)?,
            }
        }
    };
    let resp = ids
        .login(LoginRequest {
            phone: phone.to_string(),
            code,
        })
        .await
        .map_err(|s| status_error(edge, &s))?
        .into_inner();
    let user = resp.user.unwrap_or_default();
    Ok(Session {
        edge: edge.to_string(),
        user_id: user.id,
        nickname: user.nickname,
        access_token: resp.access_token,
        refresh_token: resp.refresh_token,
    })
}

fn prompt_code(phone: &str) -> anyhow::Result<String> {
    use std::io::Write as _;
    eprint!("a login code was sent to {phone}; enter it: ");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("cannot read the code from the terminal")?;
    Ok(line.trim().to_string())
}

/// Saves a session (owner-only permissions).
pub fn save(session: &Session, path: &Path) -> anyhow::Result<()> {
    use std::io::Write as _;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(serde_json::to_string_pretty(session)?.as_bytes())?;
    Ok(())
}

/// Loads a saved session.
pub fn load(path: &Path) -> anyhow::Result<Session> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("no session at {} — run `scout login` first", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a session file", path.display()))
}

/// A request carrying the session's access token.
pub fn authorized<T>(session: &Session, message: T) -> anyhow::Result<tonic::Request<T>> {
    let mut req = tonic::Request::new(message);
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", session.access_token)
            .parse()
            .context("the saved access token is not a valid header")?,
    );
    Ok(req)
}
