//! The job table in an embedded SQLite file: the zero-set-up store of a
//! single `parquetry serve` process. Same model and semantics as the
//! PostgreSQL store; instants are bound from Rust as microseconds since the
//! epoch, so every comparison is an integer one. SQLite runs one writer at a
//! time, so each claiming `UPDATE … WHERE id = (SELECT …) RETURNING` is
//! atomic without `SKIP LOCKED`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqlitePool;
use sqlx::Row;
use tokio::sync::Notify;
use uuid::Uuid;

use super::changes::{Change, JobChanges};
use super::spans::DbTarget;
use super::webhooks::jobs_with_webhook;
use super::sqlite_rows::{job_from_row, job_state};
use super::{AttemptReport, Job, JobError, JobStatus, ListCursor, NewJob, Removal};

const INSERT: &str = "INSERT INTO jobs (id, input_filename, input_bytes, options, traceparent, \
     tracestate, trace_id, idempotency_key, max_attempts, run_after, created_at, updated_at, \
     request_digest, received_at, callback_url) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?10, ?11, ?12, ?13) \
     ON CONFLICT (idempotency_key) DO NOTHING RETURNING *";
const SELECT_ONE: &str = concat!("SELECT * FROM ", jobs_with_webhook!(), " WHERE id = ?1");
const SELECT_BY_IDEMPOTENCY_KEY: &str =
    concat!("SELECT * FROM ", jobs_with_webhook!(), " WHERE idempotency_key = ?1");
const SELECT_EXPIRED: &str = "SELECT id FROM expired_jobs WHERE id = ?1";
const LIST: &str = concat!("SELECT * FROM ", jobs_with_webhook!(), " \
     WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR (created_at, id) < (?2, ?3)) \
     ORDER BY created_at DESC, id DESC LIMIT ?4");
const CLAIM: &str = "UPDATE jobs SET status = 'running', worker_id = ?1, \
     attempts = attempts + 1, started_at = ?2, heartbeat_at = ?2, updated_at = ?2, \
     progress = NULL, timeline = '[]' \
     WHERE id = (SELECT id FROM jobs WHERE status = 'queued' AND run_after <= ?2 \
                 ORDER BY created_at, id LIMIT 1) \
     RETURNING *";
/// Renews the lease and records the attempt's progress in the same statement.
const HEARTBEAT: &str = "UPDATE jobs SET heartbeat_at = ?3, updated_at = ?3, \
     progress = ?4, timeline = ?5 \
     WHERE id = ?1 AND worker_id = ?2 AND status = 'running' RETURNING id";
const SUCCEED: &str = "UPDATE jobs SET status = 'succeeded', result = ?3, finished_at = ?4, \
     progress = NULL, timeline = ?6, \
     heartbeat_at = NULL, updated_at = ?4, expires_at = ?5 \
     WHERE id = ?1 AND worker_id = ?2 AND status = 'running' RETURNING *";
const FAIL: &str = "UPDATE jobs SET status = 'failed', error_code = ?3, error_message = ?4, \
     progress = NULL, timeline = ?10, \
     error_line = ?5, error_column = ?6, finished_at = ?7, heartbeat_at = NULL, \
     updated_at = ?7, expires_at = ?8, \
     attempt_errors = json_insert(attempt_errors, '$[#]', json_object( \
         'attempt', attempts, 'code', ?3, 'message', ?4, 'at', ?9)) \
     WHERE id = ?1 AND worker_id = ?2 AND status = 'running' RETURNING *";
const RETRY: &str = "UPDATE jobs SET \
     status = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END, \
     error_code = CASE WHEN attempts >= max_attempts THEN ?3 END, \
     error_message = CASE WHEN attempts >= max_attempts THEN ?4 END, \
     finished_at = CASE WHEN attempts >= max_attempts THEN ?6 END, \
     expires_at = CASE WHEN attempts >= max_attempts THEN ?7 END, \
     run_after = ?5, worker_id = NULL, heartbeat_at = NULL, updated_at = ?6, progress = NULL, \
     attempt_errors = json_insert(attempt_errors, '$[#]', json_object( \
         'attempt', attempts, 'code', ?3, 'message', ?4, 'at', ?8)) \
     WHERE id = ?1 AND worker_id = ?2 AND status = 'running' RETURNING *";
const REQUEUE: &str = "UPDATE jobs SET status = 'queued', worker_id = NULL, progress = NULL, \
     heartbeat_at = NULL, attempts = max(attempts - 1, 0), updated_at = ?3 \
     WHERE id = ?1 AND worker_id = ?2 AND status = 'running' RETURNING id";
