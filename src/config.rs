//! Typed configuration. Every field is a command-line flag that can also be
//! set from the environment variable named in its doc comment.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

/// Where the job table lives.
#[derive(Args, Clone, Debug)]
pub struct DatabaseSettings {
    /// PostgreSQL connection URL (`DATABASE_URL`).
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,

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

    /// A link template for a job's trace, with `{trace_id}` in it, e.g.
    /// `http://localhost:16686/trace/{trace_id}` (`PARQUETRY_TRACE_URL`).
    #[arg(long, env = "PARQUETRY_TRACE_URL")]
    pub trace_url: Option<String>,

    #[command(flatten)]
    pub worker: WorkerSettings,
}

/// Everything `parquetry worker` needs.
#[derive(Args, Clone, Debug)]
pub struct WorkerProcessSettings {
    #[command(flatten)]
    pub database: DatabaseSettings,

    #[command(flatten)]
    pub storage: StorageSettings,

    #[command(flatten)]
    pub worker: WorkerSettings,
}
