//! What a tenant holds now, for its quotas (issue 14), and a key's own
//! limits. Read from the job table on every upload, so every process
//! enforces the same figures: an uploads-per-minute limit counts the rows
//! the tenant made in the last minute, whichever process made them.

use sqlx::Row;

use super::error::StoreResult;
use super::store::JobStore;

/// A tenant's jobs as its quotas see them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Queued and running jobs.
    pub active_jobs: i64,
    /// Inputs and results of every job it still has, in bytes.
    pub stored_bytes: i64,
    /// Jobs made in the last minute.
    pub recent_uploads: i64,
    /// Seconds until the oldest of those is a minute old (when one sheds).
    pub next_upload_secs: u64,
}

/// A key's own limits; `None` keeps the server's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyQuotas {
    pub max_active_jobs: Option<i64>,
    pub max_stored_bytes: Option<i64>,
    pub uploads_per_minute: Option<i64>,
}

/// The stored bytes of a job: its input, and its result once it has one
/// (`result.bytes`).
const PG_USAGE: &str = "SELECT \
       count(*) FILTER (WHERE status IN ('queued', 'running')) AS active, \
       coalesce(sum(input_bytes + coalesce((result->>'bytes')::bigint, 0)), 0)::bigint AS stored, \
       count(*) FILTER (WHERE created_at > now() - interval '1 minute') AS recent, \
       coalesce(ceil(extract(epoch FROM min(created_at) FILTER \
         (WHERE created_at > now() - interval '1 minute') + interval '1 minute' - now())), 0)::bigint \
         AS next_secs \
     FROM jobs WHERE tenant = $1";
const SQLITE_USAGE: &str = "SELECT \
       coalesce(sum(status IN ('queued', 'running')), 0) AS active, \
       coalesce(sum(input_bytes + coalesce(json_extract(result, '$.bytes'), 0)), 0) AS stored, \
       coalesce(sum(created_at > ?2 - 60000000), 0) AS recent, \
       coalesce(min(CASE WHEN created_at > ?2 - 60000000 THEN created_at END) + 60000000 - ?2, 0) \
         AS next_micros \
     FROM jobs WHERE tenant = ?1";
const PG_KEY_QUOTAS: &str =
    "SELECT max_active_jobs, max_stored_bytes, uploads_per_minute FROM api_keys WHERE name = $1";
const SQLITE_KEY_QUOTAS: &str =
    "SELECT max_active_jobs, max_stored_bytes, uploads_per_minute FROM api_keys WHERE name = ?1";
const PG_SET_KEY_QUOTAS: &str = "UPDATE api_keys SET max_active_jobs = $2, \
     max_stored_bytes = $3, uploads_per_minute = $4, updated_at = now() WHERE name = $1";
const SQLITE_SET_KEY_QUOTAS: &str = "UPDATE api_keys SET max_active_jobs = ?2, \
     max_stored_bytes = ?3, uploads_per_minute = ?4, updated_at = ?5 WHERE name = ?1";

impl JobStore {
    /// What `tenant` holds now.
    pub async fn usage(&self, tenant: &str) -> StoreResult<Usage> {
        let usage = match self {
            JobStore::Postgres(store) => {
                let row = sqlx::query(PG_USAGE)
                    .bind(tenant)
                    .fetch_one(store.pool())
                    .await?;
                Usage {
                    active_jobs: row.try_get("active")?,
                    stored_bytes: row.try_get("stored")?,
                    recent_uploads: row.try_get("recent")?,
                    next_upload_secs: row.try_get::<i64, _>("next_secs")?.max(1) as u64,
                }
            }
            JobStore::Sqlite(store) => {
                let now = chrono::Utc::now().timestamp_micros();
                let row = sqlx::query(SQLITE_USAGE)
                    .bind(tenant)
                    .bind(now)
                    .fetch_one(store.pool())
                    .await?;
                let micros: i64 = row.try_get("next_micros")?;
                Usage {
                    active_jobs: row.try_get("active")?,
                    stored_bytes: row.try_get("stored")?,
                    recent_uploads: row.try_get("recent")?,
                    next_upload_secs: (micros.max(0) as u64).div_ceil(1_000_000).max(1),
                }
            }
        };
        Ok(usage)
    }

    /// The limits of the key named `name` (none set: all `None`).
    pub async fn key_quotas(&self, name: &str) -> StoreResult<KeyQuotas> {
        let quotas = match self {
            JobStore::Postgres(store) => sqlx::query(PG_KEY_QUOTAS)
                .bind(name)
                .fetch_optional(store.pool())
                .await?
                .map(|row| {
                    Ok::<_, sqlx::Error>(KeyQuotas {
                        max_active_jobs: row.try_get("max_active_jobs")?,
                        max_stored_bytes: row.try_get("max_stored_bytes")?,
                        uploads_per_minute: row
                            .try_get::<Option<i32>, _>("uploads_per_minute")?
                            .map(i64::from),
                    })
                })
                .transpose()?,
            JobStore::Sqlite(store) => sqlx::query(SQLITE_KEY_QUOTAS)
                .bind(name)
                .fetch_optional(store.pool())
                .await?
                .map(|row| {
                    Ok::<_, sqlx::Error>(KeyQuotas {
                        max_active_jobs: row.try_get("max_active_jobs")?,
                        max_stored_bytes: row.try_get("max_stored_bytes")?,
                        uploads_per_minute: row.try_get("uploads_per_minute")?,
                    })
                })
                .transpose()?,
        };
        Ok(quotas.unwrap_or_default())
    }

    /// Sets the limits of the key named `name`; `false` when there is none.
    pub async fn set_key_quotas(&self, name: &str, quotas: &KeyQuotas) -> StoreResult<bool> {
        let updated = match self {
            JobStore::Postgres(store) => sqlx::query(PG_SET_KEY_QUOTAS)
                .bind(name)
                .bind(quotas.max_active_jobs)
                .bind(quotas.max_stored_bytes)
                .bind(
                    quotas
                        .uploads_per_minute
                        .map(|n| n.min(i32::MAX as i64) as i32),
                )
                .execute(store.pool())
                .await?
                .rows_affected(),
            JobStore::Sqlite(store) => sqlx::query(SQLITE_SET_KEY_QUOTAS)
                .bind(name)
                .bind(quotas.max_active_jobs)
                .bind(quotas.max_stored_bytes)
                .bind(quotas.uploads_per_minute)
                .bind(chrono::Utc::now().timestamp_micros())
                .execute(store.pool())
                .await?
                .rows_affected(),
        };
        Ok(updated > 0)
    }
}
