//! One store interface over two implementations: PostgreSQL, the production
//! store that several processes share, and an embedded SQLite file, the
//! zero-set-up default of a single `parquetry serve`.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::Connection;
use uuid::Uuid;

use super::postgres::PgJobs;
use super::spans::DbTarget;
use super::sqlite::SqliteJobs;
use super::{Inserted, Job, JobError, JobStatus, ListCursor, NewJob, Removal};

/// The job table.
#[derive(Clone, Debug)]
pub enum JobStore {
    Postgres(PgJobs),
    Sqlite(SqliteJobs),
}

/// Calls the same method on whichever store this is.
macro_rules! dispatch {
    ($store:expr, $method:ident($($argument:expr),*)) => {
        match $store {
            JobStore::Postgres(store) => store.$method($($argument),*).await,
            JobStore::Sqlite(store) => store.$method($($argument),*).await,
        }
    };
}

/// The file of the embedded store, under the data directory.
pub const SQLITE_FILE: &str = "parquetry.sqlite3";

/// An error with its message once: sqlx's errors repeat their source in
/// their own text, so anyhow's `{:#}` chain would print it twice.
fn once(context: &str, error: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{context}: {error}")
}

/// The options of a PostgreSQL URL; any other scheme is refused, or a
/// `mysql://` URL would be tried as PostgreSQL.
fn postgres_options(url: &str) -> anyhow::Result<PgConnectOptions> {
    let scheme = url.split_once("://").map(|(scheme, _)| scheme);
    if !matches!(scheme, Some("postgres" | "postgresql")) {
        anyhow::bail!(
            "DATABASE_URL must be a PostgreSQL URL (postgres://user@host/db or postgresql://…); \
             leave it unset to keep the job table in the embedded SQLite file"
        );
    }
    url.parse()
        .map_err(|error| once("DATABASE_URL is not a valid PostgreSQL URL", error))
}

/// One connection tried at once: the pool retries a refused connection until
/// its acquire timeout and then only says "pool timed out", hiding the cause.
async fn check_connection(options: &PgConnectOptions) -> anyhow::Result<()> {
    const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
    match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(options)).await {
        Ok(Ok(connection)) => {
            let _ = connection.close().await;
            Ok(())
        }
        Ok(Err(error)) => Err(once("connecting to PostgreSQL (DATABASE_URL)", error)),
        Err(_) => anyhow::bail!(
            "connecting to PostgreSQL (DATABASE_URL): no answer within {} s",
            CONNECT_TIMEOUT.as_secs()
        ),
    }
}

impl JobStore {
    /// PostgreSQL when `database_url` is given, else the SQLite file under
    /// `data_dir`; migrations are applied (safe from several processes).
    pub async fn connect(
        database_url: Option<&str>,
        data_dir: &Path,
        max_connections: u32,
        retention: Duration,
    ) -> anyhow::Result<JobStore> {
        match database_url {
            Some(url) => {
                let options = postgres_options(url)?;
                check_connection(&options).await?;
                let pool = PgPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await
                    .map_err(|error| once("connecting to PostgreSQL (DATABASE_URL)", error))?;
                sqlx::migrate!("./migrations")
                    .run(&pool)
                    .await
                    .map_err(|error| once("applying the PostgreSQL migrations", error))?;
                Ok(JobStore::Postgres(PgJobs::new(pool, retention)))
            }
            None => {
                std::fs::create_dir_all(data_dir)
                    .with_context(|| format!("creating {}", data_dir.display()))?;
                let options = SqliteConnectOptions::new()
                    .filename(data_dir.join(SQLITE_FILE))
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .busy_timeout(Duration::from_secs(10));
                let pool = SqlitePoolOptions::new()
                    .max_connections(max_connections)
                    .connect_with(options)
                    .await
                    .context("opening the SQLite job table")?;
                sqlx::migrate!("./migrations-sqlite")
                    .run(&pool)
                    .await
                    .context("applying the SQLite migrations")?;
                Ok(JobStore::Sqlite(SqliteJobs::new(pool, retention)))
            }
        }
    }

    /// The PostgreSQL pool, for LISTEN; `None` for SQLite.
    pub fn postgres_pool(&self) -> Option<&PgPool> {
        match self {
            JobStore::Postgres(store) => Some(store.pool()),
            JobStore::Sqlite(_) => None,
        }
    }

    /// The SQLite store, whose workers are woken in-process.
    pub fn sqlite(&self) -> Option<&SqliteJobs> {
        match self {
            JobStore::Sqlite(store) => Some(store),
            JobStore::Postgres(_) => None,
        }
    }

    /// What spans of this store's statements say about the database.
    pub fn target(&self) -> &DbTarget {
        match self {
            JobStore::Postgres(store) => store.target(),
            JobStore::Sqlite(store) => store.target(),
        }
    }

