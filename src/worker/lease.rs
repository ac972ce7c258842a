//! The lease of a running job: a heartbeat renews it, and notices when the
//! job is no longer this worker's (canceled, or taken over after a stale
//! lease) or when this process shuts down, and then stops the conversion.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use super::progress::{attempt_report, ProgressSpans};
use crate::jobs::{AttemptReport, JobStore};

/// Why a running conversion was asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum StopReason {
    /// Not asked to stop.
    KeepGoing = 0,
    /// Canceled by its owner (the row says `canceled`).
    Canceled = 1,
    /// The lease went stale and the job is another attempt's now.
    LeaseLost = 2,
    /// This process is shutting down and gives the job back.
    ShuttingDown = 3,
}

impl StopReason {
    fn from_u8(value: u8) -> StopReason {
        match value {
            1 => StopReason::Canceled,
            2 => StopReason::LeaseLost,
            3 => StopReason::ShuttingDown,
            _ => StopReason::KeepGoing,
        }
    }
}

/// The flag the engine polls and the reason it was raised, shared between
/// the heartbeat task and the conversion thread.
#[derive(Default)]
pub(super) struct StopSignal {
    /// What `convert_file` polls.
    pub cancel: AtomicBool,
    reason: AtomicU8,
    /// Heartbeats that renewed the lease.
    heartbeats: AtomicU64,
    /// How far the conversion got, sampled by the heartbeat.
    pub progress: parquetry_convert::Progress,
    /// When the worker began to store the result (the last stage).
    storing_since: OnceLock<SystemTime>,
}

impl StopSignal {
    fn raise(&self, reason: StopReason) {
        self.reason.store(reason as u8, Ordering::SeqCst);
        self.cancel.store(true, Ordering::SeqCst);
    }

    pub fn reason(&self) -> StopReason {
        StopReason::from_u8(self.reason.load(Ordering::SeqCst))
    }

    /// The conversion is over: the result is being stored.
    pub fn mark_storing(&self) {
        let _ = self.storing_since.set(SystemTime::now());
    }

    /// The attempt's progress and timeline as the job row shows them.
    pub fn report(&self) -> AttemptReport {
        attempt_report(&self.progress, self.storing_since.get().copied())
    }

    /// How many heartbeats renewed the lease so far.
    pub fn heartbeats(&self) -> u64 {
        self.heartbeats.load(Ordering::Relaxed)
    }
}

/// A running heartbeat. It keeps going after the conversion, while the
/// result is published: sending a large result to a bucket can outlast the
/// lease timeout.
pub(super) struct Lease {
    done: CancellationToken,
    heartbeat: tokio::task::JoinHandle<()>,
    pub signal: Arc<StopSignal>,
}

impl Lease {
    /// Starts renewing the lease of `job` every `interval`; `signal` stops
    /// the job's conversion.
    pub fn keep(
        (store, job, worker_id): (JobStore, Uuid, &str),
        interval: Duration,
        abandon: CancellationToken,
        progress: ProgressSpans,
        signal: Arc<StopSignal>,
    ) -> Lease {
        let done = CancellationToken::new();
        let heartbeat = Heartbeat {
            store,
            job,
            worker_id: worker_id.to_string(),
            interval,
            signal: signal.clone(),
            abandon,
            done: done.clone(),
            progress,
        };
        let heartbeat = tokio::spawn(heartbeat.run().instrument(tracing::Span::current()));
        Lease {
            done,
            heartbeat,
            signal,
        }
    }

    /// Stops the heartbeat and waits for it.
    pub async fn release(self) {
        self.done.cancel();
        let _ = self.heartbeat.await;
    }
}

struct Heartbeat {
    store: JobStore,
    job: Uuid,
    worker_id: String,
    interval: Duration,
    signal: Arc<StopSignal>,
    abandon: CancellationToken,
    done: CancellationToken,
    progress: ProgressSpans,
}

impl Heartbeat {
    async fn run(mut self) {
        let mut ticker = tokio::time::interval(self.interval);
        ticker.tick().await;
        loop {
            tokio::select! {
                _ = self.done.cancelled() => return,
                _ = self.abandon.cancelled() => {
                    self.signal.raise(StopReason::ShuttingDown);
                    return;
                }
                _ = ticker.tick() => {}
            }
            let report = self.signal.report();
            match self
                .store
                .heartbeat(self.job, &self.worker_id, &report)
                .await
            {
                Ok(true) => {
                    self.signal.heartbeats.fetch_add(1, Ordering::Relaxed);
                    self.progress.report(&self.signal.progress);
                }
                Ok(false) => {
                    let reason = self.why_not_ours().await;
                    tracing::info!(job_id = %self.job, reason = ?reason, "the job is not this worker's anymore; stopping");
                    self.signal.raise(reason);
                    return;
                }
                // A passing database error must not stop a healthy conversion:
                // the lease only expires after the lease timeout.
                Err(error) => tracing::warn!(%error, job_id = %self.job, "heartbeat failed"),
            }
        }
    }

    /// A refused heartbeat means canceled or taken over: the row tells which.
    async fn why_not_ours(&self) -> StopReason {
        match self.store.get(self.job).await {
            Ok(Some(job)) if job.status == crate::jobs::JobStatus::Running => StopReason::LeaseLost,
            Ok(Some(job)) if job.status == crate::jobs::JobStatus::Queued => StopReason::LeaseLost,
            _ => StopReason::Canceled,
        }
    }
}
