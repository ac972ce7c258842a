//! Per-tenant quotas (issue 14), checked before an upload's body is stored:
//! queued + running jobs, stored bytes and uploads per minute. The figures
//! come from the job table (`JobStore::usage`), so every process of one
//! database enforces the same limits. Two uploads racing past the check at
//! once may both be let in: a quota bounds a tenant, it is not a lock.

use super::problem::ApiError;
use super::AppState;
use crate::config::QuotaSettings;
use crate::jobs::{KeyQuotas, Principal};

/// Which limit an upload is over; each has its own problem `code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quota {
    ActiveJobs,
    StoredBytes,
    UploadsPerMinute,
}

/// A tenant's limits: the server's defaults, or the caller's key's own.
/// `None` is unlimited.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    active_jobs: Option<u64>,
    stored_bytes: Option<u64>,
    uploads_per_minute: Option<u64>,
}

impl Limits {
    pub fn from_settings(settings: &QuotaSettings) -> Limits {
        let limit = |n: u64| (n > 0).then_some(n);
        Limits {
            active_jobs: limit(settings.quota_active_jobs),
            stored_bytes: limit(settings.quota_stored_bytes),
            uploads_per_minute: limit(settings.quota_uploads_per_minute),
        }
    }

    /// A key's own limit replaces the default; a key's 0 is unlimited.
    fn overridden_by(self, key: KeyQuotas) -> Limits {
        let pick = |own: Option<i64>, default: Option<u64>| match own {
            Some(own) => (own > 0).then_some(own as u64),
            None => default,
        };
        Limits {
            active_jobs: pick(key.max_active_jobs, self.active_jobs),
            stored_bytes: pick(key.max_stored_bytes, self.stored_bytes),
            uploads_per_minute: pick(key.uploads_per_minute, self.uploads_per_minute),
        }
    }
}

/// How many more bytes a tenant may store, and its limit.
#[derive(Debug, Clone, Copy)]
pub(super) struct Room {
    left: u64,
    limit: u64,
}

/// Refuses an upload over one of the caller's tenant's limits (a declared
/// `Content-Length` counts toward the stored bytes), or answers how many
/// more bytes the tenant may store (`None`: no limit), so the body is
/// stopped when it passes them.
pub(super) async fn check(
    state: &AppState,
    principal: &Principal,
    declared: Option<u64>,
    idempotency_key: Option<&str>,
) -> Result<Option<Room>, ApiError> {
    let mut limits = state.quotas;
    if let Some(name) = &principal.key_name {
        limits = limits.overridden_by(state.store.key_quotas(name).await?);
    }
    if limits.active_jobs.is_none()
        && limits.stored_bytes.is_none()
        && limits.uploads_per_minute.is_none()
    {
        return Ok(None);
    }
    // The retry of an upload that was made (its Idempotency-Key names a job)
    // is answered with that job: it adds nothing, so it is not refused.
    if let Some(key) = idempotency_key {
        let store = &state.store;
        if store
            .find_by_idempotency_key(&principal.tenant, key)
            .await?
            .is_some()
        {
            return Ok(None);
        }
    }
    let usage = state.store.usage(&principal.tenant).await?;
    let over = |quota, limit, retry_after| ApiError::QuotaExceeded {
        quota,
        limit,
        retry_after,
    };
    if let Some(limit) = limits.uploads_per_minute {
        if usage.recent_uploads as u64 >= limit {
            return Err(over(Quota::UploadsPerMinute, limit, usage.next_upload_secs));
        }
    }
    if let Some(limit) = limits.active_jobs {
        if usage.active_jobs as u64 >= limit {
            return Err(over(Quota::ActiveJobs, limit, ACTIVE_RETRY_SECS));
        }
    }
    let Some(limit) = limits.stored_bytes else {
        return Ok(None);
    };
    let left = limit.saturating_sub(usage.stored_bytes.max(0) as u64);
    if left == 0 || declared.is_some_and(|declared| declared > left) {
        return Err(over(Quota::StoredBytes, limit, STORED_RETRY_SECS));
    }
    Ok(Some(Room { left, limit }))
}

/// A job takes seconds to minutes: worth asking again in half a minute.
const ACTIVE_RETRY_SECS: u64 = 30;
/// Stored bytes free when jobs expire or are deleted.
const STORED_RETRY_SECS: u64 = 60;

/// The size limit an upload is stored with: the server's, or less when the
/// tenant's stored-bytes quota leaves less room.
pub(super) fn upload_limit(state: &AppState, room: Option<Room>) -> u64 {
    room.map_or(state.max_upload_bytes, |room| {
        room.left.min(state.max_upload_bytes)
    })
}

/// An upload stopped at the quota's room is over the quota, not too large
/// for the server.
pub(super) fn over_room(error: ApiError, state: &AppState, room: Option<Room>) -> ApiError {
    match (error, room) {
        (ApiError::PayloadTooLarge { limit }, Some(room))
            if limit == room.left && room.left < state.max_upload_bytes =>
        {
            ApiError::QuotaExceeded {
                quota: Quota::StoredBytes,
                limit: room.limit,
                retry_after: STORED_RETRY_SECS,
            }
        }
        (error, _) => error,
    }
}
