//! Running one claimed job inside its CONSUMER span: the input fetched, the
//! conversion run off the async threads under a lease, the outcome settled.

use std::sync::Arc;
use std::time::SystemTime;

use opentelemetry::trace::TraceContextExt;
use parquetry_convert::{ConversionReport, ConvertError, ConvertOptions, ErrorKind};
use tokio_util::sync::CancellationToken;
use tracing::{field::Empty, Instrument, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::lease::{Lease, StopReason};
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
    let span = consumer_span(&job, worker_id, producer.clone());
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

    let started = std::time::Instant::now();
    let files = context.storage.scratch().attempt(job.id, job.attempts);
    let status = async {
        tracing::info!(
            job_id = %job.id,
            parquetry.tenant = %job.tenant,
            attempt = job.attempts,
            "job started"
        );
        let lease = Lease::keep(
            context.store.clone(),
            job.id,
            worker_id,
            context.settings.heartbeat_interval(),
            abandon.clone(),
            ProgressSpans::new(producer, job.id, job.input_bytes),
        );
        let outcome = convert(context, &job, &files, &lease).await;
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

fn consumer_span(job: &Job, worker_id: &str, producer: Option<opentelemetry::Context>) -> Span {
    let span = tracing::info_span!(
        "process job",
        otel.name = "process jobs",
        otel.kind = "consumer",
        otel.status_code = Empty,
        messaging.system = "parquetry",
        messaging.operation.type = "process",
        messaging.operation.name = "process",
        messaging.destination.name = "jobs",
        messaging.message.id = %job.id,
        parquetry.job.id = %job.id,
        // The tenant, not as a metric label (unbounded), on spans and logs.
        parquetry.tenant = %job.tenant,
        parquetry.worker.id = worker_id,
        parquetry.job.attempt = job.attempts,
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
    let convert_span = tracing::info_span!(
        "convert",
        parquetry.input.bytes = job.input_bytes,
        parquetry.rows = Empty,
        parquetry.columns = Empty,
        parquetry.row_groups = Empty,
        parquetry.output.bytes = Empty,
        parquetry.codec = Empty,
    );
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
    // The engine keeps freed buffers for reuse during a pass; between jobs they go back.
    parquetry_convert::release_free_memory();
    let stop = lease.signal.reason();
    match (converted, stop) {
        // Whatever the engine made of it, a job canceled or taken over is not
        // ours to settle: an error after a cancel is its consequence (the
        // job's files were removed under the conversion).
        (_, StopReason::Canceled) => Outcome::Canceled,
        (_, StopReason::LeaseLost) => Outcome::LeaseLost,
        (converted, _) => settle_conversion(converted, stop, &convert_span),
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
    ConvertOptions::from_pairs(pairs.iter()).map_err(|refused| JobError {
        code: error_code::INVALID_OPTION.into(),
        message: refused.to_string(),
        line: None,
        column: None,
    })
}
