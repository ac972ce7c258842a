//! Metrics with the API and the workers in separate processes: the worker's
//! own `/metrics`, exemplars that lead to the job's trace, queue gauges
//! reported by one process only, and Prometheus' own checker on the
//! configuration and the exposition.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use parquetry::startup::{Application, QUEUE_GAUGES_LOCK_KEY};
use sqlx::{Connection, PgConnection};

use crate::helpers::{
    create_database, eventually, settings, spawn_app_with, spawn_worker, temp_data_dir, value_of,
    ChildGuard, TestApp,
};
use crate::otlp_receiver::OtlpReceiver;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0";

/// A free port on the loopback interface for a worker's `--metrics-bind`.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// A `parquetry worker` serving `/metrics` on a port of its own.
fn spawn_worker_with_metrics(app: &TestApp, extra: &[(&str, &str)]) -> (ChildGuard, String) {
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let mut env = vec![("PARQUETRY_METRICS_BIND", bind.as_str())];
    env.extend_from_slice(extra);
    let worker = spawn_worker(app, &env);
    (worker, format!("http://{bind}/metrics"))
}

/// `GET url` with an `Accept` header: `(Content-Type, body)`, or `None`
/// while nothing answers.
async fn scrape(url: &str, accept: &str) -> Option<(String, String)> {
    let response = reqwest::Client::new()
        .get(url)
        .header("accept", accept)
        .send()
        .await
        .ok()?;
    assert_eq!(response.status(), 200, "{url}");
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    Some((content_type, response.text().await.unwrap()))
}

