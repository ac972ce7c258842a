//! Signed webhooks, checked from the receiving end: a receiver started by the
//! test (tests/webhook_receiver.py) verifies every delivery with the PyPI
//! `standardwebhooks` package, an implementation independent of ours, and
//! records what it got.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Once;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{
    create_database, eventually, expect_problem, spawn_app_with, spawn_worker, temp_data_dir,
    ChildGuard, TestApp,
};
use crate::otlp_receiver::{AttrValue, OtlpReceiver, SpanKind, StatusCode};
use crate::telemetry::{job as service_job, upload, Service};

/// 24 bytes, in the specification's `whsec_` form (its test vector's secret).
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const CSV: &str = "id,name\n1,ana\n2,bruno\n";

static VENV: Once = Once::new();

/// A receiver process; killed with the guard.
struct Receiver {
    _child: ChildGuard,
    port: u16,
    log: PathBuf,
}

impl Receiver {
    /// `args`: `--fail-first N`, `--status CODE` (see the script).
    fn start(args: &[&str]) -> Receiver {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        VENV.call_once(|| {
            let status = Command::new(root.join("scripts/ensure-standardwebhooks"))
                .status()
                .expect("run scripts/ensure-standardwebhooks");
            assert!(status.success(), "scripts/ensure-standardwebhooks failed");
        });
        let log = temp_data_dir().join("deliveries.jsonl");
        let mut child = Command::new(root.join(".venv-webhooks/bin/python"))
            .arg(root.join("tests/webhook_receiver.py"))
            .args(["--secret", SECRET, "--log"])
            .arg(&log)
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the webhook receiver");
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .expect("the receiver's port");
        let port = first.trim().parse().expect("a port on the first line");
        Receiver {
            _child: ChildGuard::new(child),
            port,
            log,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Every request received so far, oldest first.
    fn deliveries(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

/// The app with webhooks on, allowed to call the receiver on loopback, and
/// retries a few hundred milliseconds apart.
async fn app_with_webhooks() -> TestApp {
    spawn_app_with(|settings| {
        settings.webhooks.webhook_secret = Some(SECRET.into());
        settings.webhooks.webhook_allow_private = true;
        settings.webhooks.webhook_retry_base_ms = 200;
    })
    .await
}

/// Uploads `CSV` with `callback_url`; the 202's job.
async fn upload_with_callback(app: &TestApp, callback_url: &str) -> Value {
    let response = app
        .upload_multipart(CSV.into(), "data.csv", &[("callback_url", callback_url)])
        .await;
    assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
    response.json().await.unwrap()
}

/// Polls the job until its webhook reaches `state`.
async fn wait_for_webhook(app: &TestApp, id: &str, state: &str) -> Value {
    let mut job = Value::Null;
    eventually(
        &format!("the webhook of job {id} to be {state}"),
        Duration::from_secs(30),
        async || {
            job = app.get_job(id).await;
            job["webhook"]["state"] == state
        },
    )
    .await;
    job
}

#[tokio::test]
async fn a_finished_job_is_posted_signed_and_delivered_once_after_a_500() {
    let receiver = Receiver::start(&["--fail-first", "1"]);
    let app = app_with_webhooks().await;

    let job = upload_with_callback(&app, &receiver.url("/hooks/parquetry?token=s3cret")).await;
    let id = job["id"].as_str().unwrap();
    // The URL is shown without its query: it may hold a token.
    assert_eq!(job["webhook"]["url"], receiver.url("/hooks/parquetry"));
    assert_eq!(job["webhook"]["state"], "waiting");

    let job = wait_for_webhook(&app, id, "delivered").await;
    assert_eq!(job["status"], "succeeded");
    let webhook = &job["webhook"];
    assert_eq!(webhook["event"], "job.succeeded");
    assert_eq!(webhook["attempts"], 2, "{webhook:#}");
    assert_eq!(webhook["last_status"], 204);
    assert!(webhook["delivered_at"].is_string(), "{webhook:#}");

    let deliveries = receiver.deliveries();
    assert_eq!(deliveries.len(), 2, "{deliveries:#?}");
    let answered: Vec<_> = deliveries.iter().map(|d| d["answered"].clone()).collect();
    assert_eq!(answered, [500, 204], "exactly one successful delivery");
    for delivery in &deliveries {
        assert_eq!(delivery["verified"], true, "{delivery:#}");
        assert_eq!(delivery["path"], "/hooks/parquetry?token=s3cret");
    }
    // Every attempt sends the same event: the same id and the same bytes.
    assert_eq!(
        deliveries[0]["headers"]["webhook-id"],
        deliveries[1]["headers"]["webhook-id"]
    );
    assert_eq!(deliveries[0]["body"], deliveries[1]["body"]);
    let event = &deliveries[1]["body"];
    assert_eq!(event["type"], "job.succeeded");
    assert_eq!(event["id"], deliveries[1]["headers"]["webhook-id"]);
    assert!(
        event["timestamp"].as_str().unwrap().ends_with('Z'),
        "{event:#}"
    );
    assert_eq!(event["data"]["id"], id);
    assert_eq!(event["data"]["status"], "succeeded");
    assert_eq!(
        event["data"]["links"]["result"],
        format!("/v1/jobs/{id}/result")
    );
    // The request continues the job's trace.
    let traceparent = deliveries[1]["headers"]["traceparent"].as_str().unwrap();
    let trace_id = job["trace_id"].as_str().unwrap();
    assert!(
        traceparent.starts_with(&format!("00-{trace_id}-")),
        "{traceparent}"
    );
}

#[tokio::test]
async fn the_embedded_sqlite_store_delivers_and_retries_too() {
    let receiver = Receiver::start(&["--fail-first", "1"]);
    let app = spawn_app_with(|settings| {
        // No database URL: the job table (and its outbox) is the SQLite file.
        settings.database.database_url = None;
        settings.webhooks.webhook_secret = Some(SECRET.into());
        settings.webhooks.webhook_allow_private = true;
        settings.webhooks.webhook_retry_base_ms = 200;
    })
    .await;
    let job = upload_with_callback(&app, &receiver.url("/hook")).await;
    let id = job["id"].as_str().unwrap();

    let job = wait_for_webhook(&app, id, "delivered").await;
    assert_eq!(job["webhook"]["attempts"], 2);
    let deliveries = receiver.deliveries();
    let answered: Vec<_> = deliveries.iter().map(|d| d["answered"].clone()).collect();
    assert_eq!(answered, [500, 204]);
    assert!(deliveries.iter().all(|d| d["verified"] == true));
    assert_eq!(deliveries[1]["body"]["data"]["id"], id);
}

#[tokio::test]
async fn two_processes_never_deliver_the_same_event_twice() {
    let receiver = Receiver::start(&[]);
    let app = app_with_webhooks().await;
    // A worker process: a second dispatcher, woken by the same NOTIFY.
    let _worker = spawn_worker(
        &app,
        &[
            ("PARQUETRY_WEBHOOK_SECRET", SECRET),
            ("PARQUETRY_WEBHOOK_ALLOW_PRIVATE", "true"),
        ],
    );
    let mut ids = Vec::new();
    for _ in 0..8 {
        let job = upload_with_callback(&app, &receiver.url("/hook")).await;
        ids.push(job["id"].as_str().unwrap().to_string());
    }
    for id in &ids {
        wait_for_webhook(&app, id, "delivered").await;
    }
    let deliveries = receiver.deliveries();
    assert_eq!(deliveries.len(), ids.len(), "{deliveries:#?}");
    let mut delivered: Vec<_> = deliveries
        .iter()
        .map(|d| d["body"]["data"]["id"].as_str().unwrap().to_string())
        .collect();
    delivered.sort();
    ids.sort();
    assert_eq!(delivered, ids);
}

#[tokio::test]
async fn a_429_is_retried_no_sooner_than_its_retry_after() {
    let receiver = Receiver::start(&[
        "--fail-first",
        "1",
        "--fail-status",
        "429",
        "--retry-after",
        "1",
    ]);
    let app = app_with_webhooks().await;
    let job = upload_with_callback(&app, &receiver.url("/hook")).await;
    let id = job["id"].as_str().unwrap();

    let job = wait_for_webhook(&app, id, "delivered").await;
    assert_eq!(job["webhook"]["attempts"], 2);
    let deliveries = receiver.deliveries();
    let answered: Vec<_> = deliveries.iter().map(|d| d["answered"].clone()).collect();
    assert_eq!(answered, [429, 204]);
    // Retried after the second the receiver asked for, not the 200 ms backoff.
    let sent_at = |d: &Value| {
        d["headers"]["webhook-timestamp"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .unwrap()
    };
    assert!(
        sent_at(&deliveries[1]) > sent_at(&deliveries[0]),
        "{deliveries:#?}"
    );
}

#[tokio::test]
async fn an_answer_of_4xx_other_than_429_is_not_retried() {
    let receiver = Receiver::start(&["--status", "410"]);
    let app = app_with_webhooks().await;
    let job = upload_with_callback(&app, &receiver.url("/gone")).await;
    let id = job["id"].as_str().unwrap();

    let job = wait_for_webhook(&app, id, "failed").await;
    let webhook = &job["webhook"];
    assert_eq!(webhook["attempts"], 1, "{webhook:#}");
    assert_eq!(webhook["last_status"], 410);
    assert!(webhook["last_error"].as_str().unwrap().contains("410"));
    assert!(webhook["next_attempt_at"].is_null(), "{webhook:#}");
    assert_eq!(receiver.deliveries().len(), 1);
}

#[tokio::test]
async fn a_canceled_job_sends_its_event_too() {
    let receiver = Receiver::start(&[]);
    // No worker: the job stays queued until it is canceled.
    let app = spawn_app_with(|settings| {
        settings.worker.workers = Some(0);
        settings.webhooks.webhook_secret = Some(SECRET.into());
        settings.webhooks.webhook_allow_private = true;
    })
    .await;
    let job = upload_with_callback(&app, &receiver.url("/hook")).await;
    let id = job["id"].as_str().unwrap();
    let deleted = app
        .client
        .delete(app.url(&format!("/v1/jobs/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);

    wait_for_webhook(&app, id, "delivered").await;
    let deliveries = receiver.deliveries();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0]["verified"], true);
    assert_eq!(deliveries[0]["body"]["type"], "job.canceled");
    assert_eq!(deliveries[0]["body"]["data"]["status"], "canceled");
}

#[tokio::test]
async fn a_callback_url_to_an_internal_address_is_refused_with_a_stable_code() {
    let app = spawn_app_with(|settings| {
        settings.webhooks.webhook_secret = Some(SECRET.into());
    })
    .await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://10.0.0.7/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[fd00:ec2::254]/hook",
        "http://100.64.0.1/hook",
        "ftp://example.com/hook",
        "not a url",
    ] {
        let response = app.upload_raw(CSV, &query_with_callback(url)).await;
        expect_problem(response, 400, "callback-url-refused").await;
        let response = app
            .upload_multipart(CSV.into(), "data.csv", &[("callback_url", url)])
            .await;
        expect_problem(response, 400, "callback-url-refused").await;
    }
    assert_eq!(app.job_count().await, 0);
    assert!(app.stored_files().is_empty(), "{:?}", app.stored_files());
}

#[tokio::test]
async fn an_idempotency_key_reused_with_another_callback_url_is_refused() {
    let app = app_with_webhooks().await;
    let upload = |callback: &'static str| {
        let form = reqwest::multipart::Form::new()
            .text("callback_url", callback)
            .part(
                "file",
                reqwest::multipart::Part::bytes(CSV.as_bytes()).file_name("data.csv"),
            );
        app.client
            .post(app.url("/v1/jobs"))
            .header("Idempotency-Key", "one-upload")
            .multipart(form)
            .send()
    };
    assert_eq!(upload("http://127.0.0.1:9/a").await.unwrap().status(), 202);
    assert_eq!(upload("http://127.0.0.1:9/a").await.unwrap().status(), 200);
    let other = upload("http://127.0.0.1:9/b").await.unwrap();
    expect_problem(other, 422, "idempotency-key-reused").await;
}

#[tokio::test]
async fn a_callback_url_on_a_server_without_a_secret_is_refused() {
    let app = spawn_app_with(|_| {}).await;
    let response = app
        .upload_raw(CSV, "?callback_url=https%3A%2F%2Fexample.com%2Fhook")
        .await;
    expect_problem(response, 400, "webhooks-disabled").await;
}

/// The environment of a `parquetry serve` with webhooks on.
fn service_env(
    database_url: &str,
    data_dir: &str,
    retry_base_ms: &str,
    otlp: String,
) -> Vec<(&'static str, String)> {
    vec![
        ("DATABASE_URL", database_url.to_string()),
        ("PARQUETRY_DATA_DIR", data_dir.to_string()),
        ("PARQUETRY_WORKERS", "1".into()),
        ("PARQUETRY_WEBHOOK_SECRET", SECRET.into()),
        ("PARQUETRY_WEBHOOK_ALLOW_PRIVATE", "true".into()),
        ("PARQUETRY_WEBHOOK_RETRY_BASE_MS", retry_base_ms.to_string()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp),
    ]
}

/// `?filename=data.csv&callback_url=…`, encoded.
fn query_with_callback(callback_url: &str) -> String {
    let encoded = serde_urlencoded::to_string([("callback_url", callback_url)]).unwrap();
    format!("?filename=data.csv&{encoded}")
}

#[tokio::test]
async fn a_delivery_survives_a_restart_and_each_attempt_is_a_client_span_of_the_jobs_trace() {
    let receiver = Receiver::start(&["--fail-first", "1"]);
    let otlp = OtlpReceiver::start().await;
    let database = create_database().await;
    let data_dir = temp_data_dir().display().to_string();
    // The first process would retry seconds later: it is stopped before.
    let first = Service::start(
        "serve",
        &service_env(&database.url, &data_dir, "4000", otlp.grpc_endpoint()),
    );
    let callback = receiver.url("/hook?token=s3cret");
    let job = upload(&first, &query_with_callback(&callback), CSV).await;
    let id = job["id"].as_str().unwrap().to_string();
    let trace_id = job["trace_id"].as_str().unwrap().to_string();
    eventually("the first attempt", Duration::from_secs(30), async || {
        let job = service_job(&first, &id).await;
        job["webhook"]["attempts"] == 1 && job["webhook"]["last_status"] == 500
    })
    .await;
    let mut logs = first.terminate();
    assert_eq!(receiver.deliveries().len(), 1);

    let second = Service::start(
        "serve",
        &service_env(&database.url, &data_dir, "200", otlp.grpc_endpoint()),
    );
    eventually(
        "the delivery after the restart",
        Duration::from_secs(30),
        async || service_job(&second, &id).await["webhook"]["state"] == "delivered",
    )
    .await;
    logs.extend(second.terminate());
    let deliveries = receiver.deliveries();
    let answered: Vec<_> = deliveries.iter().map(|d| d["answered"].clone()).collect();
    assert_eq!(answered, [500, 204]);
    assert!(
        deliveries.iter().all(|d| d["verified"] == true),
        "{deliveries:#?}"
    );
    assert_eq!(
        deliveries[0]["headers"]["webhook-id"],
        deliveries[1]["headers"]["webhook-id"]
    );

    let spans = otlp
        .wait_for_spans(Duration::from_secs(10), |spans| {
            spans
                .iter()
                .filter(|s| {
                    s.trace_id == trace_id && s.kind == SpanKind::Client && s.name == "POST"
                })
                .count()
                >= 2
        })
        .await;
    let producer = spans
        .iter()
        .find(|s| s.trace_id == trace_id && s.kind == SpanKind::Producer)
        .expect("the upload's producer span");
    let posts: Vec<_> = spans
        .iter()
        .filter(|s| s.trace_id == trace_id && s.kind == SpanKind::Client && s.name == "POST")
        .collect();
    assert_eq!(posts.len(), 2);
    for post in &posts {
        assert_eq!(
            post.parent_span_id.as_deref(),
            Some(producer.span_id.as_str())
        );
        assert_eq!(post.attr("http.request.method").as_deref(), Some("POST"));
        assert_eq!(post.attr("server.address").as_deref(), Some("127.0.0.1"));
        assert_eq!(
            post.attributes.get("server.port"),
            Some(&AttrValue::Int(i64::from(receiver.port)))
        );
        // The query may hold a token: never in a span.
        assert_eq!(post.attr("url.full"), Some(receiver.url("/hook")));
    }
    let failed = posts
        .iter()
        .find(|s| s.attributes.get("http.response.status_code") == Some(&AttrValue::Int(500)))
        .expect("the span of the failed attempt");
    assert_eq!(failed.attr("error.type").as_deref(), Some("500"));
    assert_eq!(failed.status_code, StatusCode::Error);
    let delivered = posts
        .iter()
        .find(|s| s.attributes.get("http.response.status_code") == Some(&AttrValue::Int(204)))
        .expect("the span of the delivery");
    assert_eq!(
        deliveries[1]["headers"]["traceparent"],
        format!("00-{trace_id}-{}-01", delivered.span_id)
    );
    for span in &spans {
        for (key, value) in &span.attributes {
            assert!(
                !value.to_string().contains("s3cret"),
                "{key} of {}",
                span.name
            );
        }
    }
    for line in &logs {
        assert!(!line.to_string().contains("s3cret"), "{line}");
    }
}
