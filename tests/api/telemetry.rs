//! One upload, one trace: the real binary exports to a real OTLP receiver.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{create_database, temp_data_dir};
use crate::otlp_receiver::{
    metric_names, AttrValue, OtlpReceiver, ReceivedSpan, SpanKind, StatusCode, Transport,
};

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// A `parquetry` process whose stdout (JSON logs) is kept for assertions
/// (the S3 tests run their processes with it too).
pub(crate) struct Service {
    child: Child,
    port: Option<u16>,
    logs: Arc<Mutex<Vec<Value>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

/// A test that panics still stops its processes.
impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Service {
    pub(crate) fn start(subcommand: &str, env: &[(&str, String)]) -> Service {
        // The test then talks to it with reqwest, which needs the TLS provider.
        parquetry::tls::install_crypto_provider();
        let mut command = Command::new(env!("CARGO_BIN_EXE_parquetry"));
        command
            .arg(subcommand)
            .env("PARQUETRY_BIND", "127.0.0.1:0")
            .env("PARQUETRY_POLL_INTERVAL_MS", "200")
            .env("OTEL_BSP_SCHEDULE_DELAY", "100")
            .env("OTEL_BLRP_SCHEDULE_DELAY", "100")
            .env("OTEL_METRIC_EXPORT_INTERVAL", "500")
            .env("RUST_LOG", "info")
            .env_remove("OTEL_SDK_DISABLED")
            .stdout(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("start parquetry");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let sink = logs.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // JSON log lines; anything else (the console exporter's
                // output) is kept as a string.
                let value = serde_json::from_str::<Value>(&line).unwrap_or(Value::String(line));
                if value["message"] == "listening" {
                    let _ = port_tx.send(value["port"].as_u64().unwrap() as u16);
                }
                sink.lock().unwrap().push(value);
            }
        });
        let port = if subcommand == "serve" {
            Some(
                port_rx
                    .recv_timeout(Duration::from_secs(60))
                    .expect("the service never listened"),
            )
        } else {
            None
        };
        Service {
            child,
            port,
            logs,
            reader: Some(reader),
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port.unwrap())
    }

    /// SIGTERM, and wait: the process must flush its telemetry before exit.
    pub(crate) fn terminate(mut self) -> Vec<Value> {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "parquetry exited with {status}");
        // Its stdout closed with it: every line is read once the reader ends.
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let logs = self.logs.lock().unwrap().clone();
        logs
    }
}

/// The response's `traceparent` and the job's `trace_id` both carry the caller's trace.
fn assert_continues_caller_trace(headers: &reqwest::header::HeaderMap, job: &Value) {
    let traceparent = headers["traceparent"].to_str().unwrap();
    assert!(
        traceparent.starts_with(&format!("00-{CALLER_TRACE}-")),
        "{traceparent}"
    );
    assert_eq!(job["trace_id"], CALLER_TRACE);
}

