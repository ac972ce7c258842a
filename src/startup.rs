//! Building and running the service: `serve`, `worker` and `migrate`.

mod queue_gauges;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use anyhow::Context;
use tracing_actix_web::TracingLogger;

use crate::config::{
    DatabaseSettings, MigrateSettings, ServeSettings, StorageSettings, WorkerProcessSettings,
    WorkerSettings,
};
use crate::http::{self, AllowedOrigins, AppState, ParquetryRootSpan};
use crate::jobs::JobStore;
use crate::storage::Storage;
use crate::telemetry::metrics::MetricsPipeline;
use crate::telemetry::{self, ExporterChoice};
use crate::webhooks::{Dispatcher, Webhooks};
use crate::worker::{WorkerContext, WorkerPool};
use queue_gauges::QueueGaugeRole;
/// The PostgreSQL advisory lock whose holder reports the queue gauges.
pub use queue_gauges::LOCK_KEY as QUEUE_GAUGES_LOCK_KEY;

/// Opens the job table: PostgreSQL when a URL is configured, else the
/// embedded SQLite file under the data directory.
pub async fn open_store(
    database: &DatabaseSettings,
    storage: &StorageSettings,
    worker: &WorkerSettings,
) -> anyhow::Result<JobStore> {
    JobStore::connect(
        database.database_url.as_deref(),
        &storage.data_dir,
        database.database_max_connections,
        worker.retention(),
    )
    .await
}

/// The job files: the bucket when one is configured, else the data directory.
async fn open_storage(settings: &StorageSettings, min_free_bytes: u64) -> anyhow::Result<Storage> {
    let storage = Storage::from_settings(settings, min_free_bytes)
        .await
        .with_context(|| {
            format!(
                "opening the file storage (data directory {})",
                settings.data_dir.display()
            )
        })?;
    tracing::info!(storage = %storage.describe(), "job files are kept in the {}", storage.describe());
    Ok(storage)
}

/// The API with its workers, built and bound but not yet running.
pub struct Application {
    port: u16,
    server: Server,
    workers: Option<WorkerPool>,
    metrics: Arc<MetricsPipeline>,
    queue_gauges: QueueGaugeRole,
    shutdown_grace: Duration,
    webhooks: Option<Dispatcher>,
}

