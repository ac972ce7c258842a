//! Test harness: every test gets its own PostgreSQL database, its own data
//! directory and the real application on port 0.

use std::path::PathBuf;
use std::sync::Once;
use std::time::{Duration, Instant};

use parquetry::config::{
    AuthSettings, DatabaseSettings, LinkSettings, QuotaSettings, ServeSettings, StorageSettings,
    WebhookSettings, WorkerSettings,
};
use parquetry::startup::Application;
use serde_json::Value;
use sqlx::{Connection, Executor, PgConnection, PgPool};
use tokio::sync::oneshot;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use uuid::Uuid;

static TELEMETRY: Once = Once::new();

/// Logs only when `TEST_LOG` is set, so a failing test can be re-run loudly.
fn init_telemetry() {
    TELEMETRY.call_once(|| {
        let writer = if std::env::var_os("TEST_LOG").is_some() {
            BoxMakeWriter::new(std::io::stdout)
        } else {
            BoxMakeWriter::new(std::io::sink)
        };
        // No OTLP endpoint is configured, so nothing is exported in-process
        // (the telemetry tests run the binary); the environment is not
        // touched, since other test threads read it.
        let guard = parquetry::telemetry::init(writer).expect("telemetry");
        std::mem::forget(guard);
    });
}

/// The server the tests use; `TEST_DATABASE_URL` overrides it.
pub fn server_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
}

/// A database of one test, dropped (with its connections) when the guard
/// goes: a full run leaves no database behind.
pub struct TestDatabase {
    pub url: String,
    name: String,
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin_url = format!("{}/postgres", server_url());
        // The name is ours (a UUID), not user input.
        let statement = format!(r#"DROP DATABASE IF EXISTS "{}" WITH (FORCE)"#, self.name);
        // Drop may run inside a runtime, which cannot block: a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&admin_url).await?;
                admin
                    .execute(sqlx::raw_sql(sqlx::AssertSqlSafe(statement)))
                    .await?;
                anyhow::Ok(())
            })
        })
        .join();
        if let Ok(Err(error)) = dropped {
            eprintln!("could not drop test database {}: {error:#}", self.name);
        }
    }
}

/// Creates an empty database; it is dropped with the guard.
pub async fn create_database() -> TestDatabase {
    let name = format!("parquetry_test_{}", Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&format!("{}/postgres", server_url()))
        .await
        .expect("PostgreSQL must run on 127.0.0.1:5432 (see README)");
    // The name is ours (a UUID), not user input.
    let statement = sqlx::AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#));
    admin
        .execute(sqlx::raw_sql(statement))
        .await
        .expect("create the test database");
    TestDatabase {
        url: format!("{}/{name}", server_url()),
        name,
    }
}

/// A child process killed (and reaped) when the guard goes, even when the
/// test panics first.
pub struct ChildGuard(pub Option<std::process::Child>);

impl ChildGuard {
    pub fn new(child: std::process::Child) -> ChildGuard {
        ChildGuard(Some(child))
    }

    pub fn id(&self) -> u32 {
        self.0.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let mut child = self.0.take().expect("a running child");
        let _ = std::process::Command::new("kill")
            .arg(child.id().to_string())
            .status();
        child.wait().expect("wait for the child")
    }

