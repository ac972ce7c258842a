//! Running one claimed job inside its CONSUMER span: the input fetched, the
//! conversion run off the async threads under a lease, the outcome settled.

use std::sync::Arc;
use std::time::SystemTime;

use opentelemetry::trace::TraceContextExt;
use parquetry_convert::{ConversionReport, ConvertError, ConvertOptions, ErrorKind};
use tokio_util::sync::CancellationToken;
use tracing::{field::Empty, Instrument, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::head_start::Begun;
use super::lease::{Lease, StopReason, StopSignal};
use super::outcome::{self, Outcome};
use super::progress::ProgressSpans;
use super::WorkerContext;
use crate::error_code;
use crate::jobs::{Job, JobError};
use crate::storage::AttemptFiles;
use crate::telemetry;

/// When the claim statement ran, to record its span inside the job's trace
/// once the trace is known.
pub(super) struct ClaimTiming {
    pub started: SystemTime,
    pub ended: SystemTime,
}

pub(super) async fn run_job(
    context: &WorkerContext,
    worker_id: &str,
    job: Job,
    claim: ClaimTiming,
    abandon: &CancellationToken,
) {
    let producer = producer_context(&job);
    let span = consumer_span(
        (job.id, &job.tenant, job.attempts),
        worker_id,
        producer.clone(),
    );
    // The claim ran before the job span began: it hangs beside it, under the
    // upload's PRODUCER span, so no child starts before its parent.
    let claim_parent = producer.clone().unwrap_or_else(|| span.context());
    context
        .store
        .record_claim_span(&claim_parent, claim.started, claim.ended);
    // Metrics are recorded in the job's span: it becomes their exemplar.
    if let Ok(waited) = claim.started.duration_since(job.created_at.into()) {
        let waited = waited.as_secs_f64();
        span.in_scope(|| context.metrics.job_queue_wait.record(waited, &[]));
    }
    let attempt = Attempt {
        span,
        producer,
        started: std::time::Instant::now(),
        head_start: None,
    };
    run_attempt(context, worker_id, job, attempt, abandon).await;
}

/// A conversion that began while the job's upload arrived (see
/// `head_start`), and the thread running it.
pub(super) struct HeadStarted {
    pub begun: Begun,
    pub conversion: tokio::task::JoinHandle<Result<ConversionReport, ConvertError>>,
}

/// Runs a job stored claimed by `worker_id`, whose conversion is under way.
pub(super) async fn run_head_started(
    context: &WorkerContext,
    worker_id: &str,
    job: Job,
    head_start: HeadStarted,
    abandon: &CancellationToken,
) {
    let span = head_start.begun.consumer.clone();
    // It never waited in the queue.
    span.in_scope(|| context.metrics.job_queue_wait.record(0.0, &[]));
    let attempt = Attempt {
        span,
        producer: producer_context(&job),
        started: head_start.begun.started,
        head_start: Some(head_start),
    };
    run_attempt(context, worker_id, job, attempt, abandon).await;
}

/// One attempt at a claimed job, in its CONSUMER span.
struct Attempt {
    span: Span,
    producer: Option<opentelemetry::Context>,
    started: std::time::Instant,
    head_start: Option<HeadStarted>,
}

async fn run_attempt(
    context: &WorkerContext,
    worker_id: &str,
    job: Job,
    attempt: Attempt,
    abandon: &CancellationToken,
) {
    let Attempt {
        span,
        producer,
        started,
        head_start,
    } = attempt;
    let files = context.storage.scratch().attempt(job.id, job.attempts);
    let status = async {
        tracing::info!(
            job_id = %job.id,
            parquetry.tenant = %job.tenant,
            attempt = job.attempts,
            head_start = head_start.is_some(),
            "job started"
        );
        let signal = match &head_start {
            Some(head_start) => head_start.begun.signal.clone(),
            None => Arc::new(StopSignal::default()),
        };
        let lease = Lease::keep(
            (context.store.clone(), job.id, worker_id),
            context.settings.heartbeat_interval(),
            abandon.clone(),
            ProgressSpans::new(producer, job.id, job.input_bytes),
            signal,
        );
        let flush = context.storage.flush_result_while_written(job.id, &files);
        let outcome = match head_start {
            Some(head_start) => finish_head_start(head_start, &lease).await,
            None => convert(context, &job, &files, &lease).await,
        };
        drop(flush);
        let signal = lease.signal.clone();
        let status = outcome::settle(context, worker_id, &job, &files, outcome, lease).await;
        // One count for the beats, not a span each.
        Span::current().record("parquetry.job.heartbeats", signal.heartbeats() as i64);
        status
    }
    .instrument(span.clone())
    .await;
    files.remove().await;
    let input_bytes = u64::try_from(job.input_bytes).unwrap_or(0);
    span.in_scope(|| {
        context
            .metrics
            .job_ended(status, input_bytes, started.elapsed())
    });
    span.record("parquetry.job.status", status);
}

/// The CONSUMER span of the job, parented to (and linked with) the
/// PRODUCER span of its upload, in whatever process that ran.
/// The context of the job's upload PRODUCER span, carried in its row.
fn producer_context(job: &Job) -> Option<opentelemetry::Context> {
    job.traceparent
        .as_deref()
        .and_then(|parent| telemetry::context_from_traceparent(parent, job.tracestate.as_deref()))
}

pub(super) fn consumer_span(
    (id, tenant, attempt): (uuid::Uuid, &str, i32),
    worker_id: &str,
    producer: Option<opentelemetry::Context>,
) -> Span {
    let span = tracing::info_span!(
        "process job",
        otel.name = "process jobs",
        otel.kind = "consumer",
        otel.status_code = Empty,
        messaging.system = "parquetry",
        messaging.operation.type = "process",
        messaging.operation.name = "process",
        messaging.destination.name = "jobs",
        messaging.message.id = %id,
        parquetry.job.id = %id,
        // The tenant, not as a metric label (unbounded), on spans and logs.
        parquetry.tenant = %tenant,
        parquetry.worker.id = worker_id,
        parquetry.job.attempt = attempt,
        parquetry.job.status = Empty,
        parquetry.job.heartbeats = Empty,
    );
    if let Some(producer) = producer {
        // Parent *and* link, as the messaging conventions suggest for a
        // single message; set before the span is first entered.
        let producer_span = producer.span().span_context().clone();
        let _ = span.set_parent(producer);
        span.add_link(producer_span);
    }
    span
}

/// Fetches the input and converts it while the lease is renewed; the
/// heartbeat stops the conversion within one interval when the job is not
/// ours anymore.
async fn convert(
    context: &WorkerContext,
    job: &Job,
    files: &AttemptFiles,
    lease: &Lease,
) -> Outcome {
    let options = match stored_options(&job.options) {
        Ok(options) => options,
        Err(error) => return Outcome::Failed(error),
    };
    // Fetched under the lease: from a bucket this is a download.
    let input = match context.storage.input_for_conversion(job.id, files).await {
        Ok(input) => input,
        Err(error) => {
            return Outcome::Retry(outcome::server_side_failure(
                error_code::STORAGE_ERROR,
                "reading the uploaded file failed",
                &error,
            ))
        }
    };
    let output = files.result();
    let rejects = files.rejects();
    let convert_span = convert_span(&Span::current(), job.input_bytes);
    let converted = {
        let signal = Arc::clone(&lease.signal);
        let span = convert_span.clone();
        tokio::task::spawn_blocking(move || {
            span.in_scope(|| {
                parquetry_convert::convert_observed(
                    &input,
                    &output,
                    Some(&rejects),
                    &options,
                    &signal.cancel,
                    &signal.progress,
                )
            })
        })
        .await
    };
    conversion_outcome(converted, lease, &convert_span)
}

/// Waits for the conversion begun while the upload arrived.
async fn finish_head_start(head_start: HeadStarted, lease: &Lease) -> Outcome {
    let converted = head_start.conversion.await;
    conversion_outcome(converted, lease, &head_start.begun.convert_span)
}

/// The `convert` span of an attempt, under `parent` (the job's span).
pub(super) fn convert_span(parent: &Span, input_bytes: impl tracing::Value) -> Span {
    tracing::info_span!(
        parent: parent,
        "convert",
        parquetry.input.bytes = input_bytes,
        parquetry.rows = Empty,
        parquetry.columns = Empty,
        parquetry.row_groups = Empty,
        parquetry.output.bytes = Empty,
        parquetry.codec = Empty,
    )
}

/// What the attempt makes of its conversion's end.
fn conversion_outcome(
    converted: Result<Result<ConversionReport, ConvertError>, tokio::task::JoinError>,
    lease: &Lease,
    convert_span: &Span,
) -> Outcome {
    // The engine keeps freed buffers for reuse during a pass; between jobs they go back.
    parquetry_convert::release_free_memory();
    let stop = lease.signal.reason();
    match (converted, stop) {
        // Whatever the engine made of it, a job canceled or taken over is not
        // ours to settle: an error after a cancel is its consequence (the
        // job's files were removed under the conversion).
        (_, StopReason::Canceled) => Outcome::Canceled,
        (_, StopReason::LeaseLost) => Outcome::LeaseLost,
        (converted, _) => settle_conversion(converted, stop, convert_span),
    }
}

/// The outcome of a conversion that was not canceled nor taken over.
fn settle_conversion(
    converted: Result<Result<ConversionReport, ConvertError>, tokio::task::JoinError>,
    stop: StopReason,
    convert_span: &Span,
) -> Outcome {
    match converted {
        Ok(Ok(report)) => {
            // Integers as i64: tracing-opentelemetry exports u64 and usize as strings.
            convert_span.record("parquetry.rows", report.rows as i64);
            convert_span.record("parquetry.columns", report.columns.len() as i64);
            convert_span.record("parquetry.row_groups", report.row_groups as i64);
            convert_span.record("parquetry.output.bytes", report.output_bytes as i64);
            convert_span.record("parquetry.codec", report.compression.as_str());
            Outcome::Converted(Box::new(report))
        }
        Ok(Err(error)) if error.kind == ErrorKind::Canceled => match stop {
            StopReason::ShuttingDown => Outcome::Requeue,
            _ => Outcome::Canceled,
        },
        Ok(Err(error)) => engine_outcome(&error),
        Err(join_error) => {
            // A panic is a bug: the same file would panic again.
            tracing::error!(error = %join_error, "the conversion panicked");
            Outcome::Failed(JobError {
                code: error_code::INTERNAL_ERROR.into(),
                message: "the conversion stopped unexpectedly".into(),
                line: None,
                column: None,
            })
        }
    }
}

fn engine_outcome(error: &ConvertError) -> Outcome {
    let job_error = outcome::engine_error(error);
    if error.is_retryable() {
        Outcome::Retry(job_error)
    } else {
        Outcome::Failed(job_error)
    }
}

/// The options stored with the job, decoded as the upload checked them.
fn stored_options(stored: &serde_json::Value) -> Result<ConvertOptions, JobError> {
    let pairs = crate::jobs::StoredOptions::from_json(stored);
    pairs.decode().map_err(|refused| JobError {
        code: error_code::INVALID_OPTION.into(),
        message: refused.to_string(),
        line: None,
        column: None,
    })
}
