//! Typed configuration. Every field is a command-line flag that can also be
//! set from the environment variable named in its doc comment.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

mod sharing;
pub use sharing::{LinkSettings, QuotaSettings};

/// Where the job table lives.
#[derive(Args, Clone, Debug)]
pub struct DatabaseSettings {
    /// PostgreSQL connection URL (`DATABASE_URL`). Without it, `serve`
    /// keeps its job table in an embedded SQLite file under the data
    /// directory; `worker` needs it, since workers share PostgreSQL.
    #[arg(long, env = "DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,

    /// Most connections this process opens (`PARQUETRY_DATABASE_MAX_CONNECTIONS`).
    #[arg(long, env = "PARQUETRY_DATABASE_MAX_CONNECTIONS", default_value_t = 10)]
    pub database_max_connections: u32,
}

/// Where uploads and results are kept.
#[derive(Args, Clone, Debug)]
pub struct StorageSettings {
    /// Directory for uploaded CSV files and Parquet results (`PARQUETRY_DATA_DIR`).
    #[arg(long, env = "PARQUETRY_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Keeps uploads and results in this S3-compatible bucket, shared by
    /// every process (`PARQUETRY_S3_BUCKET`). Endpoint, region and
    /// credentials come from `AWS_ENDPOINT_URL`, `AWS_REGION` /
    /// `AWS_DEFAULT_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_SESSION_TOKEN` and `AWS_ALLOW_HTTP`. Unset: the data directory.
    #[arg(long, env = "PARQUETRY_S3_BUCKET")]
    pub s3_bucket: Option<String>,

    /// Key prefix of the job files inside the bucket (`PARQUETRY_S3_PREFIX`).
    #[arg(long, env = "PARQUETRY_S3_PREFIX")]
    pub s3_prefix: Option<String>,
}

/// How the background workers behave.
#[derive(Args, Clone, Debug)]
pub struct WorkerSettings {
    /// Conversions run at once in this process; 0 runs the API only
    /// (`PARQUETRY_WORKERS`, default: the number of cores).
    #[arg(long, env = "PARQUETRY_WORKERS")]
    pub workers: Option<usize>,

    /// How often an idle worker looks for a job when no notification came,
    /// in milliseconds (`PARQUETRY_POLL_INTERVAL_MS`).
    #[arg(long, env = "PARQUETRY_POLL_INTERVAL_MS", default_value_t = 1000)]
    pub poll_interval_ms: u64,

    /// How often a running job's lease is renewed and its cancellation checked,
    /// in milliseconds (`PARQUETRY_HEARTBEAT_INTERVAL_MS`).
    #[arg(long, env = "PARQUETRY_HEARTBEAT_INTERVAL_MS", default_value_t = 500)]
    pub heartbeat_interval_ms: u64,

    /// A running job whose heartbeat is older than this many seconds is put
    /// back in the queue (`PARQUETRY_LEASE_TIMEOUT_SECS`).
    #[arg(long, env = "PARQUETRY_LEASE_TIMEOUT_SECS", default_value_t = 30)]
    pub lease_timeout_secs: u64,

    /// Attempts a job gets when it fails for a transient reason (I/O,
    /// storage, a worker lost); a CSV that cannot be converted fails at once
    /// (`PARQUETRY_MAX_ATTEMPTS`).
    #[arg(long, env = "PARQUETRY_MAX_ATTEMPTS", default_value_t = 5)]
    pub max_attempts: u32,

    /// First retry delay in milliseconds; it doubles each attempt, with
    /// jitter, up to 5 minutes (`PARQUETRY_RETRY_BASE_MS`).
    #[arg(long, env = "PARQUETRY_RETRY_BASE_MS", default_value_t = 1000)]
    pub retry_base_ms: u64,

    /// On SIGTERM, how long running jobs may take to finish before they are
    /// put back in the queue, in seconds (`PARQUETRY_SHUTDOWN_GRACE_SECS`).
    #[arg(long, env = "PARQUETRY_SHUTDOWN_GRACE_SECS", default_value_t = 25)]
    pub shutdown_grace_secs: u64,

