//! Running one claimed job inside its CONSUMER span.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::KeyValue;
use parquetry_convert::{convert_file, ConversionReport, ConvertError, ConvertOptions, ErrorKind};
use tokio_util::sync::CancellationToken;
use tracing::{field::Empty, Instrument, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::WorkerContext;
use crate::jobs::{Job, JobError, JobStore};
use crate::telemetry;

/// When the claim statement ran, to record its span inside the job's trace
/// once the trace is known.
pub(super) struct ClaimTiming {
    pub started: SystemTime,
    pub ended: SystemTime,
}

/// Why a running conversion was asked to stop.
const KEEP_GOING: u8 = 0;
/// Canceled by the user, or the lease was lost to another worker.
const NOT_OURS_ANYMORE: u8 = 1;
/// This process is shutting down and gives the job back.
const SHUTTING_DOWN: u8 = 2;

/// What became of a job in this worker.
enum Outcome {
    Converted(ConversionReport),
    Failed(JobError),
    /// A transient failure (I/O, storage): try again later.
    Retry(JobError),
    /// The job is no longer this worker's: leave the row alone.
    Abandoned,
    /// Give the job back to the queue.
    Requeue,
}

pub(super) async fn run_job(
    context: &WorkerContext,
    worker_id: &str,
    job: Job,
    claim: ClaimTiming,
    abandon: &CancellationToken,
) {
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
        parquetry.worker.id = worker_id,
        parquetry.job.attempt = job.attempts,
        parquetry.job.status = Empty,
    );
    if let Some(producer) = job
        .traceparent
        .as_deref()
        .and_then(|parent| telemetry::context_from_traceparent(parent, job.tracestate.as_deref()))
    {
        // Parent *and* link, as the messaging conventions suggest for a
        // single message; set before the span is first entered.
        let producer_span = producer.span().span_context().clone();
        let _ = span.set_parent(producer);
        span.add_link(producer_span);
    }
    record_claim_span(context.store.clone(), &span, &claim);
    if let Ok(waited) = claim.started.duration_since(job.created_at.into()) {
        context
            .metrics
            .job_queue_wait
            .record(waited.as_secs_f64(), &[]);
    }

    let started = std::time::Instant::now();
    let status = async {
        tracing::info!(job.id = %job.id, attempt = job.attempts, "job started");
        let (outcome, lease) = convert_with_lease(context, worker_id, &job, abandon).await;
        let status = finish(context, worker_id, &job, outcome, lease).await;
        context
            .storage
            .release_local_copies(job.id, job.attempts)
            .await;
        status
    }
    .instrument(span.clone())
    .await;
    context.metrics.job_duration.record(
        started.elapsed().as_secs_f64(),
        &[KeyValue::new("status", status)],
    );
    span.record("parquetry.job.status", status);
}

/// The claim ran before its job (and so its trace) was known: record it now,
/// with its real start and end, as a client span inside the job's trace.
fn record_claim_span(store: JobStore, consumer: &Span, claim: &ClaimTiming) {
    let tracer = opentelemetry::global::tracer("parquetry");
    let parent = consumer.context();
    let mut span = tracer
        .span_builder("UPDATE jobs")
        .with_kind(SpanKind::Client)
        .with_start_time(claim.started)
        .with_attributes(store.target().attributes("UPDATE", store.claim_query()))
        .start_with_context(&tracer, &parent);
    opentelemetry::trace::Span::end_with_timestamp(&mut span, claim.ended);
}

/// The heartbeat of a converted job, kept while its result is published:
/// sending a large result to object storage can outlast the lease timeout.
struct Lease {
    done: CancellationToken,
    heartbeat: tokio::task::JoinHandle<()>,
}

impl Lease {
    async fn release(self) {
        self.done.cancel();
        let _ = self.heartbeat.await;
    }
}