    /// The SQL text of `claim`, for the span the worker records.
    pub fn claim_query(&self) -> &'static str {
        match self {
            JobStore::Postgres(_) => PgJobs::CLAIM_QUERY,
            JobStore::Sqlite(_) => SqliteJobs::CLAIM_QUERY,
        }
    }

    /// Whether the database answers (`/readyz`).
    pub async fn ping(&self) -> sqlx::Result<()> {
        match self {
            JobStore::Postgres(store) => sqlx::query("SELECT 1")
                .execute(store.pool())
                .await
                .map(drop),
            JobStore::Sqlite(store) => sqlx::query("SELECT 1")
                .execute(store.pool())
                .await
                .map(drop),
        }
    }

    /// Enqueues a job whose input is already stored; with an idempotency key
    /// that is taken, returns the job that has it instead.
    pub async fn insert(&self, job: &NewJob) -> sqlx::Result<Inserted> {
        dispatch!(self, insert(job))
    }

    pub async fn find_by_idempotency_key(&self, key: &str) -> sqlx::Result<Option<Job>> {
        dispatch!(self, find_by_idempotency_key(key))
    }

    /// Whether `id` named a job that expired and was removed.
    pub async fn is_expired(&self, id: Uuid) -> sqlx::Result<bool> {
        dispatch!(self, is_expired(id))
    }

    pub async fn get(&self, id: Uuid) -> sqlx::Result<Option<Job>> {
        dispatch!(self, get(id))
    }

    /// Newest first, at most `limit`, after `cursor` when given.
    pub async fn list(
        &self,
        status: Option<JobStatus>,
        limit: i64,
        cursor: Option<&ListCursor>,
    ) -> sqlx::Result<Vec<Job>> {
        dispatch!(self, list(status, limit, cursor))
    }

    /// Claims the oldest claimable job for `worker_id`. Untraced: idle
    /// workers run it every poll, and the worker records the span of a
    /// successful claim inside the job's own trace.
    pub async fn claim(&self, worker_id: &str) -> sqlx::Result<Option<Job>> {
        dispatch!(self, claim(worker_id))
    }

    /// Renews the lease. `false` when the job is no longer this worker's to
    /// run: canceled, or requeued after its lease went stale.
    pub async fn heartbeat(&self, id: Uuid, worker_id: &str) -> sqlx::Result<bool> {
        dispatch!(self, heartbeat(id, worker_id))
    }

    /// Records success; `None` when the lease was lost meanwhile.
    pub async fn succeed(
        &self,
        id: Uuid,
        worker_id: &str,
        result: &serde_json::Value,
    ) -> sqlx::Result<Option<Job>> {
        dispatch!(self, succeed(id, worker_id, result))
    }

    /// Records a failure that retrying cannot fix; `None` when the lease was lost.
    pub async fn fail(
        &self,
        id: Uuid,
        worker_id: &str,
        error: &JobError,
    ) -> sqlx::Result<Option<Job>> {
        dispatch!(self, fail(id, worker_id, error))
    }

    /// Records a transient failure: the job runs again after `backoff`, or
    /// fails once its attempts are spent. `None` when the lease was lost.
    pub async fn retry(
        &self,
        id: Uuid,
        worker_id: &str,
        error: &JobError,
        backoff: Duration,
    ) -> sqlx::Result<Option<Job>> {
        dispatch!(self, retry(id, worker_id, error, backoff))
    }

    /// Gives a job back to the queue without spending an attempt (shutdown).
    pub async fn requeue(&self, id: Uuid, worker_id: &str) -> sqlx::Result<bool> {
        dispatch!(self, requeue(id, worker_id))
    }

    /// Puts back in the queue running jobs whose worker stopped heartbeating.
    pub async fn requeue_stale(&self, lease_timeout: Duration) -> sqlx::Result<Vec<Uuid>> {
        dispatch!(self, requeue_stale(lease_timeout))
    }

    /// Cancels a queued or running job, or deletes a finished one.
    pub async fn remove(&self, id: Uuid) -> sqlx::Result<Removal> {
        dispatch!(self, remove(id))
    }

    /// Jobs waiting in the queue, for back-pressure on uploads.
    pub async fn count_queued(&self) -> sqlx::Result<i64> {
        dispatch!(self, count_queued())
    }

    /// Removes expired jobs, leaving tombstones; returns their ids so their
    /// files can go too.
    pub async fn expire(&self, keep_tombstones: Duration) -> sqlx::Result<Vec<Uuid>> {
        dispatch!(self, expire(keep_tombstones))
    }

    /// Which of `ids` still have a row (for the orphan-file sweep).
    pub async fn known_ids(&self, ids: &[Uuid]) -> sqlx::Result<Vec<Uuid>> {
        dispatch!(self, known_ids(ids))
    }

    /// Jobs queued and running now, across every process.
    pub async fn count_active(&self) -> sqlx::Result<(i64, i64)> {
        dispatch!(self, count_active())
    }
}