    /// How long finished jobs and their files are kept, in seconds
    /// (`PARQUETRY_RETENTION_SECS`, default 24 h).
    #[arg(long, env = "PARQUETRY_RETENTION_SECS", default_value_t = 24 * 60 * 60)]
    pub retention_secs: u64,

    /// A file in the data directory with no job row, untouched this many
    /// seconds, is removed (`PARQUETRY_ORPHAN_GRACE_SECS`).
    #[arg(long, env = "PARQUETRY_ORPHAN_GRACE_SECS", default_value_t = 600)]
    pub orphan_grace_secs: u64,
}

impl WorkerSettings {
    /// The number of concurrent conversions, resolving the default.
    pub fn worker_count(&self) -> usize {
        self.workers.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms.max(10))
    }

    pub fn heartbeat_interval(&self) -> Duration {
        Duration::from_millis(self.heartbeat_interval_ms.max(10))
    }

    pub fn lease_timeout(&self) -> Duration {
        Duration::from_secs(self.lease_timeout_secs.max(1))
    }

    pub fn retention(&self) -> Duration {
        Duration::from_secs(self.retention_secs)
    }

    pub fn orphan_grace(&self) -> Duration {
        Duration::from_secs(self.orphan_grace_secs)
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }

    /// The delay before retry number `attempt` (1-based): exponential, capped,
    /// with ±50 % jitter so failed jobs do not come back all at once.
    pub fn retry_backoff(&self, attempt: u32) -> Duration {
        let base = self.retry_base_ms.max(1) as f64;
        let exponential = base * 2f64.powi(attempt.saturating_sub(1).min(20) as i32);
        let capped = exponential.min(300_000.0);
        let jitter = 0.5 + pseudo_random_fraction();
        Duration::from_millis((capped * jitter) as u64)
    }
}

/// A fraction in [0, 1) good enough for jitter, without a dependency.
fn pseudo_random_fraction() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    f64::from(nanos % 1_000_000) / 1_000_000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        worker: WorkerSettings,
    }

    #[test]
    fn retry_delays_grow_and_stay_capped() {
        let settings = Wrapper::parse_from(["test", "--retry-base-ms", "1000"]).worker;
        let first = settings.retry_backoff(1);
        let third = settings.retry_backoff(3);
        let late = settings.retry_backoff(30);
        assert!(first >= Duration::from_millis(500) && first < Duration::from_millis(1500));
        assert!(third >= Duration::from_millis(2000) && third < Duration::from_millis(6000));
        assert!(late <= Duration::from_secs(450));
    }
}

/// Signed webhooks on job completion (see `crate::webhooks`).
#[derive(Args, Clone, Debug)]
pub struct WebhookSettings {
    /// Callback URL of uploads that name none (`PARQUETRY_WEBHOOK_URL`).
    /// Unset: only uploads with `callback_url` get a webhook.
    #[arg(long, env = "PARQUETRY_WEBHOOK_URL")]
    pub webhook_url: Option<String>,

    /// The signing secret, `whsec_` and base64 as the Standard Webhooks
    /// specification writes it (`PARQUETRY_WEBHOOK_SECRET`). Unset: uploads
    /// naming a `callback_url` are refused (`webhooks-disabled`), since an
    /// unsigned event could not be told from a forged one.
    #[arg(long, env = "PARQUETRY_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,

    /// Allows callback URLs whose addresses are loopback, private,
    /// link-local or cloud metadata ones (`PARQUETRY_WEBHOOK_ALLOW_PRIVATE`);
    /// off by default, or any uploader could make the server call inside
    /// its own network.
    #[arg(long, env = "PARQUETRY_WEBHOOK_ALLOW_PRIVATE", default_value_t = false)]
    pub webhook_allow_private: bool,

    /// First retry delay of a failed delivery in milliseconds; it doubles
    /// each attempt, with jitter, up to an hour, for a day
    /// (`PARQUETRY_WEBHOOK_RETRY_BASE_MS`).
    #[arg(long, env = "PARQUETRY_WEBHOOK_RETRY_BASE_MS", default_value_t = 5000)]
    pub webhook_retry_base_ms: u64,