const REQUEUE_STALE: &str = "UPDATE jobs SET \
     status = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END, \
     error_code = CASE WHEN attempts >= max_attempts THEN ?5 END, \
     error_message = CASE WHEN attempts >= max_attempts \
         THEN 'the worker running this job stopped responding on every attempt' END, \
     finished_at = CASE WHEN attempts >= max_attempts THEN ?2 END, \
     expires_at = CASE WHEN attempts >= max_attempts THEN ?3 END, \
     worker_id = NULL, heartbeat_at = NULL, updated_at = ?2, progress = NULL, \
     attempt_errors = json_insert(attempt_errors, '$[#]', json_object( \
         'attempt', attempts, 'code', ?5, \
         'message', 'the worker stopped heartbeating', 'at', ?4)) \
     WHERE status = 'running' AND heartbeat_at < ?1 RETURNING id";
const CANCEL: &str = "UPDATE jobs SET status = 'canceled', finished_at = ?2, progress = NULL, \
     heartbeat_at = NULL, updated_at = ?2, expires_at = ?3 \
     WHERE id = ?1 AND status IN ('queued', 'running') RETURNING traceparent, tracestate";
const DELETE_FINISHED: &str = "DELETE FROM jobs WHERE id = ?1 \
     AND status IN ('succeeded', 'failed', 'canceled') RETURNING id";
const COUNT_ACTIVE: &str = "SELECT coalesce(sum(status = 'queued'), 0) AS queued, \
     coalesce(sum(status = 'running'), 0) AS running FROM jobs";
const COUNT_QUEUED: &str = "SELECT count(*) FROM jobs WHERE status = 'queued'";
const EXPIRE: &str = "DELETE FROM jobs WHERE expires_at < ?1 RETURNING id";
const TOMBSTONE: &str = "INSERT OR IGNORE INTO expired_jobs (id, expired_at) VALUES (?1, ?2)";
const PURGE_TOMBSTONES: &str = "DELETE FROM expired_jobs WHERE expired_at < ?1";
/// Ids travel as a JSON array of text UUIDs; the table keeps them as blobs.
const JOB_STATES: &str = "SELECT id, status, attempts FROM jobs \
     WHERE id IN (SELECT unhex(replace(value, '-', '')) FROM json_each(?1))";

fn micros(instant: DateTime<Utc>) -> i64 {
    instant.timestamp_micros()
}

fn later(delay: Duration) -> i64 {
    micros(Utc::now()) + i64::try_from(delay.as_micros()).unwrap_or(i64::MAX / 2)
}

fn earlier(delay: Duration) -> i64 {
    micros(Utc::now()) - i64::try_from(delay.as_micros()).unwrap_or(i64::MAX / 2)
}

/// The job table in SQLite.
#[derive(Clone, Debug)]
pub struct SqliteJobs {
    pool: SqlitePool,
    target: DbTarget,
    retention: Duration,
    /// Wakes this process's idle workers when a job becomes claimable: the
    /// in-process stand-in for PostgreSQL's LISTEN/NOTIFY.
    queued: Arc<Notify>,
    /// Wakes this process's requests waiting on a job that changed.
    changes: JobChanges,
}

impl SqliteJobs {
    pub fn new(pool: SqlitePool, retention: Duration) -> SqliteJobs {
        let namespace = pool
            .connect_options()
            .get_filename()
            .file_name()
            .map(|name| name.to_string_lossy().into_owned());
        SqliteJobs {
            pool,
            target: DbTarget {
                system: "sqlite",
                server_address: None,
                server_port: None,
                namespace,
            },
            retention,
            queued: Arc::new(Notify::new()),
            changes: JobChanges::in_process(),
        }
    }

    pub fn changes(&self) -> &JobChanges {
        &self.changes
    }

