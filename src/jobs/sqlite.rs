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
use super::sqlite_rows::{job_from_row, job_state};
use super::sqlite_sql::*;
use super::{AttemptReport, Job, JobError, JobStatus, ListCursor, NewJob, Removal, Scope};

fn micros(instant: DateTime<Utc>) -> i64 {
    instant.timestamp_micros()
}

/// The statement that enqueues `job`.
fn insert_query(
    job: &NewJob,
) -> sqlx::query::Query<'_, sqlx::Sqlite, sqlx::sqlite::SqliteArguments> {
    sqlx::query(INSERT)
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
        .bind(&job.callback_url)
        .bind(&job.tenant)
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
        let created = self
            .one("INSERT enqueue", INSERT, insert_query(job))
            .await?;
        if created.is_some() {
            self.queued.notify_one();
        }
        Ok(created)
    }

    /// Enqueues a job already claimed by `worker_id`, in one transaction;
    /// `None` when its idempotency key is taken.
    pub async fn insert_claimed(
        &self,
        job: &NewJob,
        (worker_id, started_at): (&str, DateTime<Utc>),
    ) -> sqlx::Result<Option<Job>> {
        let mut transaction = self.pool.begin().await?;
        let insert = insert_query(job).fetch_all(&mut *transaction);
        if self
            .target
            .traced("INSERT enqueue", INSERT, insert)
            .await?
            .is_empty()
        {
            return Ok(None);
        }
        let claim = sqlx::query(CLAIM_ONE).bind(job.id).bind(worker_id);
        let claim = claim.bind(micros(Utc::now())).bind(micros(started_at));
        let claim = claim.fetch_all(&mut *transaction);
        let rows = self.target.traced("UPDATE claim", CLAIM_ONE, claim).await?;
        transaction.commit().await?;
        self.changed(rows.first().map(job_from_row).transpose())
    }

    pub async fn find_by_idempotency_key(
        &self,
        tenant: &str,
        key: &str,
    ) -> sqlx::Result<Option<Job>> {
        let query = sqlx::query(SELECT_BY_IDEMPOTENCY_KEY)
            .bind(tenant)
            .bind(key);
        self.one(
            "SELECT by idempotency key",
            SELECT_BY_IDEMPOTENCY_KEY,
            query,
        )
        .await
    }

    pub async fn is_expired(&self, scope: &Scope, id: Uuid) -> sqlx::Result<bool> {
        let query = sqlx::query(SELECT_EXPIRED).bind(id).bind(scope.tenant());
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

    pub async fn get(&self, scope: &Scope, id: Uuid) -> sqlx::Result<Option<Job>> {
        let query = sqlx::query(SELECT_ONE).bind(id).bind(scope.tenant());
        self.one("SELECT get", SELECT_ONE, query).await
    }

    pub async fn list(
        &self,
        scope: &Scope,
        status: Option<JobStatus>,
        limit: i64,
        cursor: Option<&ListCursor>,
    ) -> sqlx::Result<Vec<Job>> {
        let query = sqlx::query(LIST)
            .bind(status.map(JobStatus::as_str))
            .bind(cursor.map(|c| micros(c.created_at)))
            .bind(cursor.map(|c| c.id))
            .bind(limit)
            .bind(scope.tenant());
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

    pub async fn remove(&self, scope: &Scope, id: Uuid) -> sqlx::Result<Removal> {
        let query = sqlx::query(CANCEL)
            .bind(id)
            .bind(micros(Utc::now()))
            .bind(later(self.retention))
            .bind(scope.tenant());
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
        let query = sqlx::query(DELETE_FINISHED).bind(id).bind(scope.tenant());
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
        let expired: Vec<(Uuid, String)> = sqlx::query_as(EXPIRE)
            .bind(now)
            .fetch_all(&mut *transaction)
            .await?;
        for (id, tenant) in &expired {
            sqlx::query(TOMBSTONE)
                .bind(id)
                .bind(now)
                .bind(tenant)
                .execute(&mut *transaction)
                .await?;
        }
        let ids = expired.into_iter().map(|(id, _)| id).collect();
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
