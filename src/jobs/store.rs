//! Every SQL statement of the job table, each run inside a client span that
//! follows the OpenTelemetry database conventions (sqlx makes no spans).

use std::future::Future;
use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgPool, PgRow};
use sqlx::Row;
use tracing::{field::Empty, Instrument};
use uuid::Uuid;

use super::{Job, JobError, JobStatus, NewJob, Removal};

macro_rules! returning {
    ($sql:literal) => {
        concat!(
            $sql,
            " RETURNING id, status, input_filename, input_bytes, options, result, \
             error_code, error_message, error_line, error_column, traceparent, tracestate, \
             trace_id, worker_id, attempts, created_at, started_at, finished_at"
        )
    };
}

const INSERT: &str = returning!(
    "INSERT INTO jobs (id, input_filename, input_bytes, options, traceparent, tracestate, trace_id) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)"
);
const SELECT_ONE: &str = "SELECT * FROM jobs WHERE id = $1";
const LIST: &str = "SELECT * FROM jobs \
     WHERE ($1::text IS NULL OR status = $1) \
       AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3)) \
     ORDER BY created_at DESC, id DESC LIMIT $4";
/// One autocommitted statement: the row lock of `SKIP LOCKED` lives only as
/// long as the statement, so no transaction is held while the job converts.
const CLAIM: &str = returning!(
    "UPDATE jobs SET status = 'running', worker_id = $1, attempts = attempts + 1, \
     started_at = now(), heartbeat_at = now(), updated_at = now() \
     WHERE id = (SELECT id FROM jobs WHERE status = 'queued' \
                 ORDER BY created_at, id FOR UPDATE SKIP LOCKED LIMIT 1)"
);
const HEARTBEAT: &str = "UPDATE jobs SET heartbeat_at = now(), updated_at = now() \
     WHERE id = $1 AND worker_id = $2 AND status = 'running' RETURNING id";
const SUCCEED: &str = returning!(
    "UPDATE jobs SET status = 'succeeded', result = $3, finished_at = now(), \
     heartbeat_at = NULL, updated_at = now() \
     WHERE id = $1 AND worker_id = $2 AND status = 'running'"
);
const FAIL: &str = returning!(
    "UPDATE jobs SET status = 'failed', error_code = $3, error_message = $4, \
     error_line = $5, error_column = $6, finished_at = now(), heartbeat_at = NULL, \
     updated_at = now() \
     WHERE id = $1 AND worker_id = $2 AND status = 'running'"
);
const REQUEUE: &str = "UPDATE jobs SET status = 'queued', worker_id = NULL, \
     heartbeat_at = NULL, updated_at = now() \
     WHERE id = $1 AND worker_id = $2 AND status = 'running' RETURNING id";
const REQUEUE_STALE: &str = "UPDATE jobs SET status = 'queued', worker_id = NULL, \
     heartbeat_at = NULL, updated_at = now() \
     WHERE status = 'running' AND heartbeat_at < now() - make_interval(secs => $1) \
     RETURNING id";
const CANCEL: &str = "UPDATE jobs AS j SET status = 'canceled', finished_at = now(), \
     heartbeat_at = NULL, updated_at = now() \
     FROM (SELECT id, status FROM jobs WHERE id = $1 FOR UPDATE) AS previous \
     WHERE j.id = previous.id AND previous.status IN ('queued', 'running') \
     RETURNING previous.status";
const DELETE_FINISHED: &str = "DELETE FROM jobs WHERE id = $1 \
     AND status IN ('succeeded', 'failed', 'canceled') RETURNING id";
const COUNT_ACTIVE: &str = "SELECT count(*) FILTER (WHERE status = 'queued') AS queued, \
     count(*) FILTER (WHERE status = 'running') AS running FROM jobs";

/// The position after the last job of a page: jobs are listed newest first
/// by `(created_at, id)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCursor {
    pub created_at: DateTime<Utc>,
    pub id: Uuid,
}

impl ListCursor {
    /// An opaque token for clients.
    pub fn encode(&self) -> String {
        let raw = format!("{}|{}", self.created_at.timestamp_micros(), self.id);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    }

    /// `None` when the token is not one `encode` made.
    pub fn decode(token: &str) -> Option<ListCursor> {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let (micros, id) = raw.split_once('|')?;
        Some(ListCursor {
            created_at: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            id: id.parse().ok()?,
        })
    }
}