    /// How long one delivery may take, connection included, in seconds
    /// (`PARQUETRY_WEBHOOK_TIMEOUT_SECS`).
    #[arg(long, env = "PARQUETRY_WEBHOOK_TIMEOUT_SECS", default_value_t = 10)]
    pub webhook_timeout_secs: u64,
}

impl WebhookSettings {
    /// The defaults, as if no flag or variable were given.
    pub fn parse_defaults() -> WebhookSettings {
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            webhooks: WebhookSettings,
        }
        <Defaults as clap::Parser>::parse_from(["parquetry"]).webhooks
    }

    pub fn retry_base(&self) -> Duration {
        Duration::from_millis(self.webhook_retry_base_ms.max(1))
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.webhook_timeout_secs.clamp(1, 60))
    }

    /// The delay before retry number `attempt` (1-based): exponential,
    /// capped at an hour, with ±50 % jitter.
    pub fn retry_backoff(&self, attempt: u32) -> Duration {
        let base = self.retry_base().as_millis() as f64;
        let exponential = base * 2f64.powi(attempt.saturating_sub(1).min(30) as i32);
        let capped = exponential.min(3_600_000.0);
        Duration::from_millis((capped * (0.5 + pseudo_random_fraction())) as u64)
    }
}

/// Whether requests must carry an API key (see `crate::http::auth`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMode {
    /// On once any key exists; with none, open on a loopback address only.
    Auto,
    /// Every request needs a key, even before one exists.
    On,
    /// No request needs a key, whatever keys exist.
    Off,
}

/// Authentication of the API.
#[derive(Args, Clone, Debug)]
pub struct AuthSettings {
    /// `auto` (the default): requests need an API key once any key exists
    /// (`parquetry keys create`); with no key the service runs open, and only
    /// on a loopback address. `on`: always. `off`: never, on any address
    /// (`PARQUETRY_AUTH`).
    #[arg(long, env = "PARQUETRY_AUTH", value_enum, default_value_t = AuthMode::Auto)]
    pub auth: AuthMode,

    /// `GET /metrics` needs an admin key too, when authentication is on
    /// (`PARQUETRY_METRICS_AUTH`). Off by default: Prometheus scrapes
    /// without a key, and the metrics carry no tenant's data.
    #[arg(long, env = "PARQUETRY_METRICS_AUTH", default_value_t = false)]
    pub metrics_auth: bool,
}

impl AuthSettings {
    /// The defaults, as if no flag or variable were given.
    pub fn parse_defaults() -> AuthSettings {
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            auth: AuthSettings,
        }
        <Defaults as clap::Parser>::parse_from(["parquetry"]).auth
    }
}

/// Everything `parquetry serve` needs.
#[derive(Args, Clone, Debug)]
pub struct ServeSettings {
    /// Address the HTTP API listens on (`PARQUETRY_BIND`).
    #[arg(long, env = "PARQUETRY_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,

    #[command(flatten)]
    pub database: DatabaseSettings,

    #[command(flatten)]
    pub storage: StorageSettings,

    /// Largest accepted upload in bytes (`PARQUETRY_MAX_UPLOAD_BYTES`, default 10 GiB).
    #[arg(long, env = "PARQUETRY_MAX_UPLOAD_BYTES", default_value_t = 10 * 1024 * 1024 * 1024)]
    pub max_upload_bytes: u64,

    /// An upload whose body sends nothing for this many seconds is answered
    /// with 408 and its partial file removed (`PARQUETRY_UPLOAD_IDLE_TIMEOUT_SECS`).
    #[arg(long, env = "PARQUETRY_UPLOAD_IDLE_TIMEOUT_SECS", default_value_t = 60)]
    pub upload_idle_timeout_secs: u64,

    /// Uploads are refused with 503 while this many jobs wait in the queue
    /// (`PARQUETRY_MAX_QUEUED_JOBS`).
    #[arg(long, env = "PARQUETRY_MAX_QUEUED_JOBS", default_value_t = 10_000)]
    pub max_queued_jobs: u64,