    /// Sends SIGKILL and waits.
    pub fn kill(mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A `parquetry worker` process on the app's database and data directory.
pub fn spawn_worker(app: &TestApp, extra: &[(&str, &str)]) -> ChildGuard {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_parquetry"));
    command
        .arg("worker")
        .env("DATABASE_URL", &app.database_url)
        .env("PARQUETRY_DATA_DIR", &app.data_dir)
        .env("PARQUETRY_WORKERS", "1")
        .env("PARQUETRY_POLL_INTERVAL_MS", "100")
        .env("PARQUETRY_HEARTBEAT_INTERVAL_MS", "200")
        .env("PARQUETRY_LEASE_TIMEOUT_SECS", "2")
        .env("OTEL_SDK_DISABLED", "true")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null());
    for (name, value) in extra {
        command.env(name, value);
    }
    ChildGuard::new(command.spawn().expect("start parquetry worker"))
}

/// Polls `check` until it holds, failing the test after `timeout`: the one
/// way tests wait for something that happens elsewhere.
pub async fn eventually(what: &str, timeout: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Makes a key in the app's database, as `parquetry keys create` does.
pub async fn make_key(app: &TestApp, name: &str, tenant: &str, admin: bool) -> String {
    let store = parquetry::jobs::JobStore::connect(
        Some(&app.database_url),
        &app.data_dir,
        2,
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    let new = parquetry::jobs::NewKey {
        name: name.into(),
        tenant: tenant.into(),
        admin,
    };
    store.create_key(&new).await.unwrap().unwrap().1
}

pub fn temp_data_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("parquetry-test-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub struct TestApp {
    pub address: String,
    pub database_url: String,
    /// Dropped last: the server and pools let go of the database first.
    _database: Option<TestDatabase>,
    pub data_dir: PathBuf,
    pub pool: PgPool,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

pub fn settings(database_url: &str, data_dir: &std::path::Path, workers: usize) -> ServeSettings {
    ServeSettings {
        bind: "127.0.0.1:0".into(),
        database: DatabaseSettings {
            database_url: Some(database_url.to_string()),
            database_max_connections: 10,
        },
        storage: StorageSettings {
            data_dir: data_dir.to_path_buf(),
            s3_bucket: None,
            s3_prefix: None,
        },
        max_upload_bytes: 512 * 1024 * 1024,
        upload_idle_timeout_secs: 60,
        max_queued_jobs: 10_000,
        min_free_disk_bytes: 0,
        allowed_origins: None,
        trace_url: Some("http://jaeger.test/trace/{trace_id}".into()),
        worker: WorkerSettings {
            workers: Some(workers),
            poll_interval_ms: 200,
            heartbeat_interval_ms: 200,
            lease_timeout_secs: 30,
            max_attempts: 5,
            retry_base_ms: 100,
            shutdown_grace_secs: 25,
            retention_secs: 24 * 60 * 60,
            orphan_grace_secs: 600,
        },
        webhooks: WebhookSettings::parse_defaults(),
        auth: AuthSettings::parse_defaults(),
        quotas: QuotaSettings::parse_defaults(),
        links: LinkSettings::parse_defaults(),
    }
}

/// The application with two workers.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut ServeSettings)) -> TestApp {
    init_telemetry();
    let database = create_database().await;
    let database_url = database.url.clone();
    let data_dir = temp_data_dir();
    let mut settings = settings(&database_url, &data_dir, 2);
    configure(&mut settings);
    // A test may move the data directory (onto a small disk, say).
    let data_dir = settings.storage.data_dir.clone();
    // The test's own reqwest clients need the process's TLS provider too.
    parquetry::tls::install_crypto_provider();
    let app = Application::build(settings).await.expect("build the app");
    let address = format!("http://127.0.0.1:{}", app.port());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        pool: PgPool::connect(&database_url).await.unwrap(),
        database_url,
        _database: Some(database),
        data_dir,
        client: reqwest::Client::new(),
        stop: Some(stop),
        server: Some(server),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// `POST /v1/jobs` with the CSV as the raw body.
    pub async fn upload_raw(
        &self,
        csv: impl Into<reqwest::Body>,
        query: &str,
    ) -> reqwest::Response {
        self.client
            .post(self.url(&format!("/v1/jobs{query}")))
            .header("Content-Type", "text/csv")
            .body(csv)
            .send()
            .await
            .unwrap()
    }

    /// `POST /v1/jobs` as multipart, with extra text fields.
    pub async fn upload_multipart(
        &self,
        csv: Vec<u8>,
        filename: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut form = reqwest::multipart::Form::new();
        for (name, value) in fields {
            form = form.text(name.to_string(), value.to_string());
        }
        form = form.part(
            "file",
            reqwest::multipart::Part::bytes(csv).file_name(filename.to_string()),
        );
        self.client
            .post(self.url("/v1/jobs"))
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    /// `POST /v1/jobs` with a multipart form as given.
    pub async fn post_form(&self, form: reqwest::multipart::Form) -> reqwest::Response {
        self.client
            .post(self.url("/v1/jobs"))
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    /// Uploads and returns the job id, asserting 202.
    pub async fn enqueue(&self, csv: &str) -> String {
        let response = self.upload_raw(csv.to_string(), "?filename=data.csv").await;
        assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
        let job: Value = response.json().await.unwrap();
        job["id"].as_str().unwrap().to_string()
    }

    /// Rows in the job table, whatever their status.
    pub async fn job_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM jobs")
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    /// The JSON body of `GET path`, whatever its status.
    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.client.get(self.url(path)).send().await.unwrap();
        response.json().await.unwrap()
    }

    /// The body of `GET path` as text (e.g. `/metrics`).
    pub async fn get_text(&self, path: &str) -> String {
        let response = self.client.get(self.url(path)).send().await.unwrap();
        response.text().await.unwrap()
    }

    pub async fn get_job(&self, id: &str) -> Value {
        let response = self
            .client
            .get(self.url(&format!("/v1/jobs/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// Polls until the job reaches one of `statuses`.
    pub async fn wait_for_status(&self, id: &str, statuses: &[&str], timeout: Duration) -> Value {
        let mut job = Value::Null;
        eventually(
            &format!("job {id} to reach {statuses:?}"),
            timeout,
            async || {
                job = self.get_job(id).await;
                statuses.contains(&job["status"].as_str().unwrap_or_default())
            },
        )
        .await;
        job
    }

    pub async fn wait_until_finished(&self, id: &str) -> Value {
        self.wait_for_status(
            id,
            &["succeeded", "failed", "canceled"],
            Duration::from_secs(60),
        )
        .await
    }

    pub async fn download(&self, id: &str) -> reqwest::Response {
        self.client
            .get(self.url(&format!("/v1/jobs/{id}/result")))
            .send()
            .await
            .unwrap()
    }

    /// Every file below the data directory's uploads, results and scratch
    /// space.
    pub fn stored_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for sub in ["uploads", "results", "work"] {
            if let Ok(entries) = std::fs::read_dir(self.data_dir.join(sub)) {
                files.extend(entries.filter_map(|e| e.ok()).map(|e| e.path()));
            }
        }
        files
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }
}

/// Reads a whole Parquet file into one record batch.
pub fn read_parquet(bytes: bytes::Bytes) -> arrow_array::RecordBatch {
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
        .expect("a Parquet file");
    let schema = builder.schema().clone();
    let batches = builder
        .build()
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    arrow_select::concat::concat_batches(&schema, &batches).unwrap()
}

/// A CSV big enough that converting it takes a while, for tests that must
/// act while a job is running.
pub fn large_csv(rows: usize) -> String {
    let mut csv = String::with_capacity(rows * 48);
    csv.push_str("id,amount,label\n");
    for n in 0..rows {
        csv.push_str(&format!(
            "{n},{}.{:02},label number {n}\n",
            n % 997,
            n % 100
        ));
    }
    csv
}

/// Checks an error answer's status and problem `code`, and gives the problem back.
pub async fn expect_problem(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status(), status);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], code, "{problem:#}");
    problem
}

/// The sum of the samples of a metrics exposition whose line starts with
/// `prefix` (an exemplar after ` # ` left out).
pub fn value_of(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|line| line.starts_with(prefix))
        .map(|line| {
            let sample = line.split(" # ").next().unwrap();
            sample.rsplit(' ').next().unwrap().parse::<f64>().unwrap()
        })
        .sum()
}
