//! Wake-ups of requests that wait on a job (`?wait=`, the event stream) when
//! its status or progress changed, in whatever process changed it.
//!
//! Status changes and progress travel apart so that a request waiting for a
//! status change is not woken by every heartbeat of the job.
//!
//! One feed per process, whatever the number of waiting clients: on
//! PostgreSQL a single LISTEN connection (the `jobs_notify_changed` trigger
//! notifies `parquetry_job_changes` with `"<id> status"` or `"<id> progress"`); on SQLite, which one
//! process owns, the store publishes after each statement that changes a
//! job. Waiters subscribe *before* reading the job, so a change between
//! their read and their wait is not missed.

use std::sync::{Arc, OnceLock};

use sqlx::postgres::PgPool;
use tokio::sync::broadcast;
use tokio_util::sync::{CancellationToken, DropGuard};
use uuid::Uuid;

use super::listen::{listen, Heard};

/// The channel the `jobs_notify_changed` trigger notifies.
const CHANGES_CHANNEL: &str = "parquetry_job_changes";
/// Changes buffered per subscriber; one that falls further behind is told
/// that anything may have changed.
const BACKLOG: usize = 1024;
/// What changed in a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Its status (or it may have: after missed notifications).
    Status,
    /// Only the running attempt's progress.
    Progress,
}

impl Change {
    /// A notification's payload: `"<id> status"` or `"<id> progress"`.
    fn parse(payload: &str) -> Option<(Uuid, Change)> {
        let (id, kind) = payload.split_once(' ')?;
        let change = match kind {
            "progress" => Change::Progress,
            _ => Change::Status,
        };
        Some((id.parse().ok()?, change))
    }
}

/// Published when changes may have been missed (a lost LISTEN connection):
/// every waiter reads its job again.
const ANY_JOB: Uuid = Uuid::nil();

/// The process's feed of job changes. Cloning shares it; the PostgreSQL
/// listener stops when the last clone goes.
#[derive(Clone, Debug)]
pub struct JobChanges {
    sender: broadcast::Sender<(Uuid, Change)>,
    /// PostgreSQL only: the LISTEN, started by [`JobChanges::start`] in the
    /// processes that answer waiting requests, so that a worker or a CLI
    /// command holds no connection for it.
    listener: Option<Arc<Listener>>,
}

#[derive(Debug)]
struct Listener {
    pool: PgPool,
    running: OnceLock<DropGuard>,
}

impl JobChanges {
    /// A feed that the store itself publishes to (SQLite).
    pub(super) fn in_process() -> JobChanges {
        let (sender, _) = broadcast::channel(BACKLOG);
        JobChanges {
            sender,
            listener: None,
        }
    }

    /// A feed of the notifications of every process sharing `pool`'s
    /// database, once started.
    pub(super) fn listening(pool: &PgPool) -> JobChanges {
        let (sender, _) = broadcast::channel(BACKLOG);
        JobChanges {
            sender,
            listener: Some(Arc::new(Listener {
                pool: pool.clone(),
                running: OnceLock::new(),
            })),
        }
    }

    /// Starts listening to the other processes' changes (once; nothing to
    /// start on SQLite). Call it before answering requests that wait.
    pub fn start(&self) {
        if let Some(listener) = &self.listener {
            listener.running.get_or_init(|| {
                let stop = CancellationToken::new();
                let pool = listener.pool.clone();
                tokio::spawn(listen_for_changes(pool, self.sender.clone(), stop.clone()));
                stop.drop_guard()
            });
        }
    }

    /// Tells this process's waiters that `id` changed.
    pub(super) fn publish(&self, id: Uuid, change: Change) {
        // No receiver is fine: nobody waits on any job right now.
        let _ = self.sender.send((id, change));
    }

    /// Starts watching `id`: changes from now on wake [`JobWatch::changed`].
    pub fn watch(&self, id: Uuid) -> JobWatch {
        JobWatch {
            id,
            receiver: self.sender.subscribe(),
        }
    }
}

/// A subscription to the changes of one job.
pub struct JobWatch {
    id: Uuid,
    receiver: broadcast::Receiver<(Uuid, Change)>,
}

impl JobWatch {
    /// Resolves when the job may have changed since the last call (or since
    /// the watch began): read it again to see what changed.
    pub async fn changed(&mut self) -> Change {
        loop {
            match self.receiver.recv().await {
                Ok((id, change)) if id == self.id => return change,
                Ok((id, _)) if id == ANY_JOB => return Change::Status,
                Ok(_) => continue,
                // Some changes were dropped: ours may be among them.
                Err(broadcast::error::RecvError::Lagged(_)) => return Change::Status,
                // The feed is gone with the store: nothing will change again.
                Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
            }
        }
    }

    /// Resolves when the job's status may have changed; progress alone
    /// does not wake it.
    pub async fn status_changed(&mut self) {
        while self.changed().await != Change::Status {}
    }
}

/// The notifications of every process, published to this one's waiters;
/// after a reconnection every waiter reads its job again, since
/// notifications sent meanwhile are lost.
async fn listen_for_changes(
    pool: PgPool,
    sender: broadcast::Sender<(Uuid, Change)>,
    stop: CancellationToken,
) {
    listen(&pool, CHANGES_CHANNEL, "job changes", &stop, |heard| {
        let change = match heard {
            Heard::Notification(payload) => Change::parse(payload),
            Heard::Reconnected => Some((ANY_JOB, Change::Status)),
        };
        if let Some(change) = change {
            let _ = sender.send(change);
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_watch_wakes_for_its_job_only() {
        let changes = JobChanges::in_process();
        let ours = Uuid::new_v4();
        let mut watch = changes.watch(ours);
        changes.publish(Uuid::new_v4(), Change::Status);
        changes.publish(ours, Change::Progress);
        assert_eq!(watch.changed().await, Change::Progress);
        let mut other = changes.watch(ours);
        changes.publish(Uuid::new_v4(), Change::Status);
        changes.publish(ours, Change::Progress);
        let woke = tokio::time::timeout(Duration::from_millis(50), other.status_changed()).await;
        assert!(woke.is_err(), "woke for another job or for progress alone");
        changes.publish(ANY_JOB, Change::Status);
        other.status_changed().await;
    }

    #[test]
    fn notifications_name_the_job_and_what_changed() {
        let id = Uuid::new_v4();
        assert_eq!(
            Change::parse(&format!("{id} progress")),
            Some((id, Change::Progress))
        );
        assert_eq!(
            Change::parse(&format!("{id} status")),
            Some((id, Change::Status))
        );
        assert_eq!(Change::parse("nonsense"), None);
    }
}
