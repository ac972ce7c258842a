//! Head starts: a job's conversion begun while its upload still arrives, in
//! one of this process's worker slots, reading the upload as it is written
//! (see `parquetry_convert::convert_arriving`). The job's row is still
//! written only once the upload is durably stored; it is then stored already
//! claimed by this process, and the job runs on from there like any other:
//! under a lease, cancelable, retried elsewhere if this attempt fails. An
//! upload that fails, or makes no job, stops its conversion and leaves
//! nothing behind.
//!
//! The trace keeps its shape: the upload's PRODUCER span (which the row's
//! INSERT runs in) begins with the head start, and the job's CONSUMER span
//! under it holds the conversion.

use std::sync::Arc;
use std::time::Instant;

use parquetry_convert::{Arrival, ConvertOptions};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{field::Empty, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use uuid::Uuid;

use super::lease::StopSignal;
use super::{run, WorkerContext};
use crate::jobs::Job;
use crate::storage::AttemptFiles;

/// Starts conversions of uploads that still arrive, in this process's
/// worker slots.
#[derive(Clone)]
pub struct HeadStarts {
    pub(super) context: WorkerContext,
    /// One permit per worker; a claim and a head start each hold one.
    pub(super) slots: Arc<Semaphore>,
    pub(super) stop_claiming: CancellationToken,
    pub(super) abandon: CancellationToken,
    /// The head-started jobs still running, for the shutdown to wait on.
    pub(super) tasks: TaskTracker,
    /// The worker the jobs are stored claimed by.
    pub(super) worker_id: String,
}

impl HeadStarts {
    /// Begins converting job `id`'s upload as it arrives, when a worker slot
    /// is free now; `None` leaves the job to the queue. Call inside the
    /// upload's request span: the job's spans hang under it.
    pub fn begin(
        &self,
        (id, tenant): (Uuid, &str),
        options: ConvertOptions,
        arrival: Arc<dyn Arrival>,
    ) -> Option<HeadStart> {
        if self.stop_claiming.is_cancelled() {
            return None;
        }
        let slot = self.slots.clone().try_acquire_owned().ok()?;
        let producer = producer_span(id);
        let consumer = run::consumer_span(
            (id, tenant, FIRST_ATTEMPT),
            &self.worker_id,
            Some(producer.context()),
        );
        let convert_span = run::convert_span(&consumer, Empty);
        let files = self.context.storage.scratch().attempt(id, FIRST_ATTEMPT);
        let signal = Arc::new(StopSignal::default());
        let conversion = {
            let (signal, span) = (signal.clone(), convert_span.clone());
            let (output, rejects) = (files.result(), files.rejects());
            tokio::task::spawn_blocking(move || {
                below_uploads(|| {
                    span.in_scope(|| {
                        parquetry_convert::convert_arriving(
                            &arrival,
                            &output,
                            Some(&rejects),
                            &options,
                            &signal.cancel,
                            &signal.progress,
                        )
                    })
                })
            })
        };
        let begun = Begun {
            signal,
            convert_span,
            consumer,
            started: Instant::now(),
        };
        Some(HeadStart {
            began_at: chrono::Utc::now(),
            running: Some((run::HeadStarted { begun, conversion }, slot)),
            producer,
            files,
            starts: self.clone(),
        })
    }

    /// Stops taking uploads and waits for the head-started jobs, which give
    /// their job back when `abandon` fires.
    pub(super) async fn wait(&self) {
        self.tasks.close();
        self.tasks.wait().await;
    }
}

/// How much lower than the rest of the process a head start's conversion
/// runs (a nice value; 19 is the lowest priority).
const HEAD_START_NICENESS: i32 = 10;

/// Runs `conversion` on a thread of its own at a lower priority, which the
/// engine's threads it starts inherit; they all end with it, so the
/// priority goes nowhere else. While the upload arrives, the conversion
/// then takes only the CPU that receiving the upload leaves: at equal
/// priority, on two cores, it made a 100 MB upload three times slower, and
/// a conversion that turns out unneeded (a form's later fields changed the
/// options) cost the upload as much.
fn below_uploads<T: Send>(conversion: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new()
            .name("head-start".into())
            .spawn_scoped(scope, || {
                // On Linux a nice value is the calling thread's own.
                if let Err(error) = rustix::process::nice(HEAD_START_NICENESS) {
                    tracing::debug!(%error, "the head start runs at the usual priority");
                }
                conversion()
            })
            .expect("starting a head start's thread");
        thread
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// The attempt a head start is: the job's first.
const FIRST_ATTEMPT: i32 = 1;

/// The PRODUCER span of an upload's job: the enqueue runs in it, and a head
/// start begins it.
pub fn producer_span(id: Uuid) -> Span {
    tracing::info_span!(
        "enqueue job",
        otel.name = "publish jobs",
        otel.kind = "producer",
        messaging.system = "parquetry",
        messaging.operation.type = "send",
        messaging.operation.name = "publish",
        messaging.destination.name = "jobs",
        messaging.message.id = %id,
        parquetry.job.id = %id,
    )
}

/// What the attempt needs from the conversion begun before its row existed.
pub(super) struct Begun {
    pub signal: Arc<StopSignal>,
    pub convert_span: Span,
    /// The job's CONSUMER span, which the attempt continues.
    pub consumer: Span,
    pub started: Instant,
}

/// A conversion under way of an upload that still arrives. Dropped without
/// [`HeadStart::hand_over`], it stops the conversion and removes its files.
pub struct HeadStart {
    /// When the conversion began: the attempt's `started_at`.
    began_at: chrono::DateTime<chrono::Utc>,
    /// The conversion and its worker slot, until handed over or dropped.
    running: Option<(run::HeadStarted, OwnedSemaphorePermit)>,
    producer: Span,
    files: AttemptFiles,
    starts: HeadStarts,
}

impl HeadStart {
    /// The upload's PRODUCER span: the job's row is inserted inside it.
    pub fn producer(&self) -> &Span {
        &self.producer
    }

    /// When the conversion began: the attempt's start, before the row exists.
    pub fn began_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.began_at
    }

    /// The worker the job's row must be stored claimed by.
    pub fn worker_id(&self) -> &str {
        &self.starts.worker_id
    }

    /// The job's row is stored, claimed by [`Self::worker_id`]: the attempt
    /// goes on in the background, past the request.
    pub fn hand_over(mut self, job: Job) {
        let (run, slot) = self.running.take().expect("handed over once");
        self.starts.context.metrics.head_start_ended("handed_over");
        // The upload is complete: the conversion's progress has a total now.
        let input_bytes = u64::try_from(job.input_bytes).unwrap_or(0);
        run.begun.signal.progress.input_complete(input_bytes);
        let convert_span = &run.begun.convert_span;
        convert_span.record("parquetry.input.bytes", job.input_bytes);
        let starts = self.starts.clone();
        starts.tasks.spawn(async move {
            let worker = starts.worker_id.as_str();
            run::run_head_started(&starts.context, worker, job, run, &starts.abandon).await;
            drop(slot);
        });
    }

    /// Stops the conversion and returns once its files are gone and its
    /// slot is free: for an upload whose job will run from the queue
    /// instead, whose attempt writes the same scratch files.
    pub async fn abandon(mut self) {
        if let Some(stopping) = self.stop() {
            stopping.await;
        }
    }

    /// Stops the conversion; what is returned removes its files and frees
    /// its slot once the conversion has stopped.
    fn stop(&mut self) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
        let (run, slot) = self.running.take()?;
        self.starts.context.metrics.head_start_ended("abandoned");
        let begun = &run.begun;
        begun
            .signal
            .cancel
            .store(true, std::sync::atomic::Ordering::SeqCst);
        begun.consumer.record("parquetry.job.status", "abandoned");
        let files = self.files.clone();
        Some(async move {
            let _ = run.conversion.await;
            files.remove().await;
            drop(slot);
        })
    }
}

impl Drop for HeadStart {
    /// The upload failed or made no job: the conversion is nobody's.
    fn drop(&mut self) {
        if let Some(stopping) = self.stop() {
            self.starts.tasks.spawn(stopping);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::process::getpriority_process;

    /// The conversion's thread, and the threads it starts, run lower; the
    /// caller's own priority is left as it was.
    #[test]
    fn a_head_start_runs_below_the_rest_of_the_process() {
        let before = getpriority_process(None).unwrap();
        let (inside, spawned) = below_uploads(|| {
            let spawned = std::thread::scope(|scope| {
                scope
                    .spawn(|| getpriority_process(None).unwrap())
                    .join()
                    .unwrap()
            });
            (getpriority_process(None).unwrap(), spawned)
        });
        let expected = (before + HEAD_START_NICENESS).min(19);
        assert_eq!(inside, expected);
        assert_eq!(spawned, expected);
        assert_eq!(getpriority_process(None).unwrap(), before);
    }
}