#[tokio::test]
async fn a_separate_worker_serves_the_conversion_metrics_with_the_jobs_trace_as_exemplar() {
    // Arrange: an API without workers, and a worker process that exports
    // its spans to a receiver (so they are sampled) and serves /metrics.
    let receiver = OtlpReceiver::start().await;
    let endpoint = receiver.grpc_endpoint();
    let app = spawn_app_with(|s| s.worker.workers = Some(0)).await;
    let (worker, metrics_url) = spawn_worker_with_metrics(
        &app,
        &[
            ("OTEL_SDK_DISABLED", "false"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_METRICS_EXPORTER", "none"),
            ("OTEL_LOGS_EXPORTER", "none"),
            // Spans are info level: under `warn` there would be no trace.
            ("RUST_LOG", "info"),
        ],
    );

    // Act
    let csv = "n,label\n1,one\n2,two\n3,three\n";
    let id = app.enqueue(csv).await;
    let job = app.wait_until_finished(&id).await;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    let mut classic = None;
    eventually(
        "the worker's /metrics",
        Duration::from_secs(10),
        async || {
            classic = scrape(&metrics_url, "text/plain;version=0.0.4").await;
            classic.is_some()
        },
    )
    .await;
    let (content_type, text) = classic.unwrap();
    let (open_type, open) = scrape(&metrics_url, OPENMETRICS).await.unwrap();

    // Assert: the classic exposition has the conversion metrics.
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    assert_eq!(
        value_of(&text, "parquetry_jobs_finished_total{status=\"succeeded\""),
        1.0,
        "{text}"
    );
    assert_eq!(
        value_of(&text, "parquetry_conversion_rows_total"),
        3.0,
        "{text}"
    );
    assert_eq!(
        value_of(&text, "parquetry_conversion_input_bytes_total"),
        csv.len() as f64,
        "{text}"
    );
    assert_eq!(
        value_of(&text, "parquetry_job_duration_seconds_count"),
        1.0,
        "{text}"
    );
    assert_eq!(
        value_of(
            &text,
            "parquetry_conversion_throughput_bytes_per_second_count{parquetry_input_size_class=\"<1MiB\""
        ),
        1.0,
        "{text}"
    );
    assert!(
        !text.contains("trace_id"),
        "no exemplars in the classic format"
    );

    // OpenMetrics, asked for as Prometheus does, carries the job's trace.
    assert!(
        open_type.starts_with("application/openmetrics-text; version=1.0.0"),
        "{open_type}"
    );
    assert!(open.ends_with("# EOF\n"), "{open}");
    let exemplar_trace = |name: &str| -> String {
        let line = open
            .lines()
            .find(|line| line.starts_with(name) && line.contains(" # {trace_id=\""))
            .unwrap_or_else(|| panic!("no exemplar on {name}:\n{open}"));
        line.split("trace_id=\"").nth(1).unwrap()[..32].to_string()
    };
    let trace_id = exemplar_trace("parquetry_conversion_throughput_bytes_per_second_bucket{");
    assert_eq!(
        exemplar_trace("parquetry_job_duration_seconds_bucket{"),
        trace_id
    );
    assert_eq!(
        exemplar_trace("parquetry_job_queue_wait_seconds_bucket{"),
        trace_id
    );
    // The exemplar's trace is the job's, as exported: a span of that trace
    // names the job. (SIGTERM flushes the worker's spans.)
    worker.terminate();
    receiver
        .wait_for_spans(Duration::from_secs(20), |spans| {
            spans.iter().any(|s| {
                s.trace_id == trace_id && s.attributes.values().any(|v| v.to_string() == id)
            })
        })
        .await;
    app.stop().await;
}

#[tokio::test]
async fn queue_gauges_come_from_one_process_however_many_run() {
    // Arrange: the API and two worker processes on one job table.
    let app = spawn_app_with(|s| s.worker.workers = Some(0)).await;
    let (first, first_url) = spawn_worker_with_metrics(&app, &[]);
    let (second, second_url) = spawn_worker_with_metrics(&app, &[]);
    for n in 0..3 {
        let id = app.enqueue(&format!("n\n{n}\n")).await;
        app.wait_until_finished(&id).await;
    }

    // Act: every process answers /metrics.
    let api_url = app.url("/metrics");
    let mut texts = Vec::new();
    for url in [&api_url, &first_url, &second_url] {
        let mut text = None;
        eventually("a /metrics answer", Duration::from_secs(10), async || {
            text = scrape(url, "text/plain").await.map(|(_, body)| body);
            text.is_some()
        })
        .await;
        texts.push(text.unwrap());
    }

    // Assert: one process reports the queue, and the figure is the table's.
    let reporting: Vec<&String> = texts
        .iter()
        .filter(|text| text.contains("parquetry_jobs_queued{"))
        .collect();
    assert_eq!(reporting.len(), 1, "{texts:#?}");
    assert_eq!(value_of(reporting[0], "parquetry_jobs_queued{"), 0.0);
    assert!(reporting[0].contains("parquetry_jobs_running{"));
    assert_eq!(
        texts
            .iter()
            .filter(|text| text.contains("parquetry_jobs_running{"))
            .count(),
        1
    );
    // The jobs ran in the workers: their conversions are counted there.
    assert_eq!(
        value_of(&texts[1], "parquetry_conversion_rows_total")
            + value_of(&texts[2], "parquetry_conversion_rows_total"),
        3.0
    );
    first.terminate();
    second.terminate();
    app.stop().await;
}

/// Whether the exposition at `url` reports the queue gauges; `None` while
/// nothing answers there.
async fn reports_queue(url: &str) -> Option<bool> {
    scrape(url, "text/plain")
        .await
        .map(|(_, body)| body.contains("parquetry_jobs_queued{"))
}

#[tokio::test]
async fn another_process_reports_the_queue_when_the_holder_goes() {
    // Arrange: something else holds the role's lock before any process
    // starts, so neither the API nor the worker may report the queue.
    let database = create_database().await;
    let mut holder = PgConnection::connect(&database.url).await.unwrap();
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(QUEUE_GAUGES_LOCK_KEY)
        .fetch_one(&mut holder)
        .await
        .unwrap();
    assert!(locked);
    let data_dir = temp_data_dir();
    let app = Application::build(settings(&database.url, &data_dir, 0))
        .await
        .expect("build the app");
    let api_url = format!("http://127.0.0.1:{}/metrics", app.port());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let port = free_port();
    let worker_url = format!("http://127.0.0.1:{port}/metrics");
    let worker = ChildGuard::new(
        Command::new(env!("CARGO_BIN_EXE_parquetry"))
            .arg("worker")
            .env("DATABASE_URL", &database.url)
            .env("PARQUETRY_DATA_DIR", &data_dir)
            .env("PARQUETRY_WORKERS", "1")
            .env("PARQUETRY_METRICS_BIND", format!("127.0.0.1:{port}"))
            .env("OTEL_SDK_DISABLED", "true")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start parquetry worker"),
    );
    let mut worker_reports = None;
    eventually(
        "the worker's /metrics",
        Duration::from_secs(10),
        async || {
            worker_reports = reports_queue(&worker_url).await;
            worker_reports.is_some()
        },
    )
    .await;
    assert_eq!(worker_reports, Some(false));
    assert_eq!(reports_queue(&api_url).await, Some(false));

    // Act: the holder's session ends, as when its process dies.
    holder.close().await.unwrap();

    // Assert: one of them takes the role within its 10 s interval.
    let mut reporting = 0;
    eventually(
        "a process to take the queue gauges",
        Duration::from_secs(25),
        async || {
            reporting = usize::from(reports_queue(&api_url).await == Some(true))
                + usize::from(reports_queue(&worker_url).await == Some(true));
            reporting > 0
        },
    )
    .await;
    assert_eq!(reporting, 1);
    worker.terminate();
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

/// `promtool`, installed by `scripts/ensure-promtool` when missing; the test
/// fails (it does not skip) when it still cannot be found.
fn promtool() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let status = Command::new(root.join("scripts/ensure-promtool"))
        .status()
        .expect("run scripts/ensure-promtool");
    assert!(status.success(), "scripts/ensure-promtool failed: {status}");
    let found = Command::new("sh")
        .args(["-c", "command -v promtool"])
        .output()
        .expect("look for promtool");
    let path = String::from_utf8_lossy(&found.stdout).trim().to_string();
    assert!(
        found.status.success() && !path.is_empty(),
        "promtool cannot be found after scripts/ensure-promtool"
    );
    path
}

/// Runs `promtool ARGS` with `stdin` as its input; panics with its output
/// when it does not succeed.
fn run_promtool(promtool: &str, args: &[&str], stdin: Option<&str>) {
    use std::io::Write;
    let mut child = Command::new(promtool)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start promtool");
    let mut input = child.stdin.take().unwrap();
    input
        .write_all(stdin.unwrap_or_default().as_bytes())
        .unwrap();
    drop(input);
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool {args:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn promtool_accepts_the_compose_prometheus_config_and_every_metrics_exposition() {
    let promtool = promtool();
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus/prometheus.yml");
    run_promtool(
        &promtool,
        &["check", "config", config.to_str().unwrap()],
        None,
    );

    // Both processes' expositions, after a job ran, so every family has samples.
    let app = spawn_app_with(|s| s.worker.workers = Some(0)).await;
    let (worker, worker_url) = spawn_worker_with_metrics(&app, &[]);
    let id = app.enqueue("n,label\n1,one\n").await;
    app.wait_until_finished(&id).await;
    let mut worker_text = None;
    eventually(
        "the worker's /metrics",
        Duration::from_secs(10),
        async || {
            worker_text = scrape(&worker_url, "text/plain;version=0.0.4").await;
            worker_text.is_some()
        },
    )
    .await;
    let (_, api_text) = scrape(&app.url("/metrics"), "text/plain;version=0.0.4")
        .await
        .unwrap();
    for text in [&api_text, &worker_text.unwrap().1] {
        run_promtool(&promtool, &["check", "metrics"], Some(text));
    }
    worker.terminate();
    app.stop().await;
}