impl Application {
    /// Connects, migrates, binds `settings.bind` (port 0 picks a free port)
    /// and starts the workers.
    pub async fn build(settings: ServeSettings) -> anyhow::Result<Application> {
        let webhooks = Webhooks::from_settings(&settings.webhooks)?;
        let store = open_store(&settings.database, &settings.storage, &settings.worker).await?;
        // `?wait=` and the event streams wake on other processes' changes.
        store.changes().start();
        let storage = open_storage(&settings.storage, settings.min_free_disk_bytes).await?;
        let allowed_origins =
            web::Data::new(AllowedOrigins::parse(settings.allowed_origins.as_deref())?);
        let metrics = Arc::new(MetricsPipeline::build(&ExporterChoice::from_env())?);
        let queue_gauges =
            QueueGaugeRole::start(store.clone(), metrics.metrics.queue.clone()).await;

        let listener = TcpListener::bind(&settings.bind)
            .with_context(|| format!("binding {}", settings.bind))?;
        let port = listener.local_addr()?.port();
        let auth = http::AuthGate::start(&settings.auth, &store, listener.local_addr()?).await?;
        let links = http::link_signer(&settings.links, &store).await?;
        let workers = if settings.worker.worker_count() > 0 {
            Some(
                WorkerPool::start(WorkerContext {
                    store: store.clone(),
                    storage: storage.clone(),
                    metrics: metrics.metrics.clone(),
                    settings: settings.worker.clone(),
                })
                .await,
            )
        } else {
            None
        };
        let state = web::Data::new(AppState {
            store: store.clone(),
            storage: storage.clone(),
            metrics: metrics.metrics.clone(),
            metrics_pipeline: metrics.clone(),
            max_upload_bytes: settings.max_upload_bytes,
            upload_idle_timeout: Duration::from_secs(settings.upload_idle_timeout_secs.max(1)),
            max_queued_jobs: settings.max_queued_jobs,
            max_attempts: settings.worker.max_attempts.clamp(1, 1000) as i32,
            trace_url: settings.trace_url.clone(),
            webhooks: webhooks.clone(),
            auth,
            quotas: http::QuotaLimits::from_settings(&settings.quotas),
            links,
            head_starts: workers.as_ref().map(WorkerPool::head_starts),
        });
        let server = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(http::authenticate))
                .wrap(from_fn(http::refuse_cross_origin))
                .wrap(from_fn(http::observe_request))
                .wrap(TracingLogger::<ParquetryRootSpan>::new())
                .app_data(state.clone())
                .app_data(allowed_origins.clone())
                .configure(crate::web::configure)
                .configure(http::configure)
        })
        .listen(listener)?
        .disable_signals()
        .shutdown_timeout(30)
        .run();

        // Every process delivers webhooks, API-only ones too: deliveries do
        // not wait for a worker process to be up.
        let dispatcher = Dispatcher::start(store.clone(), webhooks, settings.trace_url.clone())?;
        tracing::info!(address = %settings.bind, port, "listening");
        Ok(Application {
            port,
            server,
            workers,
            metrics,
            queue_gauges,
            shutdown_grace: settings.worker.shutdown_grace(),
            webhooks: dispatcher,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs until `stop` resolves, then shuts down gracefully: no new
    /// requests, running jobs finish or go back to the queue, metrics flushed.
    pub async fn run_until(
        self,
        stop: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let handle: ServerHandle = self.server.handle();
        let server = tokio::spawn(self.server);
        stop.await;
        tracing::info!("shutting down");
        handle.stop(true).await;
        if let Some(workers) = self.workers {
            workers.shutdown(self.shutdown_grace).await;
        }
        // After the workers: their last jobs' events are in the outbox for
        // any process to deliver, this one's attempts in flight end here.
        if let Some(dispatcher) = self.webhooks {
            dispatcher.shutdown().await;
        }
        drop(self.queue_gauges);
        self.metrics.shutdown().await;
        server.await??;
        Ok(())
    }
}

/// Resolves at SIGTERM or SIGINT: both shut down gracefully.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
    let mut interrupt = signal(SignalKind::interrupt()).expect("installing the SIGINT handler");
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
}

/// `parquetry serve`.
pub async fn serve(settings: ServeSettings) -> anyhow::Result<()> {
    let guard = telemetry::init(std::io::stdout)?;
    let outcome = match Application::build(settings).await {
        Ok(app) => app.run_until(shutdown_signal()).await,
        Err(error) => Err(error),
    };
    if let Err(error) = &outcome {
        tracing::error!(
            error = format!("{error:#}"),
            "parquetry stopped with an error"
        );
    }
    guard.shutdown().await;
    outcome
}

