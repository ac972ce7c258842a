//! The webhook outbox: every statement of `webhook_deliveries`, for both
//! databases. Rows are written by the `jobs_enqueue_webhook` trigger in the
//! statement that finishes a job (see the migrations); dispatchers claim due
//! rows here, fix the event's bytes on the first attempt and record each
//! attempt's outcome.

use std::sync::LazyLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::error::{StoreError, StoreResult};
use super::listen::listen;
use super::store::JobStore;

/// The `FROM` clause of the job reads that show a job's delivery: its
/// columns renamed so that no name of `jobs` becomes ambiguous.
macro_rules! jobs_with_webhook {
    () => {
        "jobs LEFT JOIN (SELECT job_id AS webhook_job_id, state AS webhook_state, \
         event_type AS webhook_event, attempts AS webhook_attempts, \
         last_status AS webhook_last_status, last_error AS webhook_last_error, \
         next_attempt_at AS webhook_next_attempt_at, delivered_at AS webhook_delivered_at \
         FROM webhook_deliveries) AS webhook ON webhook.webhook_job_id = jobs.id"
    };
}
pub(super) use jobs_with_webhook;

/// The channel the `jobs_enqueue_webhook` trigger notifies (PostgreSQL).
const CHANNEL: &str = "parquetry_webhooks";

/// Wakes this process's dispatcher when one of its own statements finished a
/// job: the in-process stand-in for NOTIFY (SQLite), and a shortcut on
/// PostgreSQL. Process-wide: a spurious wake-up costs one empty claim.
static LOCAL_WAKE: LazyLock<Notify> = LazyLock::new(Notify::new);

/// Tells the dispatcher a delivery may have been written.
pub(super) fn wake_local() {
    LOCAL_WAKE.notify_one();
}

const PG_CLAIM: &str = "UPDATE webhook_deliveries SET attempts = attempts + 1, \
     next_attempt_at = now() + make_interval(secs => $1), updated_at = now() \
     WHERE job_id = (SELECT job_id FROM webhook_deliveries \
                     WHERE state = 'pending' AND next_attempt_at <= now() \
                     ORDER BY next_attempt_at FOR UPDATE SKIP LOCKED LIMIT 1) \
     RETURNING job_id, url, event_type, event_id, payload, traceparent, tracestate, attempts, \
               event_at, give_up_at";
const PG_FIX_EVENT: &str = "UPDATE webhook_deliveries SET event_id = coalesce(event_id, $2), \
     payload = coalesce(payload, $3), updated_at = now() WHERE job_id = $1 \
     RETURNING event_id, payload";
/// Only the attempt that was claimed may record its outcome: a process whose
/// attempt was deemed lost and made again elsewhere changes nothing.
const PG_RECORD: &str = "UPDATE webhook_deliveries SET \
     state = CASE WHEN $3 = 'delivered' THEN 'delivered' \
                  WHEN $3 = 'retry' AND now() + make_interval(secs => $6) <= give_up_at \
                  THEN 'pending' ELSE 'failed' END, \
     next_attempt_at = CASE WHEN $3 = 'retry' THEN now() + make_interval(secs => $6) \
                       ELSE next_attempt_at END, \
     last_status = $4, last_error = $5, \
     delivered_at = CASE WHEN $3 = 'delivered' THEN now() END, updated_at = now() \
     WHERE job_id = $1 AND attempts = $2 AND state = 'pending'";

const SQLITE_CLAIM: &str = "UPDATE webhook_deliveries SET attempts = attempts + 1, \
     next_attempt_at = ?2, updated_at = ?1 \
     WHERE job_id = (SELECT job_id FROM webhook_deliveries \
                     WHERE state = 'pending' AND next_attempt_at <= ?1 \
                     ORDER BY next_attempt_at LIMIT 1) \
     RETURNING job_id, url, event_type, event_id, payload, traceparent, tracestate, attempts, \
               event_at, give_up_at";
const SQLITE_FIX_EVENT: &str = "UPDATE webhook_deliveries SET event_id = coalesce(event_id, ?2), \
     payload = coalesce(payload, ?3), updated_at = ?4 WHERE job_id = ?1 \
     RETURNING event_id, payload";
const SQLITE_RECORD: &str = "UPDATE webhook_deliveries SET \
     state = CASE WHEN ?3 = 'delivered' THEN 'delivered' \
                  WHEN ?3 = 'retry' AND ?6 <= give_up_at THEN 'pending' ELSE 'failed' END, \
     next_attempt_at = CASE WHEN ?3 = 'retry' THEN ?6 ELSE next_attempt_at END, \
     last_status = ?4, last_error = ?5, \
     delivered_at = CASE WHEN ?3 = 'delivered' THEN ?7 END, updated_at = ?7 \
     WHERE job_id = ?1 AND attempts = ?2 AND state = 'pending'";

