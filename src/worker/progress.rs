//! A running job shows up in its trace: each heartbeat that sees the
//! conversion move on exports a short `job progress` span with the stage,
//! the bytes read and the rows written so far.
//!
//! Why not the stage spans themselves: a span is exported when it ends, and
//! the job span (their parent) ends last, so stage spans that end early point
//! at a parent Jaeger does not have yet. Progress spans are children of the
//! upload's PRODUCER span instead, which ended (and was exported) when the
//! upload was accepted: in Jaeger a running job's trace grows a progress span
//! every few seconds, never an orphan, and the job span joins them at the end.

use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};
use opentelemetry::trace::{Span as _, SpanKind, Tracer as _};
use opentelemetry::KeyValue;
use parquetry_convert::{Progress, ProgressSnapshot, Stage};
use serde_json::json;
use uuid::Uuid;

use crate::jobs::AttemptReport;

/// At most one progress span per this interval, whatever the heartbeat's.
const EVERY: Duration = Duration::from_secs(1);

/// Exports the progress spans of one job.
pub(super) struct ProgressSpans {
    parent: Option<opentelemetry::Context>,
    job: Uuid,
    input_bytes: i64,
    last: Option<(ProgressSnapshot, Instant)>,
}

impl ProgressSpans {
    /// Spans under `parent` (the upload's PRODUCER span); none without one.
    pub fn new(parent: Option<opentelemetry::Context>, job: Uuid, input_bytes: i64) -> Self {
        ProgressSpans {
            parent,
            job,
            input_bytes,
            last: None,
        }
    }

    /// Exports a span when the conversion moved on since the last one, at
    /// most once per [`EVERY`].
    pub fn report(&mut self, progress: &Progress) {
        let Some(parent) = &self.parent else { return };
        let now = progress.snapshot();
        let due = match &self.last {
            None => true,
            Some((last, at)) => *last != now && at.elapsed() >= EVERY,
        };
        if !due {
            return;
        }
        let tracer = opentelemetry::global::tracer("parquetry");
        let at = SystemTime::now();
        let mut span = tracer
            .span_builder("job progress")
            .with_kind(SpanKind::Internal)
            .with_start_time(at)
            .with_attributes([
                KeyValue::new("parquetry.job.id", self.job.to_string()),
                KeyValue::new("parquetry.job.stage", now.stage.as_str()),
                KeyValue::new("parquetry.job.bytes_read", now.bytes_read as i64),
                KeyValue::new("parquetry.job.input_bytes", self.input_bytes),
                KeyValue::new("parquetry.job.rows", now.rows as i64),
                KeyValue::new("parquetry.job.pass", now.passes as i64),
            ])
            .start_with_context(&tracer, parent);
        span.end_with_timestamp(at);
        self.last = Some((now, Instant::now()));
    }
}

/// What the job row shows of a running attempt: its progress (written by
/// each heartbeat) and when each stage began (`storing` once the worker
/// publishes the result, `storing_since`).
pub(super) fn attempt_report(
    progress: &Progress,
    storing_since: Option<SystemTime>,
) -> AttemptReport {
    let mut stages: Vec<(&str, SystemTime)> = progress
        .stages()
        .into_iter()
        .filter(|(stage, _)| !matches!(stage, Stage::Waiting | Stage::Finished))
        .map(|(stage, at)| (stage.as_str(), at))
        .collect();
    if let Some(at) = storing_since {
        stages.push(("storing", at));
    }
    let timeline = stages
        .iter()
        .map(|(stage, at)| json!({"stage": stage, "at": rfc3339(*at)}))
        .collect();
    let now = progress.snapshot();
    let converting_since = stages
        .iter()
        .find(|(stage, _)| *stage == Stage::Converting.as_str())
        .map(|(_, at)| *at);
    let progress = match (now.stage, storing_since) {
        (Stage::Waiting, None) => None,
        (_, Some(_)) => Some(progress_json("storing", &now, Some(99.0), None)),
        (Stage::Detecting, None) => Some(progress_json("detecting", &now, Some(0.0), None)),
        (Stage::Converting, None) => {
            let fraction = now.fraction();
            let eta = fraction
                .zip(converting_since)
                .and_then(|(f, since)| seconds_left(f, since));
            // Never 100 before the result is stored: writing and storing remain.
            let percent = fraction.map(|f| (f * 98.0 * 10.0).round() / 10.0);
            Some(progress_json("converting", &now, percent, eta))
        }
        (Stage::Writing | Stage::Finished, None) => {
            Some(progress_json("writing", &now, Some(98.0), None))
        }
    };
    AttemptReport { progress, timeline }
}

fn progress_json(
    stage: &str,
    now: &ProgressSnapshot,
    percent: Option<f64>,
    seconds_left: Option<f64>,
) -> serde_json::Value {
    json!({
        "stage": stage,
        "bytes_read": now.bytes_read,
        "total_bytes": now.total_bytes,
        "rows": now.rows,
        "pass": now.passes,
        "percent": percent,
        "seconds_left": seconds_left,
        "updated_at": rfc3339(SystemTime::now()),
    })
}

/// Time left at the pace so far, once there is enough of it to judge (a
/// second of converting and 1 % of the input).
fn seconds_left(fraction: f64, since: SystemTime) -> Option<f64> {
    let elapsed = since.elapsed().ok()?.as_secs_f64();
    if elapsed < 1.0 || fraction < 0.01 {
        return None;
    }
    Some((elapsed * (1.0 - fraction) / fraction * 10.0).round() / 10.0)
}

/// `at` in the API's one timestamp form (see `crate::rfc3339`).
fn rfc3339(at: SystemTime) -> String {
    crate::rfc3339::format(&DateTime::<Utc>::from(at))
}
