//! One store interface over two implementations: PostgreSQL, the production
//! store that several processes share, and an embedded SQLite file, the
//! zero-set-up default of a single `parquetry serve`.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::Connection;
use uuid::Uuid;

use super::error::{StoreError, StoreResult};
use super::postgres::PgJobs;
use super::spans::DbTarget;
use super::sqlite::SqliteJobs;
use super::wakeup::QueueListener;
use super::{
    AttemptReport, Inserted, Job, JobChanges, JobError, JobStatus, ListCursor, NewJob, Removal,
    Scope,
};

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
        .map_err(StoreError::from)
    };
}

/// The outcome of a statement that may have finished a job, after waking
/// this process's webhook dispatcher: the finish wrote its delivery.
fn finishing<T>(outcome: StoreResult<T>) -> StoreResult<T> {
    if outcome.is_ok() {
        super::webhooks::wake_local();
    }
    outcome
}

/// How long a statement waits for a pooled connection before the store says
/// the database is unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long `/readyz` waits for the database before saying it is not ready.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// The file of the embedded store, under the data directory.
pub const SQLITE_FILE: &str = "parquetry.sqlite3";

/// An error with its message once: sqlx's errors repeat their source in
/// their own text, so anyhow's `{:#}` chain would print it twice.
fn once(context: &str, error: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{context}: {}", without_source_line(&error.to_string()))
}