/// Converts while a heartbeat renews the lease; the heartbeat also notices a
/// cancellation or a lost lease and stops the conversion within one interval.
/// A converted job comes back with its lease still renewed.
async fn convert_with_lease(
    context: &WorkerContext,
    worker_id: &str,
    job: &Job,
    abandon: &CancellationToken,
) -> (Outcome, Option<Lease>) {
    let options = match parse_options(&job.options) {
        Ok(options) => options,
        Err(error) => return (Outcome::Failed(error), None),
    };
    let cancel = Arc::new(AtomicBool::new(false));
    let reason = Arc::new(AtomicU8::new(KEEP_GOING));
    let done = CancellationToken::new();
    let heartbeat = tokio::spawn(
        keep_lease(
            context.store.clone(),
            job.id,
            worker_id.to_string(),
            context.settings.heartbeat_interval(),
            cancel.clone(),
            reason.clone(),
            abandon.clone(),
            done.clone(),
        )
        .instrument(Span::current()),
    );

    // Fetched under the lease: with object storage this is a download.
    let input = match context
        .storage
        .input_for_conversion(job.id, job.attempts)
        .await
    {
        Ok(input) => input,
        Err(error) => {
            done.cancel();
            let _ = heartbeat.await;
            let error = JobError {
                code: "storage-error".into(),
                message: format!("reading the input failed: {error}"),
                line: None,
                column: None,
            };
            return (Outcome::Retry(error), None);
        }
    };
    let output = context.storage.partial_result_path(job.id, job.attempts);
    let convert_span = tracing::info_span!(
        "convert",
        input.bytes = job.input_bytes,
        rows = Empty,
        columns = Empty,
        row_groups = Empty,
        output.bytes = Empty,
        codec = Empty,
    );
    let converted = {
        let cancel = cancel.clone();
        let span = convert_span.clone();
        tokio::task::spawn_blocking(move || {
            span.in_scope(|| convert_file(&input, &output, &options, &cancel))
        })
        .await
    };
    let lease = Lease { done, heartbeat };

    let outcome = match converted {
        Ok(Ok(report)) => {
            convert_span.record("rows", report.rows);
            convert_span.record("columns", report.columns.len());
            convert_span.record("row_groups", report.row_groups);
            convert_span.record("output.bytes", report.output_bytes);
            convert_span.record("codec", report.compression.as_str());
            if reason.load(Ordering::SeqCst) == NOT_OURS_ANYMORE {
                Outcome::Abandoned
            } else {
                Outcome::Converted(report)
            }
        }
        Ok(Err(error)) if error.kind == ErrorKind::Canceled => {
            match reason.load(Ordering::SeqCst) {
                SHUTTING_DOWN => Outcome::Requeue,
                _ => Outcome::Abandoned,
            }
        }
        Ok(Err(error)) if error.is_input_error() => Outcome::Failed(job_error(&error)),
        Ok(Err(error)) => Outcome::Retry(job_error(&error)),
        Err(join_error) => {
            tracing::error!(error = %join_error, "the conversion panicked");
            Outcome::Retry(JobError {
                code: "internal-error".into(),
                message: "the conversion stopped unexpectedly".into(),
                line: None,
                column: None,
            })
        }
    };
    match outcome {
        Outcome::Converted(_) => (outcome, Some(lease)),
        _ => {
            lease.release().await;
            (outcome, None)
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn keep_lease(
    store: JobStore,
    id: uuid::Uuid,
    worker_id: String,
    interval: std::time::Duration,
    cancel: Arc<AtomicBool>,
    reason: Arc<AtomicU8>,
    abandon: CancellationToken,
    done: CancellationToken,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = done.cancelled() => return,
            _ = abandon.cancelled() => {
                reason.store(SHUTTING_DOWN, Ordering::SeqCst);
                cancel.store(true, Ordering::SeqCst);
                return;
            }
            _ = ticker.tick() => {}
        }
        match store.heartbeat(id, &worker_id).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(job.id = %id, "job canceled or lease lost; stopping");
                reason.store(NOT_OURS_ANYMORE, Ordering::SeqCst);
                cancel.store(true, Ordering::SeqCst);
                return;
            }
            // A passing database error must not stop a healthy conversion:
            // the lease only expires after the lease timeout.
            Err(error) => tracing::warn!(%error, job.id = %id, "heartbeat failed"),
        }
    }
}

fn parse_options(stored: &serde_json::Value) -> Result<ConvertOptions, JobError> {
    let mut options = ConvertOptions::default();
    let invalid = |message: String| JobError {
        code: "invalid-option".into(),
        message,
        line: None,
        column: None,
    };
    let Some(map) = stored.as_object() else {
        return Ok(options);
    };
    for (name, value) in map {
        let values: Vec<&str> = match value {
            serde_json::Value::Array(items) => items.iter().filter_map(|v| v.as_str()).collect(),
            other => other.as_str().into_iter().collect(),
        };
        for value in values {
            options
                .set(name, value)
                .map_err(|error| invalid(error.to_string()))?;
        }
    }
    Ok(options)
}

fn job_error(error: &ConvertError) -> JobError {
    JobError {
        code: error.code().to_string(),
        message: error.message.clone(),
        line: error.line.map(|line| line as i64),
        column: error.column.clone(),
    }
}

