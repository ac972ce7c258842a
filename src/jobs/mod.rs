//! The job table: the model of a conversion job and, in `store`, every SQL
//! statement that touches it.

mod changes;
mod cursor;
mod error;
mod keys;
mod keys_sql;
mod listen;
mod migrations;
mod options;
mod postgres;
mod postgres_sql;
mod quota;
mod scope;
mod secrets;
mod spans;
mod sqlite;
mod sqlite_rows;
mod sqlite_sql;
mod store;
mod wakeup;
mod webhooks;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

pub use changes::{Change, JobChanges, JobWatch};
pub use cursor::ListCursor;
pub use error::{StoreError, StoreResult};
pub use keys::{is_valid_name, ApiKey, KeyCheck, NewKey};
pub use options::StoredOptions;
pub use quota::{KeyQuotas, Usage};
pub use scope::{Principal, Scope, DEFAULT_TENANT};
pub use store::{JobStore, SQLITE_FILE};
pub use wakeup::QueueListener;
pub use webhooks::{AttemptOutcome, ClaimedDelivery, WebhookDelivery};

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Canceled,
}

impl JobStatus {
    pub const ALL: [JobStatus; 5] = [
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Succeeded,
        JobStatus::Failed,
        JobStatus::Canceled,
    ];

    /// The spelling used in the database and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Canceled => "canceled",
        }
    }

    pub fn parse(text: &str) -> Option<JobStatus> {
        JobStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Finished jobs never change status again.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::Canceled
        )
    }
}

/// Why a job failed, as shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobError {
    pub code: String,
    pub message: String,
    /// 1-based line of the CSV where the faulty record starts.
    pub line: Option<i64>,
    pub column: Option<String>,
}

impl JobError {
    /// The error of a row, from its `error_*` columns; none without a code.
    pub fn from_columns(
        code: Option<String>,
        message: Option<String>,
        line: Option<i64>,
        column: Option<String>,
    ) -> Option<JobError> {
        Some(JobError {
            code: code?,
            message: message.unwrap_or_default(),
            line,
            column,
        })
    }
}

/// A row of the job table.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: Uuid,
    pub status: JobStatus,
    pub input_filename: String,
    pub input_bytes: i64,
    /// The conversion options as given: an object of name → text value.
    pub options: serde_json::Value,
    /// The conversion report, once succeeded.
    pub result: Option<serde_json::Value>,
    pub error: Option<JobError>,
    /// W3C `traceparent` of the enqueue span.
    pub traceparent: Option<String>,
    pub tracestate: Option<String>,
    pub trace_id: Option<String>,
    pub worker_id: Option<String>,
    pub attempts: i32,
    pub max_attempts: i32,
    /// `[{attempt, code, message, at}]` for each attempt that did not succeed.
    pub attempt_errors: serde_json::Value,
    pub idempotency_key: Option<String>,
    /// The tenant of the key that created the job (`default` when open).
    pub tenant: String,
    /// Digest of the request that created the job with its idempotency key.
    pub request_digest: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Where the job's webhook goes when it finishes, if anywhere.
    pub callback_url: Option<String>,
    /// The webhook's delivery, once the job finished (reads of one job or a
    /// list only; writes return the job without it).
    pub webhook: Option<WebhookDelivery>,
    /// When the upload began to arrive (unknown for jobs of older versions).
    pub received_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// How far the running attempt got, as its heartbeat last wrote it.
    pub progress: Option<serde_json::Value>,
    /// When each stage of the current attempt began: `[{stage, at}]`.
    pub timeline: serde_json::Value,
}

/// What an upload hands to the store to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub id: Uuid,
    pub input_filename: String,
    pub input_bytes: i64,
    pub options: serde_json::Value,
    pub traceparent: Option<String>,
    pub tracestate: Option<String>,
    pub trace_id: Option<String>,
    pub idempotency_key: Option<String>,
    pub request_digest: Option<String>,
    /// The tenant of the key that uploads it.
    pub tenant: String,
    pub max_attempts: i32,
    /// When the upload began to arrive.
    pub received_at: DateTime<Utc>,
    /// Where the job's webhook goes when it finishes, if anywhere.
    pub callback_url: Option<String>,
}

/// What the heartbeat of a running attempt writes with the lease, and the
/// attempt's final statement with its outcome.
#[derive(Debug, Clone, Default)]
pub struct AttemptReport {
    /// `None` until the conversion started.
    pub progress: Option<serde_json::Value>,
    /// When each stage began: `[{stage, at}]`.
    pub timeline: serde_json::Value,
}

/// What `JobStore::insert` did.
#[derive(Debug, Clone)]
pub enum Inserted {
    Created(Job),
    /// A job with the same idempotency key exists: this is it.
    Existing(Job),
}

/// What `DELETE /v1/jobs/{id}` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// The job was queued or running and is now canceled; its upload's
    /// trace context, so that the cancel can link to the job's trace.
    Canceled {
        traceparent: Option<String>,
        tracestate: Option<String>,
    },
    /// The job had finished; its row is gone.
    Deleted,
    NotFound,
}
