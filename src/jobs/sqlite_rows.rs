//! Rows of the SQLite job table decoded into the model: instants are
//! microseconds since the epoch, JSON columns are text.

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use uuid::Uuid;

use super::spans::decode_error;
use super::{Job, JobError, JobStatus};

pub(super) fn instant(row: &SqliteRow, column: &str) -> sqlx::Result<Option<DateTime<Utc>>> {
    let micros: Option<i64> = row.try_get(column)?;
    Ok(micros.and_then(DateTime::from_timestamp_micros))
}

pub(super) fn json(row: &SqliteRow, column: &str) -> sqlx::Result<Option<serde_json::Value>> {
    let text: Option<String> = row.try_get(column)?;
    text.map(|t| serde_json::from_str(&t).map_err(|_| decode_error(column, &t)))
        .transpose()
}

pub(super) fn job_state(row: &SqliteRow) -> sqlx::Result<(Uuid, JobStatus, i32)> {
    let status: String = row.try_get("status")?;
    Ok((
        row.try_get("id")?,
        JobStatus::parse(&status).ok_or_else(|| decode_error("status", &status))?,
        row.try_get("attempts")?,
    ))
}

pub(super) fn job_from_row(row: &SqliteRow) -> sqlx::Result<Job> {
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
        options: json(row, "options")?.unwrap_or_default(),
        result: json(row, "result")?,
        error,
        traceparent: row.try_get("traceparent")?,
        tracestate: row.try_get("tracestate")?,
        trace_id: row.try_get("trace_id")?,
        worker_id: row.try_get("worker_id")?,
        attempts: row.try_get("attempts")?,
        max_attempts: row.try_get("max_attempts")?,
        attempt_errors: json(row, "attempt_errors")?.unwrap_or_default(),
        idempotency_key: row.try_get("idempotency_key")?,
        tenant: row.try_get("tenant")?,
        request_digest: row.try_get("request_digest")?,
        expires_at: instant(row, "expires_at")?,
        received_at: instant(row, "received_at")?,
        callback_url: row.try_get("callback_url")?,
        webhook: super::webhooks::delivery_of_sqlite_row(row)?,
        created_at: instant(row, "created_at")?
            .ok_or_else(|| decode_error("created_at", "null"))?,
        started_at: instant(row, "started_at")?,
        finished_at: instant(row, "finished_at")?,
        progress: json(row, "progress")?,
        timeline: json(row, "timeline")?.unwrap_or_default(),
    })
}