/// Publishes the result or records the failure; returns the final status
/// for the metrics.
async fn finish(
    context: &WorkerContext,
    worker_id: &str,
    job: &Job,
    outcome: Outcome,
    lease: Option<Lease>,
) -> &'static str {
    let span = Span::current();
    match outcome {
        Outcome::Converted(report) => {
            let stored = async {
                let published = context.storage.publish_result(job.id, job.attempts).await;
                // The lease ends before the final UPDATE, whose worker check
                // then decides whether the result is ours to keep.
                if let Some(lease) = lease {
                    lease.release().await;
                }
                published?;
                let mut result = serde_json::to_value(&report)?;
                // `bytes` is the size of the Parquet file the user downloads.
                result["bytes"] = report.output_bytes.into();
                let updated = context.store.succeed(job.id, worker_id, &result).await?;
                anyhow::Ok(updated.is_some())
            }
            .instrument(tracing::info_span!(
                "store result",
                output.bytes = report.output_bytes
            ))
            .await;
            match stored {
                Ok(true) => {
                    span.record("otel.status_code", "OK");
                    context.metrics.job_finished("succeeded", None);
                    context.metrics.conversion_rows.add(report.rows, &[]);
                    context
                        .metrics
                        .conversion_input_bytes
                        .add(report.input_bytes, &[]);
                    context
                        .metrics
                        .conversion_output_bytes
                        .add(report.output_bytes, &[]);
                    tracing::info!(
                        rows = report.rows,
                        output.bytes = report.output_bytes,
                        "job succeeded"
                    );
                    "succeeded"
                }
                Ok(false) => {
                    remove_files(context, job).await;
                    tracing::info!("job canceled while its result was stored");
                    "canceled"
                }
                Err(error) => {
                    let error = JobError {
                        code: "storage-error".into(),
                        message: format!("storing the result failed: {error:#}"),
                        line: None,
                        column: None,
                    };
                    retry(context, worker_id, job, error).await
                }
            }
        }
        Outcome::Retry(error) => retry(context, worker_id, job, error).await,
        Outcome::Failed(error) => {
            record_exception(&span, &error);
            tracing::warn!(error.code = %error.code, error.line = error.line, "job failed: {}", error.message);
            if let Err(db_error) = context.store.fail(job.id, worker_id, &error).await {
                tracing::error!(error = %db_error, "recording the failure failed; the lease will expire and the job will run again");
                return "requeued";
            }
            let _ =
                tokio::fs::remove_file(context.storage.partial_result_path(job.id, job.attempts))
                    .await;
            context.metrics.job_finished("failed", Some(&error.code));
            "failed"
        }
        Outcome::Abandoned => {
            remove_files(context, job).await;
            context.metrics.job_finished("canceled", None);
            tracing::info!("job stopped: canceled or taken over by another worker");
            "canceled"
        }
        Outcome::Requeue => {
            requeue(context, worker_id, job).await;
            "requeued"
        }
    }
}

/// Marks the job's span as failed with an `exception` event carrying the
/// error code, message and CSV position.
fn record_exception(span: &Span, error: &JobError) {
    span.set_status(Status::error(error.message.clone()));
    let mut attributes = vec![
        KeyValue::new("exception.type", error.code.clone()),
        KeyValue::new("exception.message", error.message.clone()),
    ];
    if let Some(line) = error.line {
        attributes.push(KeyValue::new("csv.line", line));
    }
    if let Some(column) = &error.column {
        attributes.push(KeyValue::new("csv.column", column.clone()));
    }
    span.add_event("exception", attributes);
}

/// A transient failure: the job goes back to the queue with a backoff, or
/// fails for good when its attempts are spent.
async fn retry(
    context: &WorkerContext,
    worker_id: &str,
    job: &Job,
    error: JobError,
) -> &'static str {
    record_exception(&Span::current(), &error);
    let _ = tokio::fs::remove_file(context.storage.partial_result_path(job.id, job.attempts)).await;
    let backoff = context.settings.retry_backoff(job.attempts.max(1) as u32);
    match context
        .store
        .retry(job.id, worker_id, &error, backoff)
        .await
    {
        Ok(Some(updated)) if updated.status == crate::jobs::JobStatus::Failed => {
            tracing::warn!(error.code = %error.code, attempts = updated.attempts, "job failed: attempts spent");
            context.metrics.job_finished("failed", Some(&error.code));
            "failed"
        }
        Ok(Some(_)) => {
            tracing::warn!(error.code = %error.code, backoff_ms = backoff.as_millis() as u64, "attempt failed; the job will be retried: {}", error.message);
            "retrying"
        }
        Ok(None) => "canceled",
        Err(db_error) => {
            tracing::error!(error = %db_error, "recording the retry failed; the lease will expire instead");
            "requeued"
        }
    }
}

async fn requeue(context: &WorkerContext, worker_id: &str, job: &Job) {
    let _ = tokio::fs::remove_file(context.storage.partial_result_path(job.id, job.attempts)).await;
    match context.store.requeue(job.id, worker_id).await {
        Ok(_) => tracing::info!("job put back in the queue"),
        Err(error) => tracing::error!(%error, "requeueing failed; the lease will expire instead"),
    }
}

/// Files of a job that is no longer running here: a canceled job's files go;
/// a job taken over by another worker keeps its input.
async fn remove_files(context: &WorkerContext, job: &Job) {
    let _ = tokio::fs::remove_file(context.storage.partial_result_path(job.id, job.attempts)).await;
    if let Ok(Some(current)) = context.store.get(job.id).await {
        if current.status == crate::jobs::JobStatus::Canceled {
            let _ = context.storage.remove_job_files(job.id).await;
        }
    }
}
