//! What becomes of an attempt once its conversion stopped: the result
//! published and recorded, a failure recorded, a retry scheduled, or the job
//! left to whoever owns it now. Every path ends with the attempt's scratch
//! files removed, in `run_job`.

use opentelemetry::trace::Status;
use opentelemetry::KeyValue;
use parquetry_convert::{ConversionReport, ConvertError};
use tracing::{Instrument, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::lease::Lease;
use super::WorkerContext;
use crate::error_code;
use crate::jobs::{Job, JobError, JobStatus};
use crate::storage::AttemptFiles;

/// What became of an attempt in this worker.
pub(super) enum Outcome {
    /// Boxed: a report is large next to the other outcomes.
    Converted(Box<ConversionReport>),
    /// A failure retrying cannot fix: the input, or an engine bug.
    Failed(JobError),
    /// A transient failure (I/O, storage): try again later.
    Retry(JobError),
    /// Canceled by its owner: its files go.
    Canceled,
    /// The lease was lost: the job is another attempt's, leave it alone.
    LeaseLost,
    /// This process shuts down: give the job back to the queue.
    Requeue,
}

/// The final status of the attempt, for metrics and the job span.
pub(super) type AttemptStatus = &'static str;

/// A failure of the server's side, in the user's terms: the cause (with
/// paths and internals) goes to the log and the span, never to the answer.
pub(super) fn server_side_failure(
    code: &str,
    what: &str,
    cause: &dyn std::fmt::Display,
) -> JobError {
    tracing::warn!(error.code = code, error = %cause, "{what}");
    JobError {
        code: code.to_string(),
        message: format!("{what}; the server's logs have the cause"),
        line: None,
        column: None,
    }
}

/// The job error of an engine failure. Input errors speak of the user's
/// CSV; I/O and internal errors may name server paths, so they are told in
/// general terms.
pub(super) fn engine_error(error: &ConvertError) -> JobError {
    if !error.is_input_error() {
        return server_side_failure(
            error.code(),
            "reading the upload or writing the result failed on the server",
            error,
        );
    }
    JobError {
        code: error.code().to_string(),
        message: error.message.clone(),
        line: error.line.map(|line| line as i64),
        column: error.column.clone(),
    }
}

/// Publishes the result or records the failure.
pub(super) async fn settle(
    context: &WorkerContext,
    worker_id: &str,
    job: &Job,
    files: &AttemptFiles,
    outcome: Outcome,
    lease: Lease,
) -> AttemptStatus {
    let Outcome::Converted(report) = outcome else {
        if matches!(&outcome, Outcome::Failed(_)) {
            // A job failed by too many rejects shows the ones it met.
            if let Err(error) = context.storage.publish_rejects(job.id, files).await {
                tracing::warn!(job_id = %job.id, %error, "could not store the rejects of a failed job");
            }
        }
        let timeline = lease.signal.report().timeline;
        lease.release().await;
        return settle_unconverted(context, worker_id, job, outcome, &timeline).await;
    };
    lease.signal.mark_storing();
    let signal = lease.signal.clone();
    let stored = async {
        let published = match context.storage.publish_rejects(job.id, files).await {
            Ok(_) => context.storage.publish_result(job.id, files).await,
            Err(error) => Err(error),
        };
        // The lease ends before the final UPDATE, whose worker check then
        // decides whether the result is ours to keep.
        lease.release().await;
        published?;
        let mut result = serde_json::to_value(&report)?;
        // `bytes` is the size of the Parquet file the user downloads.
        result["bytes"] = report.output_bytes.into();
        let timeline = signal.report().timeline;
        let updated = context
            .store
            .succeed(job.id, worker_id, &result, &timeline)
            .await?;
        anyhow::Ok(updated.is_some())
    }
    .instrument(tracing::info_span!(
        "store result",
        parquetry.output.bytes = report.output_bytes as i64
    ))
    .await;
    match stored {
        Ok(true) => {
            Span::current().record("otel.status_code", "OK");
            context.metrics.job_finished("succeeded", None);
            context.metrics.conversion_rows.add(report.rows, &[]);
            let metrics = &context.metrics;
            metrics.conversion_input_bytes.add(report.input_bytes, &[]);
            metrics
                .conversion_output_bytes
                .add(report.output_bytes, &[]);
            tracing::info!(
                job_id = %job.id,
                parquetry.tenant = %job.tenant,
                rows = report.rows as i64,
                output.bytes = report.output_bytes as i64,
                "job succeeded"
            );
            "succeeded"
        }
        // Canceled (or taken over) while the result was stored.
        Ok(false) => {
            let timeline = signal.report().timeline;
            settle_unconverted(context, worker_id, job, Outcome::Canceled, &timeline).await
        }
        Err(error) => {
            let error = server_side_failure(
                error_code::STORAGE_ERROR,
                "storing the result failed",
                &format!("{error:#}"),
            );
            retry(context, worker_id, job, error).await
        }
    }
}

async fn settle_unconverted(
    context: &WorkerContext,
    worker_id: &str,
    job: &Job,
    outcome: Outcome,
    timeline: &serde_json::Value,
) -> AttemptStatus {
    match outcome {
        Outcome::Converted(_) => unreachable!("settled by `settle`"),
        Outcome::Retry(error) => retry(context, worker_id, job, error).await,
        Outcome::Failed(error) => {
            record_exception(&Span::current(), &error);
            tracing::warn!(
                job_id = %job.id,
                parquetry.tenant = %job.tenant,
                error.code = %error.code,
                error.line = error.line,
                "job failed"
            );
            if let Err(db_error) = context
                .store
                .fail(job.id, worker_id, &error, timeline)
                .await
            {
                tracing::error!(job_id = %job.id, error = %db_error, "recording the failure failed; the lease will expire and the job will run again");
                return "requeued";
            }
            context.metrics.job_finished("failed", Some(&error.code));
            "failed"
        }
        Outcome::Canceled => {
            // Only a job whose row says canceled loses its files: a row that
            // went back to the queue belongs to the next attempt.
            if let Ok(Some(current)) = context.store.get(job.id).await {
                if current.status == JobStatus::Canceled {
                    if let Err(error) = context.storage.remove_job_files(job.id).await {
                        tracing::warn!(job_id = %job.id, %error, "could not remove a canceled job's files");
                    }
                    context.metrics.job_finished("canceled", None);
                    tracing::info!(job_id = %job.id, "job canceled");
                    return "canceled";
                }
            }
            tracing::info!(job_id = %job.id, "job stopped: taken over by another attempt");
            "lease_lost"
        }
        Outcome::LeaseLost => {
            tracing::info!(job_id = %job.id, "job stopped: its lease went stale and another attempt owns it");
            "lease_lost"
        }
        Outcome::Requeue => {
            match context.store.requeue(job.id, worker_id).await {
                Ok(_) => tracing::info!(job_id = %job.id, "job put back in the queue"),
                Err(error) => {
                    tracing::error!(job_id = %job.id, %error, "requeueing failed; the lease will expire instead")
                }
            }
            "requeued"
        }
    }
}

/// Marks the job's span as failed with an `exception` event carrying the
/// error code and CSV position (the message may quote the user's data, so
/// it stays in the job row).
fn record_exception(span: &Span, error: &JobError) {
    span.set_status(Status::error(error.code.clone()));
    // The messaging conventions' failure attribute: the error's stable code.
    span.set_attribute("error.type", error.code.clone());
    // The message may quote the user's data, so the event says where, not what.
    let summary = match error.line {
        Some(line) => format!("{} at line {line}", error.code),
        None => error.code.clone(),
    };
    let mut attributes = vec![
        KeyValue::new("exception.type", error.code.clone()),
        KeyValue::new("exception.message", summary),
    ];
    if let Some(line) = error.line {
        attributes.push(KeyValue::new("parquetry.csv.line", line));
    }
    if let Some(column) = &error.column {
        attributes.push(KeyValue::new("parquetry.csv.column", column.clone()));
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
) -> AttemptStatus {
    record_exception(&Span::current(), &error);
    let backoff = context.settings.retry_backoff(job.attempts.max(1) as u32);
    match context
        .store
        .retry(job.id, worker_id, &error, backoff)
        .await
    {
        Ok(Some(updated)) if updated.status == JobStatus::Failed => {
            tracing::warn!(error.code = %error.code, attempts = updated.attempts, "job failed: attempts spent");
            context.metrics.job_finished("failed", Some(&error.code));
            "failed"
        }
        Ok(Some(_)) => {
            tracing::warn!(error.code = %error.code, backoff_ms = backoff.as_millis() as u64, "attempt failed; the job will be retried");
            "retrying"
        }
        Ok(None) => "lease_lost",
        Err(db_error) => {
            tracing::error!(job_id = %job.id, error = %db_error, "recording the retry failed; the lease will expire instead");
            "requeued"
        }
    }
}
