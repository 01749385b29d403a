//! Relational storage through diesel, on PostgreSQL (production) or SQLite
//! (embedded default).
//!
//! One code path serves both: queries are written once against
//! [`AnyConnection`], diesel's `MultiConnection` over the two backends, and
//! each service ships one migration directory per backend ("same
//! migrations where the SQL allows"). Migrations run at start, under a
//! PostgreSQL advisory lock so replicas starting together do not race.
//! Diesel is synchronous, so every call runs on tokio's blocking pool
//! ([`Db::run`]), never on the async runtime.

use std::path::Path;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel::{Connection, PgConnection, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness};

use crate::error::{ApiError, ErrorCode};

/// A connection to either backend. Queries written against it work on both.
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    /// PostgreSQL.
    Postgresql(PgConnection),
    /// SQLite.
    Sqlite(SqliteConnection),
}

/// Which backend a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL.
    Postgres,
    /// SQLite.
    Sqlite,
}

/// A database failure, classified so services can answer the right code.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The row does not exist.
    #[error("not found")]
    NotFound,
    /// A unique constraint was violated.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A foreign key points nowhere.
    #[error("foreign key violation: {0}")]
    ForeignKey(String),
    /// The database could not be reached.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else.
    #[error("database error: {0}")]
    Other(String),
}

impl From<diesel::result::Error> for DbError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind as K, Error as E};
        match e {
            E::NotFound => DbError::NotFound,
            E::DatabaseError(K::UniqueViolation, info) => {
                DbError::Conflict(info.message().to_string())
            }
            E::DatabaseError(K::ForeignKeyViolation, info) => {
                DbError::ForeignKey(info.message().to_string())
            }
            E::DatabaseError(K::ClosedConnection, info) => {
                DbError::Unavailable(info.message().to_string())
            }
            other => DbError::Other(other.to_string()),
        }
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound => ApiError::new(ErrorCode::NotFound, "not found"),
            DbError::Conflict(m) => ApiError::new(ErrorCode::AlreadyExists, m),
            DbError::ForeignKey(m) => ApiError::new(ErrorCode::FailedPrecondition, m),
            DbError::Unavailable(m) => ApiError::new(
                ErrorCode::StorageUnavailable,
                format!("database unavailable: {m}"),
            ),
            // The detail goes to the log where the error is handled, not to the client.
            DbError::Other(_) => ApiError::internal("database error"),
        }
    }
}

/// The migrations of one service, one directory per backend.
pub struct Migrations {
    /// `migrations/postgres`.
    pub postgres: EmbeddedMigrations,
    /// `migrations/sqlite`.
    pub sqlite: EmbeddedMigrations,
}

struct AnyManager {
    backend: Backend,
    target: String,
}

impl ManageConnection for AnyManager {
    type Connection = AnyConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<AnyConnection, r2d2::Error> {
        match self.backend {
            Backend::Postgres => PgConnection::establish(&self.target)
                .map(AnyConnection::Postgresql)
                .map_err(r2d2::Error::ConnectionError),
            Backend::Sqlite => {
                let mut conn = SqliteConnection::establish(&self.target)
                    .map_err(r2d2::Error::ConnectionError)?;
                // busy_timeout first: every later statement, the switch to
                // WAL included, then waits for a lock instead of failing with
                // "database is locked". WAL lets readers run beside the
                // writer (the mode is stored in the file, so only the first
                // connection ever changes it); foreign keys are off by
                // default in SQLite.
                conn.batch_execute(
                    "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
                     PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
                )
                .map_err(r2d2::Error::QueryError)?;
                Ok(AnyConnection::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), r2d2::Error> {
        conn.ping().map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        conn.is_broken()
    }
}

/// What the pool does with an error opening a connection: r2d2 retries it
/// until the connection timeout, and only then is it the caller's error
/// (`DbError::Unavailable`, logged once where it is handled). Each attempt
/// is a debug line, not an alarm: a busy file or a restarting server
/// usually answers the next attempt.
#[derive(Debug)]
struct ConnectErrors;

impl r2d2::HandleError<r2d2::Error> for ConnectErrors {
    fn handle_error(&self, error: r2d2::Error) {
        tracing::debug!(error = %error, "database connection attempt failed; retrying");
    }
}

/// A pooled database handle.
#[derive(Clone)]
pub struct Db {
    pool: r2d2::Pool<AnyManager>,
    backend: Backend,
    display: String,
    /// SQLite has one writer: transactions take turns here. Two deferred
    /// transactions that both read and then both write would otherwise
    /// deadlock, and SQLite answers one of them "database is locked" at
    /// once, whatever the busy timeout.
    sqlite_writer: std::sync::Arc<std::sync::Mutex<()>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend)
            .field("url", &self.display)
            .finish()
    }
}

/// Splits a URL into backend and connection target. `sqlite://PATH`,
/// `sqlite:PATH` and `sqlite::memory:` are SQLite; `postgres://` and
/// `postgresql://` are PostgreSQL (a 3 s connect timeout is added unless set).
pub fn parse_url(url: &str) -> Result<(Backend, String), DbError> {
    if let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        if rest.is_empty() {
            return Err(DbError::Other(format!("database url {url:?} has no path")));
        }
        return Ok((Backend::Sqlite, rest.to_string()));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let target = if url.contains("connect_timeout=") {
            url.to_string()
        } else if url.contains('?') {
            format!("{url}&connect_timeout=3")
        } else {
            format!("{url}?connect_timeout=3")
        };
        return Ok((Backend::Postgres, target));
    }
    Err(DbError::Other(format!(
        "database url must start with postgres:// or sqlite://, got {:?}",
        redact(url)
    )))
}

