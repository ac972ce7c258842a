//! The job table in PostgreSQL: every statement, each run inside a client
//! span (see `spans`), except the idle-poll housekeeping ones.

use std::time::Duration;

use chrono::{DateTime, Utc};

use sqlx::postgres::{PgPool, PgRow};
use sqlx::Row;

use uuid::Uuid;

use super::changes::JobChanges;
use super::postgres_sql::*;
use super::spans::{decode_error, DbTarget};
use super::{AttemptReport, Job, JobError, JobStatus, ListCursor, NewJob, Removal, Scope};

/// The statement that enqueues `job`.
fn insert_query(
    job: &NewJob,
) -> sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments> {
    sqlx::query(INSERT)
        .bind(job.id)
        .bind(&job.input_filename)
        .bind(job.input_bytes)
        .bind(&job.options)
        .bind(&job.traceparent)
        .bind(&job.tracestate)
        .bind(&job.trace_id)
        .bind(&job.idempotency_key)
        .bind(job.max_attempts)
        .bind(&job.request_digest)
        .bind(job.received_at)
        .bind(&job.callback_url)
        .bind(&job.tenant)
}

/// The job table. Cloning is cheap (a pool handle).
/// The job table in PostgreSQL: the production store, shared by every
/// process of a deployment.
#[derive(Clone, Debug)]
pub struct PgJobs {
    pool: PgPool,
    target: DbTarget,
    /// How long finished jobs and their files are kept.
    retention: Duration,
    /// Notifications of job changes from every process (one LISTEN).
    changes: JobChanges,
}

impl PgJobs {
    pub fn new(pool: PgPool, retention: Duration) -> PgJobs {
        let options = pool.connect_options();
        PgJobs {
            target: DbTarget {
                system: "postgresql",
                server_address: Some(options.get_host().to_string()),
                server_port: Some(options.get_port()),
                namespace: options.get_database().map(str::to_string),
            },
            changes: JobChanges::listening(&pool),
            pool,
            retention,
        }
    }

    pub fn changes(&self) -> &JobChanges {
        &self.changes
    }