/// `parquetry worker`: workers only, sharing the job table, with their own
/// `GET /metrics` when `--metrics-bind` is set.
pub async fn run_workers_only(settings: WorkerProcessSettings) -> anyhow::Result<()> {
    let guard = telemetry::init(std::io::stdout)?;
    let outcome = async {
        anyhow::ensure!(
            settings.database.database_url.is_some(),
            "parquetry worker shares the job table through PostgreSQL: set DATABASE_URL"
        );
        let webhooks = Webhooks::from_settings(&settings.webhooks)?;
        let store = open_store(&settings.database, &settings.storage, &settings.worker).await?;
        // Workers accept no uploads: no free-space floor to keep.
        let storage = open_storage(&settings.storage, 0).await?;
        let metrics = Arc::new(MetricsPipeline::build(&ExporterChoice::from_env())?);
        // Bound before any job is claimed: a taken port stops the start-up.
        let metrics_server = match settings.metrics_bind() {
            Some(bind) => {
                let (server, address) = serve_metrics(bind, metrics.clone())?;
                tracing::info!(
                    address = %address,
                    port = address.port(),
                    "serving metrics on http://{address}/metrics"
                );
                Some(server)
            }
            None => {
                tracing::info!(
                    "metrics are not served over HTTP: set --metrics-bind or \
                     PARQUETRY_METRICS_BIND (e.g. 0.0.0.0:9464) for GET /metrics"
                );
                None
            }
        };
        let metrics_handle = metrics_server.as_ref().map(Server::handle);
        let metrics_task = metrics_server.map(tokio::spawn);
        let queue_gauges =
            QueueGaugeRole::start(store.clone(), metrics.metrics.queue.clone()).await;
        let dispatcher = Dispatcher::start(store.clone(), webhooks, settings.trace_url.clone())?;
        let workers = WorkerPool::start(WorkerContext {
            store,
            storage,
            metrics: metrics.metrics.clone(),
            settings: settings.worker.clone(),
        })
        .await;
        shutdown_signal().await;
        tracing::info!("shutting down");
        workers.shutdown(settings.worker.shutdown_grace()).await;
        if let Some(dispatcher) = dispatcher {
            dispatcher.shutdown().await;
        }
        drop(queue_gauges);
        // Served until the jobs are settled: a last scrape sees them.
        if let Some(handle) = metrics_handle {
            handle.stop(true).await;
        }
        if let Some(task) = metrics_task {
            task.await??;
        }
        metrics.shutdown().await;
        anyhow::Ok(())
    }
    .await;
    guard.shutdown().await;
    outcome
}

/// The metrics listener of a `parquetry worker`: `GET /metrics` only, on one
/// HTTP worker thread, not traced (a scrape is not a request worth a trace).
fn serve_metrics(
    bind: &str,
    pipeline: Arc<MetricsPipeline>,
) -> anyhow::Result<(Server, SocketAddr)> {
    let listener = TcpListener::bind(bind)
        .with_context(|| format!("binding the metrics address {bind} (--metrics-bind)"))?;
    let address = listener.local_addr()?;
    let pipeline = web::Data::from(pipeline);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(pipeline.clone())
            .route("/metrics", web::get().to(metrics_endpoint))
    })
    .listen(listener)?
    .workers(1)
    .disable_signals()
    .shutdown_timeout(5)
    .run();
    Ok((server, address))
}

/// Classic text or OpenMetrics (with exemplars), as `Accept` asks.
async fn metrics_endpoint(
    request: HttpRequest,
    pipeline: web::Data<MetricsPipeline>,
) -> HttpResponse {
    let accept = request
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|value| value.to_str().ok());
    let exposition = pipeline.exposition(accept);
    HttpResponse::Ok()
        .content_type(exposition.content_type)
        .body(exposition.body)
}

/// `parquetry migrate`: says which database it migrated. Without a database
/// URL it migrates an existing SQLite job table but creates none: a missing
/// `DATABASE_URL` in a deployment that meant PostgreSQL must fail loudly,
/// not leave a fresh SQLite file behind and report success.
pub async fn migrate(settings: MigrateSettings) -> anyhow::Result<()> {
    let retention = WorkerSettings::parse_defaults().retention();
    let url = settings.database_url.as_deref();
    if url.is_none() {
        let file = settings.data_dir.join(crate::jobs::SQLITE_FILE);
        anyhow::ensure!(
            file.exists(),
            "DATABASE_URL is not set and there is no SQLite job table at {}: nothing was \
             migrated and no file was created. Set DATABASE_URL (or --database-url) to \
             migrate a PostgreSQL database; `parquetry serve` creates and migrates the \
             SQLite file itself when it starts without one",
            file.display()
        );
        println!(
            "DATABASE_URL is not set: migrating the embedded SQLite job table {}",
            file.display()
        );
    }
    let store = JobStore::connect(url, &settings.data_dir, 1, retention).await?;
    println!("migrations applied to the {}", store.describe());
    Ok(())
}