/// The delivery of a job's event, as the job shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    /// `job.succeeded`, `job.failed` or `job.canceled`.
    pub event: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: i32,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// A claimed attempt: the delivery is this process's until it records the
/// outcome or its lease runs out.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub job_id: Uuid,
    pub url: String,
    pub event_type: String,
    /// The event's id and body once fixed (after the first attempt began).
    pub event_id: Option<String>,
    pub payload: Option<String>,
    pub traceparent: Option<String>,
    pub tracestate: Option<String>,
    /// This attempt's number, from 1.
    pub attempt: i32,
    pub event_at: DateTime<Utc>,
}

/// What became of an attempt.
#[derive(Debug, Clone)]
pub enum AttemptOutcome {
    /// A 2xx answer.
    Delivered { status: u16 },
    /// Worth trying again after `backoff` (timeouts, connection errors, 5xx,
    /// 429), unless a day has passed since the event.
    Retry {
        status: Option<u16>,
        error: String,
        backoff: Duration,
    },
    /// Not worth trying again (another 4xx, a refused address).
    Failed { status: Option<u16>, error: String },
}

impl AttemptOutcome {
    fn parts(&self) -> (&'static str, Option<i32>, Option<&str>, Duration) {
        match self {
            AttemptOutcome::Delivered { status } => {
                ("delivered", Some(i32::from(*status)), None, Duration::ZERO)
            }
            AttemptOutcome::Retry {
                status,
                error,
                backoff,
            } => ("retry", status.map(i32::from), Some(error), *backoff),
            AttemptOutcome::Failed { status, error } => {
                ("failed", status.map(i32::from), Some(error), Duration::ZERO)
            }
        }
    }
}

fn micros(instant: DateTime<Utc>) -> i64 {
    instant.timestamp_micros()
}

fn sqlite_instant(micros: Option<i64>) -> Option<DateTime<Utc>> {
    micros.and_then(DateTime::from_timestamp_micros)
}

fn delay_micros(delay: Duration) -> i64 {
    i64::try_from(delay.as_micros()).unwrap_or(i64::MAX / 4)
}

/// The delivery a PostgreSQL job row carries, when read with
/// [`jobs_with_webhook`] and the job has one.
pub(super) fn delivery_of_pg_row(row: &PgRow) -> sqlx::Result<Option<WebhookDelivery>> {
    if row.try_column("webhook_state").is_err() {
        return Ok(None);
    }
    let Some(state) = row.try_get::<Option<String>, _>("webhook_state")? else {
        return Ok(None);
    };
    Ok(Some(WebhookDelivery {
        event: row.try_get("webhook_event")?,
        state,
        attempts: row.try_get("webhook_attempts")?,
        last_status: row.try_get("webhook_last_status")?,
        last_error: row.try_get("webhook_last_error")?,
        next_attempt_at: row.try_get("webhook_next_attempt_at")?,
        delivered_at: row.try_get("webhook_delivered_at")?,
    }))
}

/// The same for an SQLite job row.
pub(super) fn delivery_of_sqlite_row(row: &SqliteRow) -> sqlx::Result<Option<WebhookDelivery>> {
    if row.try_column("webhook_state").is_err() {
        return Ok(None);
    }
    let Some(state) = row.try_get::<Option<String>, _>("webhook_state")? else {
        return Ok(None);
    };
    Ok(Some(WebhookDelivery {
        event: row.try_get("webhook_event")?,
        state,
        attempts: row.try_get("webhook_attempts")?,
        last_status: row.try_get("webhook_last_status")?,
        last_error: row.try_get("webhook_last_error")?,
        next_attempt_at: sqlite_instant(row.try_get("webhook_next_attempt_at")?),
        delivered_at: sqlite_instant(row.try_get("webhook_delivered_at")?),
    }))
}

fn claimed_from_pg(row: &PgRow) -> sqlx::Result<ClaimedDelivery> {
    Ok(ClaimedDelivery {
        job_id: row.try_get("job_id")?,
        url: row.try_get("url")?,
        event_type: row.try_get("event_type")?,
        event_id: row.try_get("event_id")?,
        payload: row.try_get("payload")?,
        traceparent: row.try_get("traceparent")?,
        tracestate: row.try_get("tracestate")?,
        attempt: row.try_get("attempts")?,
        event_at: row.try_get("event_at")?,
    })
}