/// The job table. Cloning is cheap (a pool handle).
#[derive(Clone, Debug)]
pub struct JobStore {
    pool: PgPool,
    server_address: String,
    server_port: u16,
}

impl JobStore {
    pub fn new(pool: PgPool) -> JobStore {
        let options = pool.connect_options();
        JobStore {
            server_address: options.get_host().to_string(),
            server_port: options.get_port(),
            pool,
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The database attributes of a span of `query`, for spans recorded
    /// through the OpenTelemetry API directly (see `claim`).
    pub fn span_attributes(
        &self,
        operation: &'static str,
        query: &'static str,
    ) -> Vec<opentelemetry::KeyValue> {
        use opentelemetry::KeyValue;
        vec![
            KeyValue::new("db.system.name", "postgresql"),
            KeyValue::new("db.operation.name", operation),
            KeyValue::new("db.collection.name", "jobs"),
            KeyValue::new("db.query.text", query),
            KeyValue::new("server.address", self.server_address.clone()),
            KeyValue::new("server.port", i64::from(self.server_port)),
        ]
    }

    /// Runs one statement inside a client span named `OPERATION jobs`.
    async fn traced<T, F>(
        &self,
        operation: &'static str,
        query: &'static str,
        run: F,
    ) -> sqlx::Result<T>
    where
        F: Future<Output = sqlx::Result<T>>,
    {
        let span = tracing::info_span!(
            "db.query",
            otel.name = format!("{operation} jobs"),
            otel.kind = "client",
            otel.status_code = Empty,
            db.system.name = "postgresql",
            db.operation.name = operation,
            db.collection.name = "jobs",
            db.query.text = query,
            server.address = self.server_address.as_str(),
            server.port = self.server_port,
            error.type = Empty,
        );
        let outcome = run.instrument(span.clone()).await;
        if let Err(error) = &outcome {
            span.record("otel.status_code", "ERROR");
            span.record("error.type", sqlx_error_type(error));
        }
        outcome
    }

    /// Enqueues a job whose input is already stored.
    pub async fn insert(&self, job: &NewJob) -> sqlx::Result<Job> {
        let query = sqlx::query(INSERT)
            .bind(job.id)
            .bind(&job.input_filename)
            .bind(job.input_bytes)
            .bind(&job.options)
            .bind(&job.traceparent)
            .bind(&job.tracestate)
            .bind(&job.trace_id);
        let row = self
            .traced("INSERT", INSERT, query.fetch_one(&self.pool))
            .await?;
        job_from_row(&row)
    }

    pub async fn get(&self, id: Uuid) -> sqlx::Result<Option<Job>> {
        let query = sqlx::query(SELECT_ONE).bind(id);
        let row = self
            .traced("SELECT", SELECT_ONE, query.fetch_optional(&self.pool))
            .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// Newest first, at most `limit`, after `cursor` when given.
    pub async fn list(
        &self,
        status: Option<JobStatus>,
        limit: i64,
        cursor: Option<&ListCursor>,
    ) -> sqlx::Result<Vec<Job>> {
        let query = sqlx::query(LIST)
            .bind(status.map(JobStatus::as_str))
            .bind(cursor.map(|c| c.created_at))
            .bind(cursor.map(|c| c.id))
            .bind(limit);
        let rows = self
            .traced("SELECT", LIST, query.fetch_all(&self.pool))
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
    pub async fn heartbeat(&self, id: Uuid, worker_id: &str) -> sqlx::Result<bool> {
        let query = sqlx::query(HEARTBEAT).bind(id).bind(worker_id);
        let row = self
            .traced("UPDATE", HEARTBEAT, query.fetch_optional(&self.pool))
            .await?;
        Ok(row.is_some())
    }

    /// Records success; `None` when the lease was lost meanwhile.
    pub async fn succeed(
        &self,
        id: Uuid,
        worker_id: &str,
        result: &serde_json::Value,
    ) -> sqlx::Result<Option<Job>> {
        let query = sqlx::query(SUCCEED).bind(id).bind(worker_id).bind(result);
        let row = self
            .traced("UPDATE", SUCCEED, query.fetch_optional(&self.pool))
            .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// Records failure; `None` when the lease was lost meanwhile.
    pub async fn fail(
        &self,
        id: Uuid,
        worker_id: &str,
        error: &JobError,
    ) -> sqlx::Result<Option<Job>> {
        let query = sqlx::query(FAIL)
            .bind(id)
            .bind(worker_id)
            .bind(&error.code)
            .bind(&error.message)
            .bind(error.line)
            .bind(&error.column);
        let row = self
            .traced("UPDATE", FAIL, query.fetch_optional(&self.pool))
            .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// Puts a job this worker holds back in the queue (shutdown, transient error).
    pub async fn requeue(&self, id: Uuid, worker_id: &str) -> sqlx::Result<bool> {
        let query = sqlx::query(REQUEUE).bind(id).bind(worker_id);
        let row = self
            .traced("UPDATE", REQUEUE, query.fetch_optional(&self.pool))
            .await?;
        Ok(row.is_some())
    }

    /// Puts back in the queue running jobs whose worker stopped heartbeating.
    /// Untraced housekeeping, like `claim`.
    pub async fn requeue_stale(&self, lease_timeout: Duration) -> sqlx::Result<Vec<Uuid>> {
        let rows = sqlx::query(REQUEUE_STALE)
            .bind(lease_timeout.as_secs_f64())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|row| row.try_get("id")).collect()
    }

    /// Cancels a queued or running job, or deletes a finished one.
    pub async fn remove(&self, id: Uuid) -> sqlx::Result<Removal> {
        let query = sqlx::query(CANCEL).bind(id);
        let canceled = self
            .traced("UPDATE", CANCEL, query.fetch_optional(&self.pool))
            .await?;
        if let Some(row) = canceled {
            let was: String = row.try_get("status")?;
            let was = JobStatus::parse(&was).ok_or_else(|| decode_error("status", &was))?;
            return Ok(Removal::Canceled { was });
        }
        let query = sqlx::query(DELETE_FINISHED).bind(id);
        let deleted = self
            .traced("DELETE", DELETE_FINISHED, query.fetch_optional(&self.pool))
            .await?;
        Ok(if deleted.is_some() {
            Removal::Deleted
        } else {
            Removal::NotFound
        })
    }

    /// Jobs queued and running now, across every process.
    pub async fn count_active(&self) -> sqlx::Result<(i64, i64)> {
        let row = sqlx::query(COUNT_ACTIVE).fetch_one(&self.pool).await?;
        Ok((row.try_get("queued")?, row.try_get("running")?))
    }
}

fn job_from_row(row: &PgRow) -> sqlx::Result<Job> {
    let status: String = row.try_get("status")?;
    let error_code: Option<String> = row.try_get("error_code")?;
    let error = match error_code {
        Some(code) => Some(JobError {
            code,
            message: row
                .try_get::<Option<String>, _>("error_message")?
                .unwrap_or_default(),
            line: row.try_get("error_line")?,
            column: row.try_get("error_column")?,
        }),
        None => None,
    };
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
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}

fn decode_error(column: &str, value: &str) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: column.to_string(),
        source: format!("unexpected value {value:?}").into(),
    }
}

/// A low-cardinality name for the `error.type` attribute.
fn sqlx_error_type(error: &sqlx::Error) -> &'static str {
    match error {
        sqlx::Error::Database(_) => "database",
        sqlx::Error::PoolTimedOut => "pool_timed_out",
        sqlx::Error::Io(_) => "io",
        sqlx::Error::RowNotFound => "row_not_found",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_survives_its_round_trip() {
        let cursor = ListCursor {
            created_at: DateTime::from_timestamp_micros(1_764_000_000_123_456).unwrap(),
            id: Uuid::new_v4(),
        };
        assert_eq!(ListCursor::decode(&cursor.encode()), Some(cursor));
    }

    #[test]
    fn a_forged_cursor_is_refused() {
        assert_eq!(ListCursor::decode("not a cursor"), None);
        assert_eq!(ListCursor::decode("MTIz"), None);
    }

    #[test]
    fn every_writing_statement_returns_the_whole_row() {
        for statement in [INSERT, CLAIM, SUCCEED, FAIL] {
            assert!(statement.contains("RETURNING id, status, input_filename"));
        }
    }
}