    /// Uploads are refused with 507 while the data directory's disk has less
    /// free space than this, in bytes (`PARQUETRY_MIN_FREE_DISK_BYTES`, 1 GiB);
    /// an upload that brings it below is stopped.
    #[arg(long, env = "PARQUETRY_MIN_FREE_DISK_BYTES", default_value_t = 1024 * 1024 * 1024)]
    pub min_free_disk_bytes: u64,

    /// Origins (`scheme://host[:port]`, comma-separated, or `*`) whose web
    /// pages may call this API from a browser (`PARQUETRY_ALLOWED_ORIGINS`).
    /// Unset: only pages served by this server may change anything; a
    /// cross-origin upload or delete is refused with 403.
    #[arg(long, env = "PARQUETRY_ALLOWED_ORIGINS")]
    pub allowed_origins: Option<String>,

    /// A link template for a job's trace, with `{trace_id}` in it, e.g.
    /// `http://localhost:16686/trace/{trace_id}` (`PARQUETRY_TRACE_URL`).
    #[arg(long, env = "PARQUETRY_TRACE_URL")]
    pub trace_url: Option<String>,

    #[command(flatten)]
    pub worker: WorkerSettings,

    #[command(flatten)]
    pub webhooks: WebhookSettings,

    #[command(flatten)]
    pub auth: AuthSettings,

    #[command(flatten)]
    pub quotas: QuotaSettings,

    #[command(flatten)]
    pub links: LinkSettings,
}

/// Everything `parquetry migrate` needs, and nothing else: the database,
/// and where an embedded SQLite job table would be.
#[derive(Args, Clone, Debug)]
pub struct MigrateSettings {
    /// PostgreSQL connection URL of the database to migrate (`DATABASE_URL`).
    /// Unset: the embedded SQLite job table under the data directory is
    /// migrated if it exists; none is created.
    #[arg(long, env = "DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,

    /// Directory of the embedded SQLite job table, used without a database
    /// URL (`PARQUETRY_DATA_DIR`).
    #[arg(long, env = "PARQUETRY_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
}

impl WorkerSettings {
    /// The defaults, as if no flag or variable were given.
    pub fn parse_defaults() -> WorkerSettings {
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            worker: WorkerSettings,
        }
        <Defaults as clap::Parser>::parse_from(["parquetry"]).worker
    }
}

/// Everything `parquetry worker` needs.
#[derive(Args, Clone, Debug)]
pub struct WorkerProcessSettings {
    /// Address `GET /metrics` (the same exposition as the API's) is served
    /// on, e.g. `0.0.0.0:9464`, or `127.0.0.1:0` for any free port
    /// (`PARQUETRY_METRICS_BIND`). Unset or `off`: not served, and the
    /// start-up log says so. Off by default: a fixed default port would stop
    /// a second worker on the same host from starting, and a loopback one
    /// is out of reach of any Prometheus but a local one.
    #[arg(long, env = "PARQUETRY_METRICS_BIND")]
    pub metrics_bind: Option<String>,

    /// The link template of a job's trace (`PARQUETRY_TRACE_URL`, as for
    /// `serve`): the job in the webhook events this process sends carries
    /// `links.trace` as the API shows it.
    #[arg(long, env = "PARQUETRY_TRACE_URL")]
    pub trace_url: Option<String>,

    #[command(flatten)]
    pub database: DatabaseSettings,

    #[command(flatten)]
    pub storage: StorageSettings,

    #[command(flatten)]
    pub worker: WorkerSettings,

    #[command(flatten)]
    pub webhooks: WebhookSettings,
}

impl WorkerProcessSettings {
    /// The metrics address, `None` when metrics are not served over HTTP.
    pub fn metrics_bind(&self) -> Option<&str> {
        self.metrics_bind
            .as_deref()
            .map(str::trim)
            .filter(|bind| !bind.is_empty() && !bind.eq_ignore_ascii_case("off"))
    }
}
