//! Wake-ups of idle workers when a job becomes claimable: PostgreSQL's
//! LISTEN/NOTIFY across processes (the `jobs_notify_queued` trigger), an
//! in-process notification for the single-process SQLite store.

use std::sync::Arc;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::listen::listen;
use super::sqlite::SqliteJobs;
use super::store::JobStore;

/// The channel the `jobs_notify_queued` trigger notifies.
const QUEUE_CHANNEL: &str = "parquetry_jobs";

/// Wakes idle workers when jobs are queued; see [`JobStore::queue_listener`].
pub struct QueueListener {
    store: JobStore,
}

impl QueueListener {
    pub(super) fn new(store: &JobStore) -> QueueListener {
        QueueListener {
            store: store.clone(),
        }
    }

    /// Calls `wake.notify_one()` once per notification until `stop`.
    pub async fn run(self, wake: Arc<Notify>, stop: CancellationToken) {
        match &self.store {
            JobStore::Sqlite(store) => in_process(store, &wake, &stop).await,
            // A reconnection wakes a worker too: a job queued during the
            // outage sent a notification nobody heard.
            JobStore::Postgres(store) => {
                listen(store.pool(), QUEUE_CHANNEL, "queued jobs", &stop, |_| {
                    wake.notify_one()
                })
                .await
            }
        }
    }
}

/// One process owns the SQLite file: the store wakes its workers itself.
async fn in_process(store: &SqliteJobs, wake: &Notify, stop: &CancellationToken) {
    loop {
        tokio::select! {
            _ = store.job_queued() => wake.notify_one(),
            _ = stop.cancelled() => return,
        }
    }
}
