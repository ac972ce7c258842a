//! Background workers: they claim queued jobs and convert them off the async
//! threads, at most `--workers` at once in this process.

mod run;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sqlx::postgres::PgListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::WorkerSettings;
use crate::jobs::JobStore;
use crate::storage::Storage;
use crate::telemetry::metrics::Metrics;

/// The channel the `jobs_notify_queued` trigger notifies.
const QUEUE_CHANNEL: &str = "parquetry_jobs";
/// How often, at most, queue gauges are refreshed, stale leases looked for
/// and expired jobs removed.
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(5);
/// How long an expired job's id keeps answering 410 rather than 404.
const TOMBSTONE_RETENTION: Duration = Duration::from_secs(30 * 24 * 60 * 60);

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
        let workers = (0..count)
            .map(|n| {
                let worker = Worker {
                    id: format!("{process}-{n}"),
                    context: context.clone(),
                    wake: wake.clone(),
                    stop_claiming: stop_claiming.clone(),
                    abandon_jobs: abandon_jobs.clone(),
                };
                tokio::spawn(worker.run())
            })
            .collect();
        let background = vec![
            tokio::spawn(listen_for_jobs(
                context.store.clone(),
                wake,
                stop_claiming.clone(),
            )),
            tokio::spawn(housekeeping(context, stop_claiming.clone())),
        ];
        tracing::info!(workers = count, "workers started");
        WorkerPool {
            stop_claiming,
            abandon_jobs,
            workers,
            background,
        }
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
    context: WorkerContext,
    wake: Arc<Notify>,
    stop_claiming: CancellationToken,
    abandon_jobs: CancellationToken,
}

impl Worker {
    async fn run(self) {
        let poll_interval = self.context.settings.poll_interval();
        while !self.stop_claiming.is_cancelled() {
            let claim_started = SystemTime::now();
            match self.context.store.claim(&self.id).await {
                Ok(Some(job)) => {
                    let claimed = run::ClaimTiming {
                        started: claim_started,
                        ended: SystemTime::now(),
                    };
                    run::run_job(&self.context, &self.id, job, claimed, &self.abandon_jobs).await;
                    continue;
                }
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, worker.id = %self.id, "claiming a job failed"),
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(poll_interval) => {}
                _ = self.stop_claiming.cancelled() => {}
            }
        }
    }
}

/// Wakes one idle worker per queued job; polling remains the fallback when
/// the listener is down.
async fn listen_for_jobs(store: JobStore, wake: Arc<Notify>, stop: CancellationToken) {
    if let Some(sqlite) = store.sqlite() {
        // One process owns the SQLite file: the store wakes us in-process.
        loop {
            tokio::select! {
                _ = sqlite.job_queued() => wake.notify_one(),
                _ = stop.cancelled() => return,
            }
        }
    }
    let Some(pool) = store.postgres_pool() else {
        return;
    };
    while !stop.is_cancelled() {
        let mut listener = match PgListener::connect_with(pool).await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!(%error, "cannot LISTEN for queued jobs; polling only");
                tokio::time::sleep(Duration::from_secs(5)).await;
                continue;
            }
        };
        if let Err(error) = listener.listen(QUEUE_CHANNEL).await {
            tracing::warn!(%error, "cannot LISTEN for queued jobs; polling only");
            tokio::time::sleep(Duration::from_secs(5)).await;
            continue;
        }
        loop {
            tokio::select! {
                notification = listener.recv() => match notification {
                    Ok(_) => wake.notify_one(),
                    Err(error) => {
                        tracing::warn!(%error, "lost the LISTEN connection; reconnecting");
                        break;
                    }
                },
                _ = stop.cancelled() => return,
            }
        }
    }
}

/// Refreshes the queue gauges, requeues jobs whose lease went stale and
/// removes expired jobs and orphan files.
async fn housekeeping(context: WorkerContext, stop: CancellationToken) {
    let interval = HOUSEKEEPING_INTERVAL.min(context.settings.lease_timeout() / 2);
    let mut ticker = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.cancelled() => return,
        }
        match context.store.count_active().await {
            Ok((queued, running)) => {
                context.metrics.jobs_queued.record(queued, &[]);
                context.metrics.jobs_running.record(running, &[]);
            }
            Err(error) => tracing::warn!(%error, "counting jobs failed"),
        }
        match context
            .store
            .requeue_stale(context.settings.lease_timeout())
            .await
        {
            Ok(ids) if !ids.is_empty() => {
                tracing::warn!(jobs = ?ids, "requeued jobs whose worker stopped heartbeating");
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "requeueing stale jobs failed"),
        }
        if let Err(error) = remove_expired(&context).await {
            tracing::warn!(error = format!("{error:#}"), "removing expired jobs failed");
        }
    }
}

/// Retention: expired jobs lose their rows (leaving a tombstone for 410)
/// and their files; files that belong to no job are removed too.
async fn remove_expired(context: &WorkerContext) -> anyhow::Result<()> {
    let expired = context.store.expire(TOMBSTONE_RETENTION).await?;
    for id in &expired {
        context.storage.remove_job_files(*id).await?;
    }
    if !expired.is_empty() {
        tracing::info!(jobs = expired.len(), "removed expired jobs");
    }
    let candidates = context
        .storage
        .files_older_than(context.settings.orphan_grace())
        .await?;
    if candidates.is_empty() {
        return Ok(());
    }
    let ids: Vec<uuid::Uuid> = candidates.iter().map(|(id, _)| *id).collect();
    let known = context.store.known_ids(&ids).await?;
    for (id, file) in candidates {
        if !known.contains(&id) {
            tracing::info!(path = %file, "removing a file that belongs to no job");
            if let Err(error) = context.storage.remove_file(&file).await {
                tracing::warn!(%error, path = %file, "could not remove an orphan file");
            }
        }
    }
    Ok(())
}
