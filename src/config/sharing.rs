//! Settings of issue 14's quotas and share links.

use clap::Args;

/// Per-tenant quotas: the defaults of every tenant (the `default` tenant of
/// a server running open included); a key's own limits
/// (`parquetry keys create --max-active-jobs …`) replace them for its
/// uploads. 0 is unlimited.
#[derive(Args, Clone, Debug, Default)]
pub struct QuotaSettings {
    /// Queued plus running jobs a tenant may have (`PARQUETRY_QUOTA_ACTIVE_JOBS`).
    #[arg(long, env = "PARQUETRY_QUOTA_ACTIVE_JOBS", default_value_t = 0)]
    pub quota_active_jobs: u64,

    /// Bytes a tenant may keep stored, inputs and results of its jobs
    /// until they expire or are deleted (`PARQUETRY_QUOTA_STORED_BYTES`).
    #[arg(long, env = "PARQUETRY_QUOTA_STORED_BYTES", default_value_t = 0)]
    pub quota_stored_bytes: u64,

    /// Uploads a tenant may make in any minute, counted in the database
    /// across every process (`PARQUETRY_QUOTA_UPLOADS_PER_MINUTE`).
    #[arg(long, env = "PARQUETRY_QUOTA_UPLOADS_PER_MINUTE", default_value_t = 0)]
    pub quota_uploads_per_minute: u64,
}

impl QuotaSettings {
    /// The defaults, as if no flag or variable were given.
    pub fn parse_defaults() -> QuotaSettings {
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            quotas: QuotaSettings,
        }
        <Defaults as clap::Parser>::parse_from(["parquetry"]).quotas
    }
}

/// Share links of results (`POST /v1/jobs/{id}/links`).
#[derive(Args, Clone, Debug, Default)]
pub struct LinkSettings {
    /// The key share links are signed with (`PARQUETRY_LINK_SECRET`, at
    /// least 32 characters). Changing it invalidates every link given out.
    /// Unset: a random secret made once and kept in the database, shared by
    /// every process of it.
    #[arg(long, env = "PARQUETRY_LINK_SECRET", hide_env_values = true)]
    pub link_secret: Option<String>,
}

impl LinkSettings {
    /// The defaults, as if no flag or variable were given.
    pub fn parse_defaults() -> LinkSettings {
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            links: LinkSettings,
        }
        <Defaults as clap::Parser>::parse_from(["parquetry"]).links
    }
}
