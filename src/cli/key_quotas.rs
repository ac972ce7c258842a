//! `parquetry keys create`'s own quotas for a key, replacing the server's
//! defaults (`PARQUETRY_QUOTA_*`) for the jobs made with it.

use clap::Args;

use crate::jobs::KeyQuotas;

/// A key's own limits; a flag not given keeps the server's default, 0 is
/// unlimited for this key.
#[derive(Args, Debug, Default)]
pub struct QuotaArgs {
    /// Queued plus running jobs of the key's tenant, while uploading with it.
    #[arg(long, value_name = "N")]
    max_active_jobs: Option<u32>,
    /// Bytes the key's tenant may keep stored, while uploading with it.
    #[arg(long, value_name = "BYTES")]
    max_stored_bytes: Option<u64>,
    /// Uploads a minute with this key's tenant.
    #[arg(long, value_name = "N")]
    uploads_per_minute: Option<u32>,
}

impl QuotaArgs {
    /// The limits to store, `None` when no flag was given.
    pub fn key_quotas(&self) -> Option<KeyQuotas> {
        let quotas = KeyQuotas {
            max_active_jobs: self.max_active_jobs.map(i64::from),
            max_stored_bytes: self
                .max_stored_bytes
                .map(|bytes| bytes.min(i64::MAX as u64) as i64),
            uploads_per_minute: self.uploads_per_minute.map(i64::from),
        };
        (quotas != KeyQuotas::default()).then_some(quotas)
    }
}
