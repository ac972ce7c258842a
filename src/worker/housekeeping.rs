//! What keeps the queue and the disk tidy: queue gauges, requeueing jobs
//! whose worker stopped heartbeating, retention, and the sweep of files no
//! live job or attempt owns (a killed worker's partial result, an upload
//! whose process crashed before its row was written).

use std::collections::HashMap;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::WorkerContext;
use crate::jobs::JobStatus;

/// How often, at most, queue gauges are refreshed, stale leases looked for
/// and expired jobs removed.
const INTERVAL: Duration = Duration::from_secs(5);
/// How long an expired job's id keeps answering 410 rather than 404.
const TOMBSTONE_RETENTION: Duration = Duration::from_secs(30 * 24 * 60 * 60);

pub(super) async fn run(context: WorkerContext, stop: CancellationToken) {
    let interval = INTERVAL.min(context.settings.lease_timeout() / 2);
    let mut ticker = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.cancelled() => return,
        }
        // During a database outage each step fails; the workers' outage
        // report already said so once, so these stay at debug level.
        match context.store.count_active().await {
            Ok((queued, running)) => {
                context.metrics.jobs_queued.record(queued, &[]);
                context.metrics.jobs_running.record(running, &[]);
            }
            Err(error) => tracing::debug!(%error, "counting jobs failed"),
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
            Err(error) => tracing::debug!(%error, "requeueing stale jobs failed"),
        }
        if let Err(error) = remove_expired(&context).await {
            tracing::debug!(error = format!("{error:#}"), "removing expired jobs failed");
        }
        if let Err(error) = sweep(&context).await {
            tracing::debug!(error = format!("{error:#}"), "sweeping orphan files failed");
        }
    }
}

/// Retention: expired jobs lose their rows (leaving a tombstone for 410)
/// and their files.
async fn remove_expired(context: &WorkerContext) -> anyhow::Result<()> {
    let expired = context.store.expire(TOMBSTONE_RETENTION).await?;
    for id in &expired {
        context.storage.remove_job_files(*id).await?;
    }
    if !expired.is_empty() {
        tracing::info!(jobs = expired.len(), "removed expired jobs");
    }
    Ok(())
}

/// Removes what no live job owns: stored objects of jobs that have no row
/// (after `orphan_grace`, so an upload whose row is being written keeps its
/// file), and scratch files of attempts that are not running anymore (those
/// of a job with no row yet, a head start's, after `orphan_grace` too).
async fn sweep(context: &WorkerContext) -> anyhow::Result<()> {
    let grace = context.settings.orphan_grace();
    let abandoned = context.storage.remove_abandoned_uploads(grace).await?;
    if abandoned > 0 {
        tracing::info!(
            files = abandoned,
            "removed the partial files of interrupted uploads"
        );
    }
    let objects = context
        .storage
        .objects_older_than(context.settings.orphan_grace())
        .await?;
    let scratch = context.storage.scratch().files().await?;
    if objects.is_empty() && scratch.is_empty() {
        return Ok(());
    }
    let mut ids: Vec<Uuid> = objects.iter().map(|file| file.job).collect();
    ids.extend(scratch.iter().map(|file| file.job));
    ids.sort();
    ids.dedup();
    // Listed before the states are read: a file made after the listing is
    // not judged, and one listed belongs to an attempt already claimed.
    let states: HashMap<Uuid, (JobStatus, i32)> = context
        .store
        .job_states(&ids)
        .await?
        .into_iter()
        .map(|(id, status, attempt)| (id, (status, attempt)))
        .collect();
    for file in objects {
        if !states.contains_key(&file.job) {
            tracing::info!(key = %file, "removing a stored file that belongs to no job");
            if let Err(error) = context.storage.remove_object(&file).await {
                tracing::warn!(%error, key = %file, "could not remove an orphan file");
            }
        }
    }
    for file in scratch {
        let live = match states.get(&file.job) {
            Some(state) => *state == (JobStatus::Running, file.attempt),
            // No row yet: a conversion begun while its upload arrives (a
            // head start, in any process on this machine) until it idles
            // as long as an orphan.
            None => file.idle_for().await.is_some_and(|idle| idle < grace),
        };
        if !live {
            tracing::info!(job_id = %file.job, attempt = file.attempt, "removing the scratch file of an attempt that is not running");
            if let Err(error) = file.remove().await {
                tracing::warn!(%error, path = %file.path.display(), "could not remove a scratch file");
            }
        }
    }
    Ok(())
}