    fn retention_secs(&self) -> f64 {
        self.retention.as_secs_f64()
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn target(&self) -> &DbTarget {
        &self.target
    }

    /// Enqueues a job whose input is already stored; `None` when its
    /// idempotency key is taken.
    pub async fn insert(&self, job: &NewJob) -> sqlx::Result<Option<Job>> {
        let query = insert_query(job).fetch_optional(&self.pool);
        let row = self.target.traced("INSERT enqueue", INSERT, query).await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// Enqueues a job already claimed by `worker_id`, in one transaction:
    /// no other worker can see it queued. `None` when its idempotency key is
    /// taken.
    pub async fn insert_claimed(
        &self,
        job: &NewJob,
        (worker_id, started_at): (&str, DateTime<Utc>),
    ) -> sqlx::Result<Option<Job>> {
        let mut transaction = self.pool.begin().await?;
        let insert = insert_query(job).fetch_optional(&mut *transaction);
        if self
            .target
            .traced("INSERT enqueue", INSERT, insert)
            .await?
            .is_none()
        {
            return Ok(None);
        }
        let claim = sqlx::query(CLAIM_ONE).bind(job.id).bind(worker_id);
        let claim = claim.bind(started_at).fetch_optional(&mut *transaction);
        let row = self.target.traced("UPDATE claim", CLAIM_ONE, claim).await?;
        transaction.commit().await?;
        row.as_ref().map(job_from_row).transpose()
    }

    pub async fn find_by_idempotency_key(
        &self,
        tenant: &str,
        key: &str,
    ) -> sqlx::Result<Option<Job>> {
        let query = sqlx::query(SELECT_BY_IDEMPOTENCY_KEY)
            .bind(tenant)
            .bind(key);
        let row = self
            .target
            .traced(
                "SELECT by idempotency key",
                SELECT_BY_IDEMPOTENCY_KEY,
                query.fetch_optional(&self.pool),
            )
            .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// Whether `id` named a job that expired and was removed.
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
        let row = self
            .target
            .traced("SELECT get", SELECT_ONE, query.fetch_optional(&self.pool))
            .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// Newest first, at most `limit`, after `cursor` when given.
    pub async fn list(
        &self,
        scope: &Scope,
        status: Option<JobStatus>,
        limit: i64,
        cursor: Option<&ListCursor>,
    ) -> sqlx::Result<Vec<Job>> {
        let query = sqlx::query(LIST)
            .bind(status.map(JobStatus::as_str))
            .bind(cursor.map(|c| c.created_at))
            .bind(cursor.map(|c| c.id))
            .bind(limit)
            .bind(scope.tenant());
        let rows = self
            .target
            .traced("SELECT list", LIST, query.fetch_all(&self.pool))
            .await?;
        rows.iter().map(job_from_row).collect()
    }

    /// Claims the oldest queued job for `worker_id`. Deliberately untraced:
    /// idle workers run it every poll, and the worker records the span of a
    /// successful claim inside the job's own trace (see `worker`).
    pub async fn claim(&self, worker_id: &str) -> sqlx::Result<Option<Job>> {
        let row = sqlx::query(CLAIM)
            .bind(worker_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// The SQL text of `claim`, for the span the worker records.
    pub const CLAIM_QUERY: &'static str = CLAIM;

    /// Renews the lease. `false` when the job is no longer this worker's to
    /// run: canceled, or requeued after its lease went stale.
    pub async fn heartbeat(
        &self,
        id: Uuid,
        worker_id: &str,
        report: &AttemptReport,
    ) -> sqlx::Result<bool> {
        let query = sqlx::query(HEARTBEAT)
            .bind(id)
            .bind(worker_id)
            .bind(&report.progress)
            .bind(&report.timeline);
        // No span: a running job heartbeats every few seconds, and a span per beat
        // would bury the job's trace; the job span counts the beats instead.
        let row = query.fetch_optional(&self.pool).await?;
        Ok(row.is_some())
    }

    /// Records success; `None` when the lease was lost meanwhile.
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
            .bind(result)
            .bind(self.retention_secs())
            .bind(timeline);
        let row = self
            .target
            .traced("UPDATE succeed", SUCCEED, query.fetch_optional(&self.pool))
            .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// Records failure; `None` when the lease was lost meanwhile.
    pub async fn fail(
        &self,
        id: Uuid,
        worker_id: &str,
        error: &JobError,
        timeline: &serde_json::Value,
    ) -> sqlx::Result<Option<Job>> {
        let query = sqlx::query(FAIL)
            .bind(id)
            .bind(worker_id)
            .bind(&error.code)
            .bind(&error.message)
            .bind(error.line)
            .bind(&error.column)
            .bind(self.retention_secs())
            .bind(timeline);
        let row = self
            .target
            .traced("UPDATE fail", FAIL, query.fetch_optional(&self.pool))
            .await?;
        row.as_ref().map(job_from_row).transpose()
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
        let query = sqlx::query(RETRY)
            .bind(id)
            .bind(worker_id)
            .bind(&error.code)
            .bind(&error.message)
            .bind(backoff.as_secs_f64())
            .bind(self.retention_secs());
        let row = self
            .target
            .traced("UPDATE retry", RETRY, query.fetch_optional(&self.pool))
            .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// Puts a job this worker holds back in the queue (shutdown, transient error).
    pub async fn requeue(&self, id: Uuid, worker_id: &str) -> sqlx::Result<bool> {
        let query = sqlx::query(REQUEUE).bind(id).bind(worker_id);
        let row = self
            .target
            .traced("UPDATE requeue", REQUEUE, query.fetch_optional(&self.pool))
            .await?;
        Ok(row.is_some())
    }

    /// Puts back in the queue running jobs whose worker stopped heartbeating.
    /// Untraced housekeeping, like `claim`.
    pub async fn requeue_stale(&self, lease_timeout: Duration) -> sqlx::Result<Vec<Uuid>> {
        let rows = sqlx::query(REQUEUE_STALE)
            .bind(lease_timeout.as_secs_f64())
            .bind(self.retention_secs())
            .bind(crate::error_code::LEASE_EXPIRED)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|row| row.try_get("id")).collect()
    }

    /// Cancels a queued or running job, or deletes a finished one.
    pub async fn remove(&self, scope: &Scope, id: Uuid) -> sqlx::Result<Removal> {
        let query = sqlx::query(CANCEL)
            .bind(id)
            .bind(self.retention_secs())
            .bind(scope.tenant());
        let canceled = self
            .target
            .traced("UPDATE cancel", CANCEL, query.fetch_optional(&self.pool))
            .await?;
        if let Some(row) = canceled {
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
                query.fetch_optional(&self.pool),
            )
            .await?;
        Ok(if deleted.is_some() {
            Removal::Deleted
        } else {
            Removal::NotFound
        })
    }

    /// Jobs waiting in the queue, for back-pressure on uploads.
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

    /// Removes the rows of expired jobs, leaving tombstones; returns their
    /// ids so their files can go too. Untraced housekeeping.
    pub async fn expire(&self, keep_tombstones: Duration) -> sqlx::Result<Vec<Uuid>> {
        let ids = sqlx::query_scalar(EXPIRE).fetch_all(&self.pool).await?;
        sqlx::query(PURGE_TOMBSTONES)
            .bind(keep_tombstones.as_secs_f64())
            .execute(&self.pool)
            .await?;
        Ok(ids)
    }

    /// Which of `ids` still have a row (for the orphan-file sweep).
    pub async fn job_states(&self, ids: &[Uuid]) -> sqlx::Result<Vec<(Uuid, JobStatus, i32)>> {
        let rows = sqlx::query(JOB_STATES)
            .bind(ids)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let status: String = row.try_get("status")?;
                Ok((
                    row.try_get("id")?,
                    JobStatus::parse(&status).ok_or_else(|| decode_error("status", &status))?,
                    row.try_get("attempts")?,
                ))
            })
            .collect()
    }

    /// Jobs queued and running now, across every process.
    pub async fn count_active(&self) -> sqlx::Result<(i64, i64)> {
        let row = sqlx::query(COUNT_ACTIVE).fetch_one(&self.pool).await?;
        Ok((row.try_get("queued")?, row.try_get("running")?))
    }
}

fn job_from_row(row: &PgRow) -> sqlx::Result<Job> {
    let status: String = row.try_get("status")?;
    let error = JobError::from_columns(
        row.try_get("error_code")?,
        row.try_get("error_message")?,
        row.try_get("error_line")?,
        row.try_get("error_column")?,
    );
    Ok(Job {
        id: row.try_get("id")?,
        status: JobStatus::parse(&status).ok_or_else(|| decode_error("status", &status))?,
        input_filename: row.try_get("input_filename")?,
        input_bytes: row.try_get("input_bytes")?,
        options: row.try_get("options")?,
        result: row.try_get("result")?,
        error,
        traceparent: row.try_get("traceparent")?,
        tracestate: row.try_get("tracestate")?,
        trace_id: row.try_get("trace_id")?,
        worker_id: row.try_get("worker_id")?,
        attempts: row.try_get("attempts")?,
        max_attempts: row.try_get("max_attempts")?,
        attempt_errors: row.try_get("attempt_errors")?,
        idempotency_key: row.try_get("idempotency_key")?,
        tenant: row.try_get("tenant")?,
        request_digest: row.try_get("request_digest")?,
        expires_at: row.try_get("expires_at")?,
        received_at: row.try_get("received_at")?,
        callback_url: row.try_get("callback_url")?,
        webhook: super::webhooks::delivery_of_pg_row(row)?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        progress: row.try_get("progress")?,
        timeline: row.try_get("timeline")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_writing_statement_returns_the_whole_row() {
        for statement in [INSERT, CLAIM, SUCCEED, FAIL, RETRY] {
            assert!(statement.ends_with("RETURNING *"));
        }
    }
}
