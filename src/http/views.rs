//! The JSON shapes of the API.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::rfc3339;
use super::timeline::{self, TimelineEntry};
use super::webhook_view::WebhookView;
use crate::jobs::{Job, JobError, JobStatus, ListCursor};

#[derive(Debug, Serialize)]
pub struct InputView {
    pub filename: String,
    pub bytes: i64,
}

#[derive(Debug, Serialize)]
pub struct LinksView {
    #[serde(rename = "self")]
    pub self_link: String,
    pub result: String,
    pub preview: String,
    pub rejects: String,
    /// The job's Server-Sent Events stream.
    pub events: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
}

/// A job as `GET /v1/jobs/{id}` shows it.
#[derive(Debug, Serialize)]
pub struct JobView {
    pub id: Uuid,
    pub status: JobStatus,
    /// Whose job it is: the tenant of the key that made it. A caller only
    /// ever sees its own tenant's jobs, but an admin key sees every tenant's.
    pub tenant: String,
    #[serde(serialize_with = "rfc3339::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339::serialize_option")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "rfc3339::serialize_option")]
    pub finished_at: Option<DateTime<Utc>>,
    pub attempts: i32,
    pub max_attempts: i32,
    /// The error of each attempt that did not succeed.
    pub attempt_errors: serde_json::Value,
    /// When the job and its files will be removed (finished jobs only).
    #[serde(serialize_with = "rfc3339::serialize_option")]
    pub expires_at: Option<DateTime<Utc>>,
    pub input: InputView,
    pub options: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<JobError>,
    pub trace_id: Option<String>,
    /// How far the running attempt got (running jobs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<serde_json::Value>,
    /// When each step of the job began and how long it took.
    pub timeline: Vec<TimelineEntry>,
    /// The job's webhook, when it has a callback URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookView>,
    pub links: LinksView,
}

impl JobView {
    /// `trace_url` is a template with `{trace_id}` in it (`PARQUETRY_TRACE_URL`).
    pub fn new(job: Job, trace_url: Option<&str>) -> JobView {
        let trace = match (trace_url, &job.trace_id) {
            (Some(template), Some(trace_id)) => Some(template.replace("{trace_id}", trace_id)),
            _ => None,
        };
        let timeline = timeline::of(&job);
        let webhook = WebhookView::of(&job);
        let progress = if timeline::shows_progress(&job) {
            job.progress
        } else {
            None
        };
        JobView {
            progress,
            timeline,
            webhook,
            links: LinksView {
                self_link: format!("/v1/jobs/{}", job.id),
                result: format!("/v1/jobs/{}/result", job.id),
                preview: format!("/v1/jobs/{}/preview", job.id),
                rejects: format!("/v1/jobs/{}/rejects", job.id),
                events: format!("/v1/jobs/{}/events", job.id),
                trace,
            },
            id: job.id,
            status: job.status,
            tenant: job.tenant,
            created_at: job.created_at,
            started_at: job.started_at,
            finished_at: job.finished_at,
            attempts: job.attempts,
            max_attempts: job.max_attempts,
            attempt_errors: rfc3339::normalise_entries(job.attempt_errors),
            expires_at: job.expires_at,
            input: InputView {
                filename: job.input_filename,
                bytes: job.input_bytes,
            },
            options: job.options,
            result: job.result,
            error: job.error,
            trace_id: job.trace_id,
        }
    }
}

/// A page of `GET /v1/jobs`.
#[derive(Debug, Serialize)]
pub struct JobListView {
    pub jobs: Vec<JobView>,
    pub next_cursor: Option<String>,
}

/// Most bytes of jobs one page carries (the first job always goes in): a
/// page of `limit` jobs with large options or reports would otherwise weigh
/// `limit` times as much, and so would the server's memory answering it.
pub const MAX_PAGE_BYTES: usize = 1024 * 1024;

impl JobListView {
    /// The page of `jobs` (newest first, one more than `limit` when another
    /// page exists), cut at `limit` jobs or `MAX_PAGE_BYTES`, whichever
    /// comes first; `next_cursor` continues after the last job shown.
    pub fn page(jobs: Vec<Job>, limit: usize, trace_url: Option<&str>) -> JobListView {
        let more = jobs.len() > limit;
        let mut shown: Vec<JobView> = Vec::new();
        let mut bytes = 0;
        let mut cut = false;
        for job in jobs.into_iter().take(limit) {
            let view = JobView::new(job, trace_url);
            let size = json_size(&view);
            if !shown.is_empty() && bytes + size > MAX_PAGE_BYTES {
                cut = true;
                break;
            }
            bytes += size;
            shown.push(view);
        }
        let next_cursor = (more || cut).then(|| shown.last()).flatten().map(|last| {
            ListCursor {
                created_at: last.created_at,
                id: last.id,
            }
            .encode()
        });
        JobListView {
            jobs: shown,
            next_cursor,
        }
    }
}

/// Bytes `value` takes as JSON, counted without keeping them.
fn json_size(value: &impl Serialize) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}
