//! `GET /v1/jobs/{id}/events`: the job as Server-Sent Events. A `progress`
//! event as the running attempt moves on (at most a few a second: the
//! heartbeat's pace, throttled), a `status` event (the whole job) on each
//! status change, comments that keep proxies from closing an idle stream,
//! and the end of the stream once the job has finished.
//!
//! Event ids are `<status>:<progress time>`: a client resuming with
//! `Last-Event-ID` gets a `status` event only if the status moved on since,
//! and a `progress` event only if newer progress was written.

use std::time::Duration;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::Instrument;
use uuid::Uuid;

use super::jobs::{find, parse_job_id};
use super::problem::ApiError;
use super::views::JobView;
use super::AppState;
use crate::jobs::{Job, JobStatus, JobWatch};

/// A comment this often keeps proxies from closing a quiet stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Progress events at most this often, whatever the heartbeat's pace.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);
/// How long a client waits before reconnecting (the stream's `retry`).
const RECONNECT_MS: u32 = 1000;

pub async fn job_events(
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
    principal: crate::jobs::Principal,
) -> Result<HttpResponse, ApiError> {
    let id = parse_job_id(&path)?;
    let scope = principal.scope();
    let seen = request
        .headers()
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .map(Seen::parse)
        .unwrap_or_default();
    // Watching starts before the first read: no change falls in between.
    let watch = state.store.changes().watch(id);
    let job = find(&state, &scope, id).await?;
    let (events, stream) = mpsc::channel::<Bytes>(16);
    let writer = EventWriter {
        state: state.clone(),
        id,
        scope,
        watch,
        events,
        seen,
        progress_sent_at: None,
    };
    tokio::spawn(writer.run(job).instrument(tracing::Span::current()));
    let body = futures_util::stream::unfold(stream, |mut stream| async move {
        let event = stream.recv().await?;
        Some((Ok::<_, actix_web::Error>(event), stream))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // nginx would otherwise buffer the stream.
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}

/// What the client has seen: the status and the progress's time.
#[derive(Debug, Default, Clone, PartialEq)]
struct Seen {
    status: Option<JobStatus>,
    progress_at: Option<String>,
}

impl Seen {
    fn parse(last_event_id: &str) -> Seen {
        let (status, progress_at) = last_event_id.split_once(':').unwrap_or((last_event_id, ""));
        Seen {
            status: JobStatus::parse(status),
            progress_at: Some(progress_at.to_string()).filter(|at| !at.is_empty()),
        }
    }

    fn event_id(&self) -> String {
        format!(
            "{}:{}",
            self.status.map(JobStatus::as_str).unwrap_or_default(),
            self.progress_at.as_deref().unwrap_or_default()
        )
    }
}

/// The progress's time, which tells one progress from the next.
fn progress_time(progress: &serde_json::Value) -> Option<String> {
    progress
        .get("updated_at")
        .and_then(|at| at.as_str())
        .map(str::to_string)
}

struct EventWriter {
    state: web::Data<AppState>,
    id: Uuid,
    /// The caller's: every read of the stream is as scoped as the first.
    scope: crate::jobs::Scope,
    watch: JobWatch,
    events: mpsc::Sender<Bytes>,
    seen: Seen,
    progress_sent_at: Option<Instant>,
}

impl EventWriter {
    /// Sends events until the job ends, is removed, or the client leaves.
    async fn run(mut self, mut job: Job) {
        if self
            .send_raw(format!("retry: {RECONNECT_MS}\n\n"))
            .await
            .is_err()
        {
            return;
        }
        let mut keep_alive = tokio::time::interval_at(Instant::now() + KEEP_ALIVE, KEEP_ALIVE);
        loop {
            if self.send_changes(&job).await.is_err() || job.status.is_finished() {
                return;
            }
            tokio::select! {
                _ = self.watch.changed() => self.throttle().await,
                _ = keep_alive.tick() => {
                    if self.send_raw(": keep-alive\n\n".into()).await.is_err() {
                        return;
                    }
                }
                _ = self.events.closed() => return,
            }
            // Read again after a keep-alive as well: it also covers a change
            // whose notification was lost.
            job = match self.state.store.find(&self.scope, self.id).await {
                Ok(Some(job)) => job,
                Ok(None) => return,
                Err(error) => {
                    tracing::warn!(job_id = %self.id, %error, "could not read the job for its event stream");
                    continue;
                }
            };
        }
    }

    /// Waits so that progress events are at most one per `PROGRESS_EVERY`.
    async fn throttle(&self) {
        if let Some(sent) = self.progress_sent_at {
            tokio::time::sleep_until(sent + PROGRESS_EVERY).await;
        }
    }

    /// Sends what the client has not seen of `job`.
    async fn send_changes(&mut self, job: &Job) -> Result<(), Closed> {
        let progress = match (&job.progress, job.status) {
            (Some(progress), JobStatus::Running) => Some(progress.clone()),
            // A bar reaches its end before the final status.
            (_, JobStatus::Succeeded) => Some(serde_json::json!({
                "stage": "finished",
                "percent": 100.0,
                "rows": job.result.as_ref().and_then(|r| r.get("rows")).cloned(),
                "updated_at": job.finished_at.as_ref().map(super::rfc3339::format),
            })),
            _ => None,
        };
        if let Some(progress) = progress {
            let at = progress_time(&progress);
            if at.is_some() && at != self.seen.progress_at {
                self.seen.progress_at = at;
                let mut data = progress;
                data["status"] = job.status.as_str().into();
                self.send_event("progress", &data).await?;
                self.progress_sent_at = Some(Instant::now());
            }
        }
        if self.seen.status != Some(job.status) {
            self.seen.status = Some(job.status);
            let view = JobView::new(job.clone(), self.state.trace_url.as_deref());
            self.send_event("status", &view).await?;
        }
        Ok(())
    }

    async fn send_event(&self, name: &str, data: &impl serde::Serialize) -> Result<(), Closed> {
        let data = serde_json::to_string(data).map_err(|_| Closed)?;
        let id = self.seen.event_id();
        self.send_raw(format!("id: {id}\nevent: {name}\ndata: {data}\n\n"))
            .await
    }

    async fn send_raw(&self, text: String) -> Result<(), Closed> {
        self.events
            .send(Bytes::from(text))
            .await
            .map_err(|_| Closed)
    }
}

/// The client went away.
struct Closed;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_id_says_what_was_seen() {
        let seen = Seen {
            status: Some(JobStatus::Running),
            progress_at: Some("2026-11-30T12:00:00.000001Z".into()),
        };
        assert_eq!(seen.event_id(), "running:2026-11-30T12:00:00.000001Z");
        assert_eq!(Seen::parse(&seen.event_id()), seen);
        assert_eq!(Seen::parse("queued:").status, Some(JobStatus::Queued));
        assert_eq!(Seen::parse("garbage"), Seen::default());
    }
}
