//! Background workers: they claim queued jobs and convert them off the async
//! threads, at most `--workers` at once in this process.

mod head_start;
mod housekeeping;
mod lease;
mod outcome;
mod progress;
mod run;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::WorkerSettings;
use crate::jobs::{JobStore, StoreError, StoreResult};
use crate::storage::Storage;
use crate::telemetry::metrics::Metrics;

pub use head_start::{producer_span, HeadStart, HeadStarts};

/// What a worker needs to run jobs.
#[derive(Clone)]
pub struct WorkerContext {
    pub store: JobStore,
    pub storage: Storage,
    pub metrics: Metrics,
    pub settings: WorkerSettings,
}

/// The running workers of this process.
pub struct WorkerPool {
    /// Tells idle workers to stop looking for jobs.
    stop_claiming: CancellationToken,
    /// Tells running conversions to give their job back to the queue.
    abandon_jobs: CancellationToken,
    workers: Vec<JoinHandle<()>>,
    background: Vec<JoinHandle<()>>,
    head_starts: HeadStarts,
}

impl WorkerPool {
    /// Starts `settings.worker_count()` workers, the queue listener and the
    /// housekeeping task.
    pub async fn start(context: WorkerContext) -> WorkerPool {
        let count = context.settings.worker_count();
        let stop_claiming = CancellationToken::new();
        let abandon_jobs = CancellationToken::new();
        let wake = Arc::new(Notify::new());
        let process = process_name();
        let outage = Arc::new(OutageReport::default());
        let slots = Arc::new(Semaphore::new(count));
        let workers = (0..count)
            .map(|n| {
                let worker = Worker {
                    id: format!("{process}-{n}"),
                    outage: outage.clone(),
                    slots: slots.clone(),
                    context: context.clone(),
                    wake: wake.clone(),
                    stop_claiming: stop_claiming.clone(),
                    abandon_jobs: abandon_jobs.clone(),
                };
                tokio::spawn(worker.run())
            })
            .collect();
        let head_starts = HeadStarts {
            context: context.clone(),
            slots,
            stop_claiming: stop_claiming.clone(),
            abandon: abandon_jobs.clone(),
            tasks: tokio_util::task::TaskTracker::new(),
            worker_id: format!("{process}-head-start"),
        };
        let background = vec![
            tokio::spawn(
                context
                    .store
                    .queue_listener()
                    .run(wake, stop_claiming.clone()),
            ),
            tokio::spawn(housekeeping::run(context, stop_claiming.clone())),
        ];
        tracing::info!(workers = count, "workers started");
        WorkerPool {
            stop_claiming,
            abandon_jobs,
            workers,
            background,
            head_starts,
        }
    }

    /// Conversions of uploads that still arrive, in these workers' slots.
    pub fn head_starts(&self) -> HeadStarts {
        self.head_starts.clone()
    }

    /// Stops claiming, lets running jobs finish for up to `grace`, then puts
    /// the unfinished ones back in the queue for another worker.
    pub async fn shutdown(self, grace: Duration) {
        self.stop_claiming.cancel();
        let abandon = self.abandon_jobs.clone();
        let timer = tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            abandon.cancel();
        });
        for worker in self.workers {
            let _ = worker.await;
        }
        self.head_starts.wait().await;
        timer.abort();
        for task in self.background {
            task.abort();
        }
        tracing::info!("workers stopped");
    }
}

/// `host-pid`: tells the workers of different processes apart.
fn process_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".to_string());
    format!("{host}-{}", std::process::id())
}

struct Worker {
    id: String,
    outage: Arc<OutageReport>,
    /// A worker holds a slot while it claims and runs a job; head starts
    /// take slots too.
    slots: Arc<Semaphore>,
    context: WorkerContext,
    wake: Arc<Notify>,
    stop_claiming: CancellationToken,
    abandon_jobs: CancellationToken,
}

impl Worker {
    async fn run(self) {
        let poll_interval = self.context.settings.poll_interval();
        while !self.stop_claiming.is_cancelled() {
            // Waits for a free slot without holding it while claiming: a head
            // start is never refused because a worker happens to be polling.
            tokio::select! {
                slot = self.slots.acquire() => drop(slot.expect("the slots are never closed")),
                _ = self.stop_claiming.cancelled() => break,
            }
            let claim_started = SystemTime::now();
            let claimed = self.context.store.claim(&self.id).await;
            self.outage.observe(&claimed);
            match claimed {
                Ok(Some(job)) => {
                    let claimed = run::ClaimTiming {
                        started: claim_started,
                        ended: SystemTime::now(),
                    };
                    self.run_in_a_slot(job, claimed).await;
                    continue;
                }
                Ok(None) => {}
                Err(StoreError::Unavailable(_)) => {}
                Err(error) => tracing::warn!(%error, worker.id = %self.id, "claiming a job failed"),
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(poll_interval) => {}
                _ = self.stop_claiming.cancelled() => {}
            }
        }
    }

    /// Runs a claimed job in a slot; gives it back to the queue (without
    /// spending its attempt) when a head start took the last slot meanwhile.
    async fn run_in_a_slot(&self, job: crate::jobs::Job, claimed: run::ClaimTiming) {
        let Ok(_slot) = self.slots.clone().try_acquire_owned() else {
            if let Err(error) = self.context.store.requeue(job.id, &self.id).await {
                tracing::warn!(%error, job_id = %job.id, "giving a claimed job back failed; its lease will expire instead");
            }
            return;
        };
        run::run_job(&self.context, &self.id, job, claimed, &self.abandon_jobs).await;
    }
}

/// Says once that the database went away and once that it is back, however
/// many workers keep polling meanwhile: an outage is one event, not a warning
/// per worker per poll.
#[derive(Default)]
struct OutageReport {
    down: AtomicBool,
}

impl OutageReport {
    fn observe<T>(&self, outcome: &StoreResult<T>) {
        match outcome {
            Err(StoreError::Unavailable(error)) => {
                if !self.down.swap(true, Ordering::SeqCst) {
                    tracing::warn!(%error, "the database is unavailable; workers keep retrying until it is back");
                }
            }
            _ => {
                if self.down.swap(false, Ordering::SeqCst) {
                    tracing::info!("the database is back; workers claim jobs again");
                }
            }
        }
    }
}
