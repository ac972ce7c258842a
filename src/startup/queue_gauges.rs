//! Which process reports the queue gauges (`parquetry.jobs.queued` and
//! `.running`), so that they are counted once however many `serve` and
//! `worker` processes share the job table.
//!
//! PostgreSQL: the process holding a session-level advisory lock on one
//! connection taken out of its pool. Any process can hold it (an API-only
//! `serve`, a `worker`, several replicas of each), so no deployment shape
//! loses the gauges or doubles them; when the holder dies its session ends,
//! PostgreSQL releases the lock and another process takes it within one
//! interval. Advisory locks are per database, like the job table.
//! "The API process exports them" would double them with two API replicas
//! and lose them in a deployment whose API runs elsewhere; summing with
//! `max()` in every query would leave OTLP consumers and `sum()` wrong.
//!
//! SQLite: the file belongs to one `serve`, which always reports them.

use std::sync::Arc;
use std::time::Duration;

use sqlx::{Connection, PgConnection, PgPool};
use tokio::task::JoinHandle;

use crate::jobs::JobStore;
use crate::telemetry::metrics::QueueFigures;

/// The advisory lock's key: any fixed 64-bit number no other lock of this
/// database uses ("parquetQ" in ASCII).
pub const LOCK_KEY: i64 = 0x7061_7271_7565_7451;

/// How often a process without the role tries to take it, the holder checks
/// its session, and the holder refreshes the figures.
const INTERVAL: Duration = Duration::from_secs(10);

/// The task that takes, keeps and uses the role; dropping it ends the task
/// and with it the locking session.
pub struct QueueGaugeRole {
    task: JoinHandle<()>,
}

impl Drop for QueueGaugeRole {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl QueueGaugeRole {
    /// Tries once at once (so a single process reports the gauges from its
    /// first scrape), then every `INTERVAL`.
    pub async fn start(store: JobStore, figures: Arc<QueueFigures>) -> QueueGaugeRole {
        let mut session = None;
        step(&store, &figures, &mut session).await;
        let task = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(INTERVAL);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                step(&store, &figures, &mut session).await;
            }
        });
        QueueGaugeRole { task }
    }
}

async fn step(store: &JobStore, figures: &QueueFigures, session: &mut Option<PgConnection>) {
    match store {
        JobStore::Sqlite(_) => figures.set_exporter(true),
        JobStore::Postgres(jobs) => {
            if let Some(connection) = session.as_mut() {
                if let Err(error) = connection.ping().await {
                    tracing::warn!(%error, "lost the session holding the queue gauges; another process may report them");
                    *session = None;
                    figures.set_exporter(false);
                }
            }
            if session.is_none() {
                match try_lock(jobs.pool()).await {
                    Ok(Some(connection)) => {
                        *session = Some(connection);
                        figures.set_exporter(true);
                        tracing::info!("this process reports the queue gauges (parquetry.jobs.queued, parquetry.jobs.running)");
                    }
                    Ok(None) => {}
                    // During an outage the workers' report already said so.
                    Err(error) => tracing::debug!(%error, "could not try the queue gauge lock"),
                }
            }
        }
    }
    // The holder refreshes the figures itself: it may have no workers'
    // housekeeping and no scraper (an API-only process pushing OTLP).
    if figures.is_exporter() {
        if let Ok((queued, running)) = store.count_active().await {
            figures.record(queued, running);
        }
    }
}

/// The lock on a connection of the pool; the connection leaves the pool
/// with it, since the lock lives as long as its session.
async fn try_lock(pool: &PgPool) -> sqlx::Result<Option<PgConnection>> {
    let mut connection = pool.acquire().await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(LOCK_KEY)
        .fetch_one(&mut *connection)
        .await?;
    Ok(locked.then(|| connection.detach()))
}