    /// Tells waiters that the job a statement returned changed.
    fn changed(&self, job: sqlx::Result<Option<Job>>) -> sqlx::Result<Option<Job>> {
        if let Ok(Some(job)) = &job {
            self.changes.publish(job.id, Change::Status);
        }
        job
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub fn target(&self) -> &DbTarget {
        &self.target
    }

    /// Resolves when a job was queued in this process.
    pub async fn job_queued(&self) {
        self.queued.notified().await
    }

    async fn one(
        &self,
        operation: &'static str,
        sql: &'static str,
        query: sqlx::query::Query<'_, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
    ) -> sqlx::Result<Option<Job>> {
        // `fetch_all`, not `fetch_optional`: SQLite commits an autocommitted
        // statement when it is stepped to its end, and `fetch_optional`
        // stops at the first RETURNING row, so a commit that fails (a full
        // disk) would go unnoticed and a lost row be reported as written.
        let rows = self
            .target
            .traced(operation, sql, query.fetch_all(&self.pool))
            .await?;
        rows.first().map(job_from_row).transpose()
    }

    /// Enqueues a job; `None` when its idempotency key is taken.
    pub async fn insert(&self, job: &NewJob) -> sqlx::Result<Option<Job>> {
        let query = sqlx::query(INSERT)
            .bind(job.id)
            .bind(&job.input_filename)
            .bind(job.input_bytes)
            .bind(job.options.to_string())
            .bind(&job.traceparent)
            .bind(&job.tracestate)
            .bind(&job.trace_id)
            .bind(&job.idempotency_key)
            .bind(job.max_attempts)
            .bind(micros(Utc::now()))
            .bind(&job.request_digest)
            .bind(micros(job.received_at))
            .bind(&job.callback_url);
        let created = self.one("INSERT enqueue", INSERT, query).await?;
        if created.is_some() {
            self.queued.notify_one();
        }
        Ok(created)
    }

    pub async fn find_by_idempotency_key(&self, key: &str) -> sqlx::Result<Option<Job>> {
        let query = sqlx::query(SELECT_BY_IDEMPOTENCY_KEY).bind(key);
        self.one(
            "SELECT by idempotency key",
            SELECT_BY_IDEMPOTENCY_KEY,
            query,
        )
        .await
    }

    pub async fn is_expired(&self, id: Uuid) -> sqlx::Result<bool> {
        let query = sqlx::query(SELECT_EXPIRED).bind(id);
        let row = self
            .target
            .traced(
                "SELECT expired",
                SELECT_EXPIRED,
                query.fetch_optional(&self.pool),
            )
            .await?;
        Ok(row.is_some())
    }

    pub async fn get(&self, id: Uuid) -> sqlx::Result<Option<Job>> {
        self.one("SELECT get", SELECT_ONE, sqlx::query(SELECT_ONE).bind(id))
            .await
    }

    pub async fn list(
        &self,
        status: Option<JobStatus>,
        limit: i64,
        cursor: Option<&ListCursor>,
    ) -> sqlx::Result<Vec<Job>> {
        let query = sqlx::query(LIST)
            .bind(status.map(JobStatus::as_str))
            .bind(cursor.map(|c| micros(c.created_at)))
            .bind(cursor.map(|c| c.id))
            .bind(limit);
        let rows = self
            .target
            .traced("SELECT list", LIST, query.fetch_all(&self.pool))
            .await?;
        rows.iter().map(job_from_row).collect()
    }

    /// Untraced, like the PostgreSQL claim: the worker records its span.
    pub async fn claim(&self, worker_id: &str) -> sqlx::Result<Option<Job>> {
        let row = sqlx::query(CLAIM)
            .bind(worker_id)
            .bind(micros(Utc::now()))
            .fetch_all(&self.pool)
            .await?;
        self.changed(row.first().map(job_from_row).transpose())
    }

    pub const CLAIM_QUERY: &'static str = CLAIM;

    pub async fn heartbeat(
        &self,
        id: Uuid,
        worker_id: &str,
        report: &AttemptReport,
    ) -> sqlx::Result<bool> {
        let query = sqlx::query(HEARTBEAT)
            .bind(id)
            .bind(worker_id)
            .bind(micros(Utc::now()))
            .bind(report.progress.as_ref().map(|p| p.to_string()))
            .bind(report.timeline.to_string());
        // No span: see PgJobs::heartbeat.
        let row = query.fetch_all(&self.pool).await?;
        if !row.is_empty() {
            self.changes.publish(id, Change::Progress);
        }
        Ok(!row.is_empty())
    }

    pub async fn succeed(
        &self,
        id: Uuid,
        worker_id: &str,
        result: &serde_json::Value,
        timeline: &serde_json::Value,
    ) -> sqlx::Result<Option<Job>> {
        let query = sqlx::query(SUCCEED)
            .bind(id)
            .bind(worker_id)
            .bind(result.to_string())
            .bind(micros(Utc::now()))
            .bind(later(self.retention))
            .bind(timeline.to_string());
        self.changed(self.one("UPDATE succeed", SUCCEED, query).await)
    }

    pub async fn fail(
        &self,
        id: Uuid,
        worker_id: &str,
        error: &JobError,
        timeline: &serde_json::Value,
    ) -> sqlx::Result<Option<Job>> {
        let now = Utc::now();
        let query = sqlx::query(FAIL)
            .bind(id)
            .bind(worker_id)
            .bind(&error.code)
            .bind(&error.message)
            .bind(error.line)
            .bind(&error.column)
            .bind(micros(now))
            .bind(later(self.retention))
            .bind(now.to_rfc3339())
            .bind(timeline.to_string());
        self.changed(self.one("UPDATE fail", FAIL, query).await)
    }

    pub async fn retry(
        &self,
        id: Uuid,
        worker_id: &str,
        error: &JobError,
        backoff: Duration,
    ) -> sqlx::Result<Option<Job>> {
        let now = Utc::now();
        let query = sqlx::query(RETRY)
            .bind(id)
            .bind(worker_id)
            .bind(&error.code)
            .bind(&error.message)
            .bind(later(backoff))
            .bind(micros(now))
            .bind(later(self.retention))
            .bind(now.to_rfc3339());
        let job = self.changed(self.one("UPDATE retry", RETRY, query).await)?;
        self.wake_after(backoff);
        Ok(job)
    }

    /// Wakes a worker when a retried job becomes claimable again.
    fn wake_after(&self, delay: Duration) {
        let queued = self.queued.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            queued.notify_one();
        });
    }

    pub async fn requeue(&self, id: Uuid, worker_id: &str) -> sqlx::Result<bool> {
        let query = sqlx::query(REQUEUE)
            .bind(id)
            .bind(worker_id)
            .bind(micros(Utc::now()));
        let row = self
            .target
            .traced("UPDATE requeue", REQUEUE, query.fetch_all(&self.pool))
            .await?;
        self.queued.notify_one();
        self.changes.publish(id, Change::Status);
        Ok(!row.is_empty())
    }

    pub async fn requeue_stale(&self, lease_timeout: Duration) -> sqlx::Result<Vec<Uuid>> {
        let now = Utc::now();
        let rows = sqlx::query(REQUEUE_STALE)
            .bind(earlier(lease_timeout))
            .bind(micros(now))
            .bind(later(self.retention))
            .bind(now.to_rfc3339())
            .bind(crate::error_code::LEASE_EXPIRED)
            .fetch_all(&self.pool)
            .await?;
        if !rows.is_empty() {
            self.queued.notify_one();
        }
        let ids: Vec<Uuid> = rows
            .iter()
            .map(|row| row.try_get("id"))
            .collect::<sqlx::Result<_>>()?;
        for id in &ids {
            self.changes.publish(*id, Change::Status);
        }
        Ok(ids)
    }

    pub async fn remove(&self, id: Uuid) -> sqlx::Result<Removal> {
        let query = sqlx::query(CANCEL)
            .bind(id)
            .bind(micros(Utc::now()))
            .bind(later(self.retention));
        let canceled = self
            .target
            .traced("UPDATE cancel", CANCEL, query.fetch_all(&self.pool))
            .await?;
        if let Some(row) = canceled.first() {
            self.changes.publish(id, Change::Status);
            return Ok(Removal::Canceled {
                traceparent: row.try_get("traceparent")?,
                tracestate: row.try_get("tracestate")?,
            });
        }
        let query = sqlx::query(DELETE_FINISHED).bind(id);
        let deleted = self
            .target
            .traced(
                "DELETE delete",
                DELETE_FINISHED,
                query.fetch_all(&self.pool),
            )
            .await?;
        Ok(if !deleted.is_empty() {
            Removal::Deleted
        } else {
            Removal::NotFound
        })
    }

    pub async fn count_queued(&self) -> sqlx::Result<i64> {
        let query = sqlx::query_scalar(COUNT_QUEUED);
        self.target
            .traced(
                "SELECT count queued",
                COUNT_QUEUED,
                query.fetch_one(&self.pool),
            )
            .await
    }

    /// Removes expired jobs and leaves their tombstones, in one transaction
    /// (as PostgreSQL's one statement): an id never loses both its row and
    /// its tombstone.
    pub async fn expire(&self, keep_tombstones: Duration) -> sqlx::Result<Vec<Uuid>> {
        let now = micros(Utc::now());
        let mut transaction = self.pool.begin().await?;
        let ids: Vec<Uuid> = sqlx::query_scalar(EXPIRE)
            .bind(now)
            .fetch_all(&mut *transaction)
            .await?;
        for id in &ids {
            sqlx::query(TOMBSTONE)
                .bind(id)
                .bind(now)
                .execute(&mut *transaction)
                .await?;
        }
        sqlx::query(PURGE_TOMBSTONES)
            .bind(earlier(keep_tombstones))
            .execute(&mut *transaction)
            .await?;
        transaction.commit().await?;
        Ok(ids)
    }

    pub async fn job_states(&self, ids: &[Uuid]) -> sqlx::Result<Vec<(Uuid, JobStatus, i32)>> {
        let ids = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
        let rows = sqlx::query(JOB_STATES)
            .bind(ids)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(job_state).collect()
    }

    pub async fn count_active(&self) -> sqlx::Result<(i64, i64)> {
        let row = sqlx::query(COUNT_ACTIVE).fetch_one(&self.pool).await?;
        Ok((row.try_get("queued")?, row.try_get("running")?))
    }
}