/// The URL with any password replaced.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

impl Db {
    /// Connects, creating the SQLite file's directory if needed, and applies
    /// pending migrations.
    pub async fn open(url: &str, migrations: Migrations, pool_size: u32) -> Result<Self, DbError> {
        let (backend, target) = parse_url(url)?;
        if backend == Backend::Sqlite
            && target != ":memory:"
            && let Some(parent) = Path::new(&target)
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent)
                .map_err(|e| DbError::Other(format!("cannot create {}: {e}", parent.display())))?;
        }
        let display = redact(url);
        let manager = AnyManager { backend, target };
        // An in-memory SQLite database exists once per connection: keep one.
        let size = if backend == Backend::Sqlite && url.ends_with(":memory:") {
            1
        } else {
            pool_size.max(1)
        };
        let pool = tokio::task::spawn_blocking(move || {
            r2d2::Pool::builder()
                .max_size(size)
                // One connection up front (migrations run on it); the rest
                // open when calls need them, not all at once on a new file.
                .min_idle(Some(1))
                .connection_timeout(Duration::from_secs(5))
                .error_handler(Box::new(ConnectErrors))
                .build(manager)
        })
        .await
        .map_err(|e| DbError::Other(e.to_string()))?
        .map_err(|e| DbError::Unavailable(format!("{display}: {e}")))?;
        let db = Self {
            pool,
            backend,
            display,
            sqlite_writer: Default::default(),
        };
        db.migrate(migrations).await?;
        Ok(db)
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Runs `f` with a pooled connection on the blocking pool.
    pub async fn run<R, F>(&self, f: F) -> Result<R, DbError>
    where
        R: Send + 'static,
        F: FnOnce(&mut AnyConnection) -> Result<R, DbError> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool
                .get()
                .map_err(|e| DbError::Unavailable(e.to_string()))?;
            f(&mut conn)
        })
        .await
        .map_err(|e| DbError::Other(format!("database task failed: {e}")))?
    }

    /// Runs `f` inside a transaction: committed when it returns `Ok`, rolled
    /// back otherwise.
    pub async fn transaction<R, F>(&self, f: F) -> Result<R, DbError>
    where
        R: Send + 'static,
        F: FnOnce(&mut AnyConnection) -> Result<R, DbError> + Send + 'static,
    {
        let writer = (self.backend == Backend::Sqlite).then(|| self.sqlite_writer.clone());
        self.run(move |conn| {
            // A panicked holder leaves nothing to protect: take the lock anyway.
            let _turn = writer
                .as_ref()
                .map(|w| w.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
            conn.transaction(|c| f(c))
        })
        .await
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> Result<(), DbError> {
        self.run(|conn| conn.ping().map_err(DbError::from)).await
    }

    async fn migrate(&self, migrations: Migrations) -> Result<(), DbError> {
        self.run(move |conn| {
            match conn {
                AnyConnection::Postgresql(pg) => {
                    // One migrator at a time across replicas.
                    pg.batch_execute("SELECT pg_advisory_lock(7316432901)")?;
                    let result = pg.run_pending_migrations(migrations.postgres).map(|_| ());
                    pg.batch_execute("SELECT pg_advisory_unlock(7316432901)")?;
                    result
                }
                AnyConnection::Sqlite(lite) => {
                    lite.run_pending_migrations(migrations.sqlite).map(|_| ())
                }
            }
            .map_err(|e| DbError::Other(format!("migration failed: {e}")))
        })
        .await
    }
}

/// Opens a service's own database, naming the service and the (redacted)
/// URL on failure.
pub async fn open_for_service(
    service: &str,
    url: &str,
    migrations: Migrations,
) -> anyhow::Result<Db> {
    Db::open(url, migrations, 8)
        .await
        .map_err(|e| anyhow::anyhow!("{service} database ({}): {e}", redact(url)))
}

impl From<r2d2::Error> for DbError {
    fn from(e: r2d2::Error) -> Self {
        DbError::Unavailable(e.to_string())
    }
}

/// Where a timestamp column stands for "now" in both backends: diesel maps
/// `chrono::NaiveDateTime` to `Timestamp` on each.
pub fn now() -> chrono::NaiveDateTime {
    chrono::Utc::now().naive_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_the_backend() {
        assert_eq!(
            parse_url("sqlite://data/x.sqlite").ok(),
            Some((Backend::Sqlite, "data/x.sqlite".into()))
        );
        assert_eq!(
            parse_url("sqlite::memory:").ok(),
            Some((Backend::Sqlite, ":memory:".into()))
        );
        let (b, t) = parse_url("postgres://u:p@h/db").expect("pg url");
        assert_eq!(b, Backend::Postgres);
        assert!(t.ends_with("?connect_timeout=3"));
        assert!(parse_url("mysql://x").is_err());
        assert!(parse_url("sqlite://").is_err());
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
    }
}