async fn upload_with_caller_trace(
    service: &Service,
    csv: &str,
) -> (reqwest::header::HeaderMap, Value) {
    let response = reqwest::Client::new()
        .post(service.url("/v1/jobs?filename=t.csv"))
        .header("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))
        .body(csv.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let headers = response.headers().clone();
    (headers, response.json().await.unwrap())
}

/// `POST /v1/jobs{query}` with `body` as the raw CSV; the 202's job.
pub(crate) async fn upload(
    service: &Service,
    query: &str,
    body: impl Into<reqwest::Body>,
) -> Value {
    let response = reqwest::Client::new()
        .post(service.url(&format!("/v1/jobs{query}")))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    response.json().await.unwrap()
}

/// The job as `GET /v1/jobs/{id}` shows it now.
pub(crate) async fn job(service: &Service, id: &str) -> Value {
    reqwest::get(service.url(&format!("/v1/jobs/{id}")))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Polls the job until it has succeeded or failed (failing the test after a minute).
pub(crate) async fn wait_for_job(service: &Service, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let job = job(service, id).await;
        if ["succeeded", "failed"].contains(&job["status"].as_str().unwrap()) {
            return job;
        }
        assert!(Instant::now() < deadline, "{job:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn one<'a>(
    spans: &'a [ReceivedSpan],
    what: &str,
    pred: impl Fn(&ReceivedSpan) -> bool,
) -> &'a ReceivedSpan {
    let found: Vec<&ReceivedSpan> = spans.iter().filter(|s| pred(s)).collect();
    assert_eq!(
        found.len(),
        1,
        "expected one {what}, got {}: {:#?}",
        found.len(),
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    found[0]
}

fn assert_db_span(span: &ReceivedSpan, operation: &str) {
    assert_eq!(span.kind, SpanKind::Client, "{}", span.name);
    assert_eq!(span.attr("db.system.name").as_deref(), Some("postgresql"));
    assert_eq!(span.attr("db.operation.name").as_deref(), Some(operation));
    assert_eq!(span.attr("db.collection.name").as_deref(), Some("jobs"));
    assert!(
        span.attr("db.query.text").unwrap().contains("$1"),
        "placeholders, not values"
    );
    assert_eq!(span.attr("server.address").as_deref(), Some("127.0.0.1"));
    assert_eq!(
        span.attributes.get("server.port"),
        Some(&AttrValue::Int(5432))
    );
    assert!(span.attr("db.namespace").is_some_and(|db| !db.is_empty()));
    // The span is named by its summary, which says what the statement is for.
    assert_eq!(
        span.attr("db.query.summary").as_deref(),
        Some(span.name.as_str())
    );
}

/// Checks the whole span tree of one successful upload.
fn assert_upload_trace(spans: &[ReceivedSpan], body_size: usize) {
    let server = one(spans, "server span", |s| {
        s.kind == SpanKind::Server && s.name == "POST /v1/jobs"
    });
    assert_eq!(
        server.parent_span_id.as_deref(),
        Some(CALLER_SPAN),
        "the caller's trace continues"
    );
    assert_eq!(server.attr("http.route").as_deref(), Some("/v1/jobs"));
    assert_eq!(
        server.attributes.get("http.response.status_code"),
        Some(&AttrValue::Int(202))
    );
    assert_eq!(
        server.attributes.get("http.request.body.size"),
        Some(&AttrValue::Int(body_size as i64))
    );
    assert_eq!(server.status_code, StatusCode::Unset);

    let producer = one(spans, "producer span", |s| s.kind == SpanKind::Producer);
    assert_eq!(producer.parent_span_id.as_ref(), Some(&server.span_id));
    let insert = one(spans, "INSERT", |s| s.name == "INSERT jobs enqueue");
    assert_eq!(insert.parent_span_id.as_ref(), Some(&producer.span_id));
    assert_db_span(insert, "INSERT");

    let consumer = one(spans, "consumer span", |s| s.kind == SpanKind::Consumer);
    assert_eq!(consumer.parent_span_id.as_ref(), Some(&producer.span_id));
    assert!(
        consumer
            .links
            .contains(&(CALLER_TRACE.to_string(), producer.span_id.clone())),
        "the consumer links to the producer"
    );
    assert!(consumer.attr("parquetry.worker.id").is_some());
    assert_eq!(consumer.attr("parquetry.job.attempt").as_deref(), Some("1"));
    assert!(server.end_time_unix_nano <= consumer.end_time_unix_nano);

    // A free worker converted the upload as it arrived (a head start): the
    // job was stored claimed, its claim in the INSERT's transaction. A queued
    // job's claim (`SKIP LOCKED`) hangs in the same place.
    let claim = one(spans, "claim", |s| s.name == "UPDATE jobs claim");
    let query = claim.attr("db.query.text").unwrap();
    assert!(query.contains("WHERE id = $1"), "{query}");
    // The claim ran before the job span began: it hangs beside it, under the producer.
    assert_eq!(claim.parent_span_id.as_ref(), Some(&producer.span_id));
    assert!(claim.end_time_unix_nano <= consumer.end_time_unix_nano);
    assert_db_span(claim, "UPDATE");
    let convert = one(spans, "convert span", |s| s.name == "convert");
    assert_eq!(convert.parent_span_id.as_ref(), Some(&consumer.span_id));
    assert_eq!(
        convert.attributes.get("parquetry.rows"),
        Some(&AttrValue::Int(3))
    );
    assert!(convert.attr("parquetry.output.bytes").is_some());
    let engine = one(spans, "engine span", |s| s.name == "parquet.convert");
    assert_eq!(engine.parent_span_id.as_ref(), Some(&convert.span_id));
    assert_eq!(
        engine.attributes.get("parquetry.rows"),
        Some(&AttrValue::Int(3))
    );
    for phase in ["csv.detect_dialect", "csv.infer_schema"] {
        assert!(spans.iter().any(|s| s.name == phase), "{phase} missing");
    }
    let store = one(spans, "store result", |s| s.name == "store result");
    assert_eq!(store.parent_span_id.as_ref(), Some(&consumer.span_id));
    let last_update = one(spans, "final UPDATE", |s| {
        s.name == "UPDATE jobs succeed" && s.parent_span_id.as_ref() == Some(&store.span_id)
    });
    assert_db_span(last_update, "UPDATE");
    for span in spans.iter().filter(|s| s.kind == SpanKind::Client) {
        assert!(
            span.attr("db.system.name").is_some(),
            "{} lacks db attributes",
            span.name
        );
    }
}

const CSV: &str = "id,city\n1,Recife\n2,Natal\n3,\"São Paulo, SP\"\n";

async fn one_upload_gives_one_trace(protocol: &str, transport: Transport) {
    let receiver = OtlpReceiver::start().await;
    let endpoint = match transport {
        Transport::Grpc => receiver.grpc_endpoint(),
        Transport::Http => receiver.http_endpoint(),
    };
    let database = create_database().await;
    let service = Service::start(
        "serve",
        &[
            ("DATABASE_URL", database.url.clone()),
            ("PARQUETRY_DATA_DIR", temp_data_dir().display().to_string()),
            ("PARQUETRY_WORKERS", "1".into()),
            (
                "PARQUETRY_TRACE_URL",
                "http://localhost:16686/trace/{trace_id}".into(),
            ),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.into()),
            ("OTEL_SERVICE_NAME", "parquetry-test".into()),
        ],
    );

    let (headers, job) = upload_with_caller_trace(&service, CSV).await;
    let id = job["id"].as_str().unwrap().to_string();
    let job = wait_for_job(&service, &id).await;
    assert_eq!(job["status"], "succeeded");
    let logs = service.terminate();

    // The trace id reaches the user three ways.
    assert_continues_caller_trace(&headers, &job);
    assert_eq!(
        job["links"]["trace"],
        format!("http://localhost:16686/trace/{CALLER_TRACE}")
    );

    let spans: Vec<ReceivedSpan> = receiver
        .wait_for_spans(Duration::from_secs(10), |spans| {
            spans.iter().any(|s| s.name == "store result")
        })
        .await
        .into_iter()
        .filter(|s| s.trace_id == CALLER_TRACE)
        .collect();
    assert!(spans.iter().all(|s| s.transport == transport));
    assert!(spans
        .iter()
        .all(|s| s.resource.get("service.name").map(String::as_str) == Some("parquetry-test")));
    // Which build and which process made each span.
    assert!(spans.iter().all(|s| {
        s.resource.get("service.version").map(String::as_str) == Some(env!("CARGO_PKG_VERSION"))
            && s.resource
                .get("service.instance.id")
                .is_some_and(|id| uuid::Uuid::parse_str(id).is_ok())
    }));
    assert_upload_trace(&spans, CSV.len());

    // Logs: the job's lines carry its trace id, on stdout and over OTLP.
    let job_line = logs
        .iter()
        .find(|line| line["message"] == "job succeeded")
        .expect("a log line for the finished job");
    assert_eq!(job_line["trace_id"], CALLER_TRACE);
    assert!(job_line["span_id"].is_string());
    assert!(
        !logs.iter().any(|line| line.to_string().contains("Recife")),
        "no CSV content in logs"
    );
    let records = receiver
        .wait_for_logs(Duration::from_secs(10), |logs| {
            logs.iter().any(|l| l.body.contains("job succeeded"))
        })
        .await;
    let record = records
        .iter()
        .find(|l| l.body.contains("job succeeded"))
        .unwrap();
    assert_eq!(record.trace_id.as_deref(), Some(CALLER_TRACE));

    // Metrics pushed over OTLP too.
    let metrics = receiver
        .wait_for_metrics(Duration::from_secs(10), |m| {
            metric_names(m)
                .iter()
                .any(|n| n == "parquetry.jobs.finished")
        })
        .await;
    let names = metric_names(&metrics);
    for expected in [
        "http.server.request.duration",
        "parquetry.jobs.created",
        "parquetry.upload",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
}

#[tokio::test]
async fn one_upload_gives_one_trace_over_otlp_grpc() {
    one_upload_gives_one_trace("grpc", Transport::Grpc).await;
}

#[tokio::test]
async fn one_upload_gives_one_trace_over_otlp_http() {
    one_upload_gives_one_trace("http/protobuf", Transport::Http).await;
}

#[tokio::test]
async fn a_failed_job_has_an_error_span_with_the_exception_event() {
    let receiver = OtlpReceiver::start().await;
    let database = create_database().await;
    let service = Service::start(
        "serve",
        &[
            ("DATABASE_URL", database.url.clone()),
            ("PARQUETRY_DATA_DIR", temp_data_dir().display().to_string()),
            ("PARQUETRY_WORKERS", "1".into()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".into()),
        ],
    );

    let (_, job) = upload_with_caller_trace(&service, "a,b\n1,2\n3\n").await;
    let job = wait_for_job(&service, job["id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "failed");
    service.terminate();

    let spans = receiver
        .wait_for_spans(Duration::from_secs(10), |spans| {
            spans.iter().any(|s| s.kind == SpanKind::Consumer)
        })
        .await;
    let consumer = one(&spans, "consumer span", |s| s.kind == SpanKind::Consumer);
    assert_eq!(consumer.trace_id, CALLER_TRACE);
    assert_eq!(consumer.status_code, StatusCode::Error);
    let (_, exception) = consumer
        .events
        .iter()
        .find(|(name, _)| name == "exception")
        .expect("an exception event");
    assert_eq!(
        exception.get("exception.type").map(String::as_str),
        Some("ragged-row")
    );
    assert_eq!(
        exception.get("parquetry.csv.line").map(String::as_str),
        Some("3")
    );
    assert_eq!(consumer.attr("error.type").as_deref(), Some("ragged-row"));
    assert!(exception.contains_key("exception.message"));
}

#[tokio::test]
async fn a_job_run_by_another_process_lands_in_the_uploaders_trace() {
    let receiver = OtlpReceiver::start().await;
    let database = create_database().await;
    let database_url = database.url.clone();
    let data_dir = temp_data_dir().display().to_string();
    let common = |instance: &str| {
        vec![
            ("DATABASE_URL", database_url.clone()),
            ("PARQUETRY_DATA_DIR", data_dir.clone()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.grpc_endpoint()),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                format!("service.name=parquetry,service.instance.id={instance}"),
            ),
        ]
    };
    let mut api_env = common("api");
    api_env.push(("PARQUETRY_WORKERS", "0".into()));
    let api = Service::start("serve", &api_env);
    let mut worker_env = common("worker");
    worker_env.push(("PARQUETRY_WORKERS", "1".into()));
    let worker = Service::start("worker", &worker_env);

    let (_, job) = upload_with_caller_trace(&api, CSV).await;
    let job = wait_for_job(&api, job["id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "succeeded");
    worker.terminate();
    api.terminate();

    let spans = receiver
        .wait_for_spans(Duration::from_secs(10), |spans| {
            spans.iter().any(|s| s.name == "store result")
        })
        .await;
    let consumer = one(&spans, "consumer span", |s| s.kind == SpanKind::Consumer);
    let producer = one(&spans, "producer span", |s| s.kind == SpanKind::Producer);
    assert_eq!(consumer.trace_id, CALLER_TRACE);
    assert_eq!(consumer.parent_span_id.as_ref(), Some(&producer.span_id));
    assert_eq!(
        consumer
            .resource
            .get("service.instance.id")
            .map(String::as_str),
        Some("worker")
    );
    assert_eq!(
        producer
            .resource
            .get("service.instance.id")
            .map(String::as_str),
        Some("api")
    );
}

/// Starts a server with `env`, runs one job, stops it, and returns its stdout.
async fn run_one_job(env: Vec<(&str, String)>) -> Vec<Value> {
    let mut env = env;
    let database = create_database().await;
    env.push(("DATABASE_URL", database.url.clone()));
    env.push(("PARQUETRY_DATA_DIR", temp_data_dir().display().to_string()));
    env.push(("PARQUETRY_WORKERS", "1".into()));
    let service = Service::start("serve", &env);
    let (_, job) = upload_with_caller_trace(&service, CSV).await;
    let job = wait_for_job(&service, job["id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "succeeded");
    service.terminate()
}

#[tokio::test]
async fn with_the_sdk_disabled_nothing_is_exported() {
    let receiver = OtlpReceiver::start().await;

    let logs = run_one_job(vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.grpc_endpoint()),
        ("OTEL_SDK_DISABLED", "true".into()),
    ])
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    assert!(receiver.spans().is_empty());
    assert!(receiver.log_records().is_empty());
    assert!(
        logs.iter().any(|line| line["message"] == "job succeeded"),
        "logs stay on stdout"
    );
}

#[tokio::test]
async fn the_console_exporter_prints_spans_on_stdout() {
    let logs = run_one_job(vec![
        ("OTEL_TRACES_EXPORTER", "console".into()),
        ("OTEL_METRICS_EXPORTER", "none".into()),
        ("OTEL_LOGS_EXPORTER", "none".into()),
    ])
    .await;

    let printed: String = logs
        .iter()
        .filter_map(|line| line.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(printed.contains("process jobs"), "{printed}");
    assert!(printed.contains(CALLER_TRACE), "{printed}");
}

#[tokio::test]
async fn without_an_endpoint_the_service_says_so_once_and_still_traces() {
    let database = create_database().await;
    let service = Service::start(
        "serve",
        &[
            ("DATABASE_URL", database.url.clone()),
            ("PARQUETRY_DATA_DIR", temp_data_dir().display().to_string()),
            ("PARQUETRY_WORKERS", "1".into()),
        ],
    );

    let (headers, job) = upload_with_caller_trace(&service, CSV).await;
    let job = wait_for_job(&service, job["id"].as_str().unwrap()).await;
    let logs = service.terminate();

    // Nothing is exported, but spans have real ids all the same.
    assert_continues_caller_trace(&headers, &job);
    let job_line = logs
        .iter()
        .find(|line| line["message"] == "job succeeded")
        .expect("a job succeeded line");
    assert_eq!(job_line["trace_id"], CALLER_TRACE);

    let warnings = logs
        .iter()
        .filter(|line| {
            line["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("no OTLP endpoint configured"))
        })
        .count();
    assert_eq!(warnings, 1);
}
