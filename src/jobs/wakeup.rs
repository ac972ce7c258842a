//! Wake-ups of idle workers when a job becomes claimable: PostgreSQL's
//! LISTEN/NOTIFY across processes (the `jobs_notify_queued` trigger), an
//! in-process notification for the single-process SQLite store.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::sqlite::SqliteJobs;
use super::store::JobStore;

/// The channel the `jobs_notify_queued` trigger notifies.
const QUEUE_CHANNEL: &str = "parquetry_jobs";
/// How long to wait before listening again after the connection was lost.
const RELISTEN_DELAY: Duration = Duration::from_secs(5);

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
            JobStore::Postgres(store) => listen(store.pool(), &wake, &stop).await,
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

/// LISTEN on a connection of its own, reconnecting after an outage; workers
/// keep polling meanwhile, so an outage only slows wake-ups down.
async fn listen(pool: &PgPool, wake: &Notify, stop: &CancellationToken) {
    let mut reported = false;
    while !stop.is_cancelled() {
        let listener = async {
            let mut listener = PgListener::connect_with(pool).await?;
            listener.listen(QUEUE_CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = match listener.await {
            Ok(listener) => {
                if reported {
                    tracing::info!("listening for queued jobs again");
                    reported = false;
                }
                listener
            }
            Err(error) => {
                // Said once per outage, not every few seconds.
                if !reported {
                    tracing::warn!(%error, "cannot LISTEN for queued jobs; polling until the database is back");
                    reported = true;
                }
                tokio::select! {
                    _ = tokio::time::sleep(RELISTEN_DELAY) => continue,
                    _ = stop.cancelled() => return,
                }
            }
        };
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
