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

use opentelemetry::trace::{Span as _, SpanKind, Tracer as _};
use opentelemetry::KeyValue;
use parquetry_convert::{Progress, ProgressSnapshot};
use uuid::Uuid;

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