/// sqlx ends a PostgreSQL error with the line of PostgreSQL's own source
/// that raised it (`database "x" does not exist at line 948`): nothing a
/// user can act on, and it reads like a line of their input.
fn without_source_line(text: &str) -> &str {
    match text.rsplit_once(" at line ") {
        Some((message, line)) if !line.is_empty() && line.bytes().all(|b| b.is_ascii_digit()) => {
            message
        }
        _ => text,
    }
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
                    // A request waits at most this long for a connection:
                    // during an outage it answers 503 at once rather than
                    // holding the client for the default 30 s.
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_with(options)
                    .await
                    .map_err(|error| once("connecting to PostgreSQL (DATABASE_URL)", error))?;
                super::migrations::postgres()
                    .run(&pool)
                    .await
                    .map_err(|error| once("applying the PostgreSQL migrations", error))?;
                let store = PgJobs::new(pool, retention);
                // Host, port and database only: the URL's password never reaches a log.
                let target = store.target();
                tracing::info!(
                    db.host = target.server_address.as_deref().unwrap_or_default(),
                    db.port = target.server_port.map(i64::from),
                    db.name = target.namespace.as_deref().unwrap_or_default(),
                    "keeping the job table in the {target}"
                );
                Ok(JobStore::Postgres(store))
            }
            None => {
                std::fs::create_dir_all(data_dir)
                    .with_context(|| format!("creating {}", data_dir.display()))?;
                let options = SqliteConnectOptions::new()
                    .filename(data_dir.join(SQLITE_FILE))
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .busy_timeout(Duration::from_secs(10))
                    // A 202 promises the job is stored: every commit reaches
                    // the disk before it returns (WAL's default, NORMAL, may
                    // lose the last commits to a power failure).
                    .synchronous(SqliteSynchronous::Full);
                let pool = SqlitePoolOptions::new()
                    .max_connections(max_connections)
                    .connect_with(options)
                    .await
                    .context("opening the SQLite job table")?;
                super::migrations::sqlite()
                    .run(&pool)
                    .await
                    .context("applying the SQLite migrations")?;
                tracing::info!(
                    file = %data_dir.join(SQLITE_FILE).display(),
                    "no DATABASE_URL: keeping the job table in an embedded SQLite file"
                );
                Ok(JobStore::Sqlite(SqliteJobs::new(pool, retention)))
            }
        }
    }

    /// The database, as `parquetry migrate` names it: `PostgreSQL database
    /// parquetry on 127.0.0.1:5432` or `SQLite file parquetry.sqlite3`.
    pub fn describe(&self) -> String {
        self.target().to_string()
    }

    /// What spans of this store's statements say about the database.
    fn target(&self) -> &DbTarget {
        match self {
            JobStore::Postgres(store) => store.target(),
            JobStore::Sqlite(store) => store.target(),
        }
    }

    /// Whether the database answers (`/readyz`), within `PING_TIMEOUT`.
    pub async fn ping(&self) -> StoreResult<()> {
        let ping = async {
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
        };
        match tokio::time::timeout(PING_TIMEOUT, ping).await {
            Ok(outcome) => outcome.map(drop).map_err(StoreError::from),
            Err(_) => Err(StoreError::Unavailable(sqlx::Error::PoolTimedOut)),
        }
    }

    /// Resolves when a job may have become claimable: a notification from
    /// any process on PostgreSQL (LISTEN), from this process on SQLite.
    /// Workers poll as well, so a missed wake-up only costs a poll interval.
    pub fn queue_listener(&self) -> QueueListener {
        QueueListener::new(self)
    }

    /// The changes of jobs, from every process sharing the database: what
    /// waiting requests watch.
    pub fn changes(&self) -> &JobChanges {
        match self {
            JobStore::Postgres(store) => store.changes(),
            JobStore::Sqlite(store) => store.changes(),
        }
    }

    /// Records the span of a claim that ran at `started`..`ended`, inside the
    /// trace of the job it claimed (unknown until the claim returned).
    pub fn record_claim_span(
        &self,
        parent: &opentelemetry::Context,
        started: std::time::SystemTime,
        ended: std::time::SystemTime,
    ) {
        let query = match self {
            JobStore::Postgres(_) => PgJobs::CLAIM_QUERY,
            JobStore::Sqlite(_) => SqliteJobs::CLAIM_QUERY,
        };
        self.target()
            .record_span("UPDATE claim", query, parent, started, ended);
    }

    /// Enqueues a job whose input is already stored; with an idempotency key
    /// that is taken, returns the job that has it instead.
    pub async fn insert(&self, job: &NewJob) -> StoreResult<Inserted> {
        self.insert_as(job, None).await
    }

    /// Enqueues a job that `worker_id` of this process already runs (its
    /// conversion began at `started_at`, while the upload arrived): it is
    /// stored claimed, and no other worker sees it queued.
    pub async fn insert_claimed(
        &self,
        job: &NewJob,
        claim: (&str, chrono::DateTime<chrono::Utc>),
    ) -> StoreResult<Inserted> {
        self.insert_as(job, Some(claim)).await
    }

    async fn insert_as(
        &self,
        job: &NewJob,
        claimed: Option<(&str, chrono::DateTime<chrono::Utc>)>,
    ) -> StoreResult<Inserted> {
        // The key's holder may expire or be deleted between the insert that
        // found the key taken and the lookup: then the key is free again.
        for _ in 0..3 {
            let created = match claimed {
                Some(claim) => dispatch!(self, insert_claimed(job, claim))?,
                None => dispatch!(self, insert(job))?,
            };
            if let Some(created) = created {
                return Ok(Inserted::Created(created));
            }
            let key = job.idempotency_key.as_deref().unwrap_or_default();
            if let Some(existing) = self.find_by_idempotency_key(&job.tenant, key).await? {
                return Ok(Inserted::Existing(existing));
            }
        }
        Err(StoreError::Other(sqlx::Error::Protocol(
            "an idempotency key kept changing hands".into(),
        )))
    }

    /// The job of `tenant` that holds an idempotency key: keys are per tenant.
    pub async fn find_by_idempotency_key(
        &self,
        tenant: &str,
        key: &str,
    ) -> StoreResult<Option<Job>> {
        dispatch!(self, find_by_idempotency_key(tenant, key))
    }

    /// Whether `id` named a job of `scope` that expired and was removed.
    pub async fn is_expired(&self, scope: &Scope, id: Uuid) -> StoreResult<bool> {
        dispatch!(self, is_expired(scope, id))
    }

    /// A job of any tenant: for the workers and the webhook dispatcher,
    /// never for an answer to a request (see `find`).
    pub async fn get(&self, id: Uuid) -> StoreResult<Option<Job>> {
        dispatch!(self, get(&Scope::All, id))
    }

    /// The job if `scope` may see it: another tenant's job is `None`,
    /// exactly like a missing one.
    pub async fn find(&self, scope: &Scope, id: Uuid) -> StoreResult<Option<Job>> {
        dispatch!(self, get(scope, id))
    }

    /// Newest first, at most `limit`, after `cursor` when given.
    pub async fn list(
        &self,
        scope: &Scope,
        status: Option<JobStatus>,
        limit: i64,
        cursor: Option<&ListCursor>,
    ) -> StoreResult<Vec<Job>> {
        dispatch!(self, list(scope, status, limit, cursor))
    }

    /// Claims the oldest claimable job for `worker_id`. Untraced: idle
    /// workers run it every poll, and the worker records the span of a
    /// successful claim inside the job's own trace.
    pub async fn claim(&self, worker_id: &str) -> StoreResult<Option<Job>> {
        dispatch!(self, claim(worker_id))
    }

    /// Renews the lease. `false` when the job is no longer this worker's to
    /// run: canceled, or requeued after its lease went stale.
    /// Writes the attempt's progress in the same statement.
    pub async fn heartbeat(
        &self,
        id: Uuid,
        worker_id: &str,
        report: &AttemptReport,
    ) -> StoreResult<bool> {
        dispatch!(self, heartbeat(id, worker_id, report))
    }

    /// Records success; `None` when the lease was lost meanwhile.
    pub async fn succeed(
        &self,
        id: Uuid,
        worker_id: &str,
        result: &serde_json::Value,
        timeline: &serde_json::Value,
    ) -> StoreResult<Option<Job>> {
        finishing(dispatch!(self, succeed(id, worker_id, result, timeline)))
    }

    /// Records a failure that retrying cannot fix; `None` when the lease was lost.
    pub async fn fail(
        &self,
        id: Uuid,
        worker_id: &str,
        error: &JobError,
        timeline: &serde_json::Value,
    ) -> StoreResult<Option<Job>> {
        finishing(dispatch!(self, fail(id, worker_id, error, timeline)))
    }

    /// Records a transient failure: the job runs again after `backoff`, or
    /// fails once its attempts are spent. `None` when the lease was lost.
    pub async fn retry(
        &self,
        id: Uuid,
        worker_id: &str,
        error: &JobError,
        backoff: Duration,
    ) -> StoreResult<Option<Job>> {
        finishing(dispatch!(self, retry(id, worker_id, error, backoff)))
    }

    /// Gives a job back to the queue without spending an attempt (shutdown).
    pub async fn requeue(&self, id: Uuid, worker_id: &str) -> StoreResult<bool> {
        dispatch!(self, requeue(id, worker_id))
    }

    /// Puts back in the queue running jobs whose worker stopped heartbeating.
    pub async fn requeue_stale(&self, lease_timeout: Duration) -> StoreResult<Vec<Uuid>> {
        finishing(dispatch!(self, requeue_stale(lease_timeout)))
    }

    /// Cancels a queued or running job, or deletes a finished one, if
    /// `scope` may see it.
    pub async fn remove(&self, scope: &Scope, id: Uuid) -> StoreResult<Removal> {
        finishing(dispatch!(self, remove(scope, id)))
    }

    /// Jobs waiting in the queue, for back-pressure on uploads.
    pub async fn count_queued(&self) -> StoreResult<i64> {
        dispatch!(self, count_queued())
    }

    /// Removes expired jobs, leaving tombstones; returns their ids so their
    /// files can go too.
    pub async fn expire(&self, keep_tombstones: Duration) -> StoreResult<Vec<Uuid>> {
        dispatch!(self, expire(keep_tombstones))
    }

    /// The status and current attempt of those of `ids` that still have a
    /// row, in one statement (for the orphan-file sweep).
    pub async fn job_states(&self, ids: &[Uuid]) -> StoreResult<Vec<(Uuid, JobStatus, i32)>> {
        dispatch!(self, job_states(ids))
    }

    /// Jobs queued and running now, across every process.
    pub async fn count_active(&self) -> StoreResult<(i64, i64)> {
        dispatch!(self, count_active())
    }
}