fn claimed_from_sqlite(row: &SqliteRow) -> sqlx::Result<ClaimedDelivery> {
    let event_at: i64 = row.try_get("event_at")?;
    Ok(ClaimedDelivery {
        job_id: row.try_get("job_id")?,
        url: row.try_get("url")?,
        event_type: row.try_get("event_type")?,
        event_id: row.try_get("event_id")?,
        payload: row.try_get("payload")?,
        traceparent: row.try_get("traceparent")?,
        tracestate: row.try_get("tracestate")?,
        attempt: row.try_get("attempts")?,
        event_at: sqlite_instant(Some(event_at)).unwrap_or_else(Utc::now),
    })
}

impl JobStore {
    /// Claims the most overdue delivery, for `lease`: if no outcome is
    /// recorded by then (the process died), the attempt is made again.
    /// Untraced, like the job claim: dispatchers run it on every wake-up.
    pub async fn claim_delivery(&self, lease: Duration) -> StoreResult<Option<ClaimedDelivery>> {
        match self {
            JobStore::Postgres(store) => {
                let row = sqlx::query(PG_CLAIM)
                    .bind(lease.as_secs_f64())
                    .fetch_optional(store.pool())
                    .await?;
                Ok(row.as_ref().map(claimed_from_pg).transpose()?)
            }
            JobStore::Sqlite(store) => {
                let now = micros(Utc::now());
                // `fetch_all`: the commit happens when the statement is
                // stepped to its end (see `SqliteJobs::one`).
                let rows = sqlx::query(SQLITE_CLAIM)
                    .bind(now)
                    .bind(now + delay_micros(lease))
                    .fetch_all(store.pool())
                    .await?;
                Ok(rows.first().map(claimed_from_sqlite).transpose()?)
            }
        }
    }

    /// Keeps the event's id and body unless an earlier attempt already did,
    /// and returns those to send.
    pub async fn fix_event(
        &self,
        job_id: Uuid,
        event_id: &str,
        payload: &str,
    ) -> StoreResult<(String, String)> {
        let row = match self {
            JobStore::Postgres(store) => {
                let row = sqlx::query(PG_FIX_EVENT)
                    .bind(job_id)
                    .bind(event_id)
                    .bind(payload)
                    .fetch_optional(store.pool())
                    .await?;
                row.map(|row| Ok::<_, sqlx::Error>((row.try_get(0)?, row.try_get(1)?)))
            }
            JobStore::Sqlite(store) => {
                let rows = sqlx::query(SQLITE_FIX_EVENT)
                    .bind(job_id)
                    .bind(event_id)
                    .bind(payload)
                    .bind(micros(Utc::now()))
                    .fetch_all(store.pool())
                    .await?;
                rows.first()
                    .map(|row| Ok::<_, sqlx::Error>((row.try_get(0)?, row.try_get(1)?)))
            }
        };
        match row.transpose()? {
            Some(fixed) => Ok(fixed),
            // The job, and its delivery with it, was deleted meanwhile.
            None => Err(StoreError::Other(sqlx::Error::RowNotFound)),
        }
    }

    /// Records attempt number `attempt` of a delivery; nothing when that
    /// attempt is no longer the delivery's latest.
    pub async fn record_attempt(
        &self,
        job_id: Uuid,
        attempt: i32,
        outcome: &AttemptOutcome,
    ) -> StoreResult<()> {
        let (kind, status, error, backoff) = outcome.parts();
        match self {
            JobStore::Postgres(store) => {
                sqlx::query(PG_RECORD)
                    .bind(job_id)
                    .bind(attempt)
                    .bind(kind)
                    .bind(status)
                    .bind(error)
                    .bind(backoff.as_secs_f64())
                    .execute(store.pool())
                    .await?;
            }
            JobStore::Sqlite(store) => {
                let now = micros(Utc::now());
                sqlx::query(SQLITE_RECORD)
                    .bind(job_id)
                    .bind(attempt)
                    .bind(kind)
                    .bind(status)
                    .bind(error)
                    .bind(now + delay_micros(backoff))
                    .bind(now)
                    .execute(store.pool())
                    .await?;
            }
        }
        Ok(())
    }

    /// Calls `wake.notify_one()` whenever a delivery may have been written,
    /// until `stop`: NOTIFY from any process on PostgreSQL, and this
    /// process's own finishing statements on either database.
    pub async fn listen_for_deliveries(&self, wake: &Notify, stop: &CancellationToken) {
        let local = async {
            loop {
                LOCAL_WAKE.notified().await;
                wake.notify_one();
            }
        };
        let remote = async {
            if let JobStore::Postgres(store) = self {
                let deliveries = "webhook deliveries";
                listen(store.pool(), CHANNEL, deliveries, stop, |_| {
                    wake.notify_one()
                })
                .await;
            }
            std::future::pending::<()>().await
        };
        tokio::select! {
            _ = local => {}
            _ = remote => {}
            _ = stop.cancelled() => {}
        }
    }
}
