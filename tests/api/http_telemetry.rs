//! HTTP server telemetry read as the OpenTelemetry semantic conventions say:
//! span names, attribute names and types, span status, the duration
//! histogram (to the last byte of the body) and the access log.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::metrics::v1::{metric, ResourceMetrics};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{create_database, eventually, spawn_app, temp_data_dir};
use crate::otlp_receiver::{AttrValue, OtlpReceiver, ReceivedSpan, SpanKind, StatusCode};
use crate::telemetry::Service;

const CALLER_TRACE: &str = "5bf92f3577b34da6a3ce929d0e0e4737";
const CALLER_SPAN: &str = "10f067aa0ba902b8";
const CSV: &str = "id,city\n1,Recife\n2,Natal\n";
const USER_AGENT: &str = "parquetry-tests/1.0";

/// Every attribute a server span may carry (stable HTTP conventions).
const SERVER_SPAN_ATTRIBUTES: [&str; 18] = [
    "http.request.method",
    "http.request.method_original",
    "http.route",
    "url.path",
    "url.query",
    "url.scheme",
    "server.address",
    "server.port",
    "client.address",
    "user_agent.original",
    "network.protocol.version",
    "http.request.body.size",
    "http.response.body.size",
    "http.response.status_code",
    "error.type",
    // Ours: the download names its job.
    "parquetry.job.id",
    "parquetry.download.object_bytes",
    // The caller's tenant (issue 14), never its key.
    "parquetry.tenant",
];

/// Names that must be gone: the legacy conventions and tracing's extras.
const LEGACY_OR_NOISE: [&str; 17] = [
    "http.method",
    "http.target",
    "http.status_code",
    "http.flavor",
    "http.scheme",
    "http.host",
    "http.client_ip",
    "http.user_agent",
    "busy_ns",
    "idle_ns",
    "request_id",
    "trace_id",
    "thread.id",
    "thread.name",
    "exception.message",
    "exception.details",
    "target",
];

fn text(value: &str) -> AttrValue {
    AttrValue::String(value.to_string())
}

fn assert_only_stable_attributes(span: &ReceivedSpan) {
    for key in span.attributes.keys() {
        assert!(
            SERVER_SPAN_ATTRIBUTES.contains(&key.as_str()),
            "{}: unexpected attribute {key} = {:?}",
            span.name,
            span.attributes[key]
        );
    }
    for key in LEGACY_OR_NOISE {
        assert!(!span.attributes.contains_key(key), "{}: {key}", span.name);
    }
}

/// The attributes every server span has, with their types.
fn assert_common_attributes(span: &ReceivedSpan, method: &str, path: &str, port: u16) {
    assert_eq!(span.kind, SpanKind::Server, "{}", span.name);
    let attributes = &span.attributes;
    assert_eq!(attributes.get("http.request.method"), Some(&text(method)));
    assert_eq!(attributes.get("url.path"), Some(&text(path)));
    assert_eq!(attributes.get("url.scheme"), Some(&text("http")));
    assert_eq!(attributes.get("server.address"), Some(&text("127.0.0.1")));
    assert_eq!(
        attributes.get("server.port"),
        Some(&AttrValue::Int(i64::from(port)))
    );
    assert_eq!(attributes.get("client.address"), Some(&text("127.0.0.1")));
    assert_eq!(
        attributes.get("user_agent.original"),
        Some(&text(USER_AGENT))
    );
    assert_eq!(
        attributes.get("network.protocol.version"),
        Some(&text("1.1"))
    );
    assert!(
        matches!(attributes.get("http.response.body.size"), Some(AttrValue::Int(n)) if *n > 0),
        "{attributes:?}"
    );
    assert_only_stable_attributes(span);
}

fn server_span<'a>(spans: &'a [ReceivedSpan], name: &str) -> &'a ReceivedSpan {
    let found: Vec<&ReceivedSpan> = spans
        .iter()
        .filter(|s| s.kind == SpanKind::Server && s.name == name)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{name}: {:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    found[0]
}

fn trace_id_of(response: &reqwest::Response) -> String {
    let traceparent = response.headers()["traceparent"].to_str().unwrap();
    traceparent.split('-').nth(1).unwrap().to_string()
}

fn start_service(receiver: &OtlpReceiver, database_url: String, extra: &[(&str, &str)]) -> Service {
    let mut env = vec![
        ("DATABASE_URL", database_url),
        ("PARQUETRY_DATA_DIR", temp_data_dir().display().to_string()),
        ("PARQUETRY_WORKERS", "0".to_string()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".to_string()),
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    Service::start("serve", &env)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .build()
        .unwrap()
}

/// The access log lines of stdout, by trace id.
fn access_lines(logs: &[Value]) -> HashMap<String, Value> {
    let lines: Vec<&Value> = logs
        .iter()
        .filter(|line| line["target"] == "parquetry::access")
        .collect();
    let by_trace: HashMap<String, Value> = lines
        .iter()
        .map(|line| {
            (
                line["trace_id"].as_str().unwrap().to_string(),
                (*line).clone(),
            )
        })
        .collect();
    assert_eq!(
        by_trace.len(),
        lines.len(),
        "one line per request: {lines:#?}"
    );
    by_trace
}

/// The data points of `http.server.request.duration`, as attribute maps.
fn duration_points(metrics: &[ResourceMetrics]) -> Vec<HashMap<String, AttrValue>> {
    let mut points = Vec::new();
    for metric in metrics
        .iter()
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics)
        .filter(|m| m.name == "http.server.request.duration")
    {
        if let Some(metric::Data::Histogram(histogram)) = &metric.data {
            for point in &histogram.data_points {
                points.push(
                    point
                        .attributes
                        .iter()
                        .map(|kv| {
                            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                                Some(any_value::Value::StringValue(s)) => {
                                    AttrValue::String(s.clone())
                                }
                                Some(any_value::Value::IntValue(i)) => AttrValue::Int(*i),
                                other => panic!("{}: unexpected type {other:?}", kv.key),
                            };
                            (kv.key.clone(), value)
                        })
                        .collect(),
                );
            }
        }
    }
    points
}

#[tokio::test]
async fn http_server_spans_logs_and_metrics_follow_the_stable_conventions() {
    let receiver = OtlpReceiver::start().await;
    let database = create_database().await;
    let service = start_service(&receiver, database.url.clone(), &[]);
    let port: u16 = service.url("").rsplit(':').next().unwrap().parse().unwrap();
    let client = client();

    let upload = client
        .post(service.url("/v1/jobs?filename=t.csv"))
        .header("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))
        .header("content-type", "text/csv")
        .body(CSV)
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), 202);
    let missing_id = uuid::Uuid::now_v7();
    let missing = client
        .get(service.url(&format!("/v1/jobs/{missing_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let nowhere = client.get(service.url("/nowhere")).send().await.unwrap();
    assert_eq!(nowhere.status(), 404);
    let traces = [
        trace_id_of(&upload),
        trace_id_of(&missing),
        trace_id_of(&nowhere),
    ];
    assert_eq!(traces[0], CALLER_TRACE);
    let logs = service.terminate();

    let spans = receiver
        .wait_for_spans(Duration::from_secs(10), |spans| {
            spans.iter().filter(|s| s.kind == SpanKind::Server).count() >= 3
        })
        .await;

    // The 202 of an upload.
    let span = server_span(&spans, "POST /v1/jobs");
    assert_eq!(span.trace_id, CALLER_TRACE);
    assert_eq!(span.parent_span_id.as_deref(), Some(CALLER_SPAN));
    assert_common_attributes(span, "POST", "/v1/jobs", port);
    let attributes = &span.attributes;
    assert_eq!(attributes.get("http.route"), Some(&text("/v1/jobs")));
    assert_eq!(attributes.get("url.query"), Some(&text("filename=t.csv")));
    assert_eq!(
        attributes.get("http.response.status_code"),
        Some(&AttrValue::Int(202))
    );
    assert_eq!(
        attributes.get("http.request.body.size"),
        Some(&AttrValue::Int(CSV.len() as i64))
    );
    assert_eq!(span.status_code, StatusCode::Unset);
    assert!(!attributes.contains_key("error.type"));

    // A 404 on a route: status unset, no error.
    let span = server_span(&spans, "GET /v1/jobs/{id}");
    assert_common_attributes(span, "GET", &format!("/v1/jobs/{missing_id}"), port);
    assert_eq!(
        span.attributes.get("http.route"),
        Some(&text("/v1/jobs/{id}"))
    );
    assert_eq!(
        span.attributes.get("http.response.status_code"),
        Some(&AttrValue::Int(404))
    );
    assert!(!span.attributes.contains_key("url.query"));
    assert!(!span.attributes.contains_key("http.request.body.size"));
    assert_eq!(span.status_code, StatusCode::Unset);
    assert!(!span.attributes.contains_key("error.type"));
    // Not even tracing-actix-web's "Error encountered…" event.
    assert!(span.events.is_empty(), "{:?}", span.events);

    // No route matched: the span is named after the method alone.
    let span = server_span(&spans, "GET");
    assert_common_attributes(span, "GET", "/nowhere", port);
    assert!(!span.attributes.contains_key("http.route"));
    assert_eq!(
        span.attributes.get("http.response.status_code"),
        Some(&AttrValue::Int(404))
    );
    assert_eq!(span.status_code, StatusCode::Unset);

    // One access line per request on stdout, in its trace.
    let lines = access_lines(&logs);
    assert_eq!(lines.len(), 3, "{lines:#?}");
    let line = &lines[CALLER_TRACE];
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["http.request.method"], "POST");
    assert_eq!(line["http.route"], "/v1/jobs");
    assert_eq!(line["http.response.status_code"], 202);
    assert_eq!(line["http.request.body.size"], CSV.len());
    assert!(line["http.response.body.size"].as_u64().unwrap() > 0);
    assert!(line["duration_ms"].as_f64().unwrap() > 0.0, "{line}");
    let line = &lines[&traces[1]];
    assert_eq!(line["http.route"], "/v1/jobs/{id}");
    assert_eq!(line["url.path"], format!("/v1/jobs/{missing_id}"));
    assert_eq!(line["http.response.status_code"], 404);
    let line = &lines[&traces[2]];
    assert!(line.get("http.route").is_none(), "{line}");
    assert_eq!(line["http.response.status_code"], 404);

    // The same over OTLP, with a timestamp and an event name of their own.
    let records = receiver
        .wait_for_logs(Duration::from_secs(10), |records| {
            records
                .iter()
                .filter(|r| r.event_name == "parquetry.http.access")
                .count()
                >= 3
        })
        .await;
    let access = records
        .iter()
        .find(|r| {
            r.event_name == "parquetry.http.access" && r.trace_id.as_deref() == Some(CALLER_TRACE)
        })
        .expect("the upload's access record");
    assert_eq!(
        access.attribute_values.get("http.response.status_code"),
        Some(&AttrValue::Int(202))
    );
    assert_eq!(
        access.attribute_values.get("http.request.body.size"),
        Some(&AttrValue::Int(CSV.len() as i64))
    );
    assert!(matches!(
        access.attribute_values.get("duration_ms"),
        Some(AttrValue::Double(_))
    ));
    for record in &records {
        assert!(record.time_unix_nano > 0, "no timestamp: {record:?}");
        assert!(
            record.time_unix_nano <= record.observed_time_unix_nano,
            "{record:?}"
        );
        assert!(
            !record.event_name.is_empty() && !record.event_name.starts_with("event "),
            "{record:?}"
        );
    }
    let names: HashSet<&str> = records.iter().map(|r| r.event_name.as_str()).collect();
    assert!(names.len() > 1, "{names:?}");
    let queued = records
        .iter()
        .find(|r| r.body == "job queued")
        .expect("the job queued record");
    assert_eq!(queued.event_name, "parquetry.http.upload.job_queued");

    // The duration histogram: the stable attribute set, ints as ints.
    let metrics = receiver
        .wait_for_metrics(Duration::from_secs(10), |metrics| {
            duration_points(metrics).len() >= 3
        })
        .await;
    let points = duration_points(&metrics);
    let upload_point = points
        .iter()
        .find(|p| p.get("http.route") == Some(&text("/v1/jobs")))
        .expect("a point for the upload");
    let keys: HashSet<&str> = upload_point.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        HashSet::from([
            "http.request.method",
            "http.route",
            "http.response.status_code",
            "url.scheme",
            "network.protocol.version",
        ])
    );
    assert_eq!(
        upload_point.get("http.response.status_code"),
        Some(&AttrValue::Int(202))
    );
    assert!(points.iter().any(|p| !p.contains_key("http.route")
        && p.get("http.response.status_code") == Some(&AttrValue::Int(404))));
}

#[tokio::test]
async fn a_5xx_has_error_type_an_error_status_and_an_exception_event() {
    let receiver = OtlpReceiver::start().await;
    let database = create_database().await;
    // No room in the queue at all: every upload is refused with 503.
    let service = start_service(
        &receiver,
        database.url.clone(),
        &[("PARQUETRY_MAX_QUEUED_JOBS", "0")],
    );
    let refused = client()
        .post(service.url("/v1/jobs?filename=t.csv"))
        .header("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))
        .body(CSV)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 503);
    let logs = service.terminate();

    let spans = receiver
        .wait_for_spans(Duration::from_secs(10), |spans| {
            spans.iter().any(|s| s.kind == SpanKind::Server)
        })
        .await;
    let span = server_span(&spans, "POST /v1/jobs");
    assert_eq!(
        span.attributes.get("http.response.status_code"),
        Some(&AttrValue::Int(503))
    );
    assert_eq!(span.attributes.get("error.type"), Some(&text("queue-full")));
    assert_eq!(span.status_code, StatusCode::Error);
    assert_only_stable_attributes(span);
    let (_, exception) = span
        .events
        .iter()
        .find(|(name, _)| name == "exception")
        .expect("an exception event");
    assert_eq!(
        exception.get("exception.type").map(String::as_str),
        Some("queue-full")
    );
    assert!(exception["exception.message"].contains("waiting in the queue"));

    assert!(
        span.events.iter().all(|(name, _)| name == "exception"),
        "{:?}",
        span.events
    );

    let lines = access_lines(&logs);
    let line = &lines[CALLER_TRACE];
    assert_eq!(line["http.response.status_code"], 503);
    assert!(
        !logs.iter().any(|line| line["target"]
            .as_str()
            .is_some_and(|target| target.starts_with("tracing_actix_web"))),
        "the access line says it all"
    );
    assert_eq!(line["error.type"], "queue-full");

    let metrics = receiver
        .wait_for_metrics(Duration::from_secs(10), |metrics| {
            !duration_points(metrics).is_empty()
        })
        .await;
    assert!(duration_points(&metrics).iter().any(|p| {
        p.get("error.type") == Some(&text("queue-full"))
            && p.get("http.response.status_code") == Some(&AttrValue::Int(503))
    }));
}

/// A CSV whose Parquet result stays big: unique, random-looking strings
/// of 64 symbols, which neither a dictionary nor a codec can shrink much.
fn incompressible_csv(rows: u64) -> String {
    const SYMBOLS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        // splitmix64
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut csv = String::from("id,token\n");
    for n in 0..rows {
        csv.push_str(&n.to_string());
        csv.push(',');
        for _ in 0..4 {
            let bits = next();
            csv.extend((0..10).map(|i| SYMBOLS[((bits >> (6 * i)) & 63) as usize] as char));
        }
        csv.push('\n');
    }
    csv
}

/// `GET path` on a socket with a small receive buffer, so that the server
/// can send only as fast as this reads. Reads the head, waits `pause`, then
/// reads the rest (or, with `abandon`, closes the connection instead).
async fn slow_get(address: &str, path: &str, pause: Duration, abandon: bool) -> usize {
    let address: std::net::SocketAddr = address.trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(address).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let mut head = [0u8; 1024];
    let read = stream.read(&mut head).await.unwrap();
    assert!(
        head[..read].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&head[..read])
    );
    if abandon {
        // Gone with most of the body unsent: nothing to wait for.
        return read;
    }
    // The slow client under test: it reads nothing more for `pause`.
    tokio::time::sleep(pause).await;
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).await.unwrap();
    read + rest.len()
}

/// `sum` of the duration histogram's series whose labels contain all of `labels`.
fn duration_sum(exposition: &str, labels: &[&str]) -> Option<f64> {
    exposition
        .lines()
        .filter(|line| line.starts_with("http_server_request_duration_seconds_sum{"))
        .filter(|line| labels.iter().all(|label| line.contains(label)))
        .map(|line| line.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .reduce(|a, b| a + b)
}

#[tokio::test]
async fn the_request_duration_covers_the_response_body_to_its_last_byte() {
    let app = spawn_app().await;
    let id = app.enqueue(&incompressible_csv(300_000)).await;
    let job = app.wait_until_finished(&id).await;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    let size = job["result"]["bytes"].as_u64().unwrap_or(0);
    let path = format!("/v1/jobs/{id}/result");

    let pause = Duration::from_millis(1500);
    let started = Instant::now();
    let received = slow_get(&app.address, &path, pause, false).await;
    let took = started.elapsed();
    // Far more than the socket buffers hold, or the server would be done
    // before the client starts reading.
    assert!(received > 4_000_000, "{received} bytes ({size})");

    let exposition = app.get_text("/metrics").await;
    let route = r#"http_route="/v1/jobs/{id}/result""#;
    let recorded = duration_sum(&exposition, &[route, r#"http_response_status_code="200""#])
        .expect("the download's duration");
    assert!(
        recorded >= pause.as_secs_f64() && recorded <= took.as_secs_f64() + 0.1,
        "recorded {recorded} s, the client took {took:?}"
    );

    // A client that goes away mid-body: counted, as aborted.
    slow_get(&app.address, &path, Duration::ZERO, true).await;
    eventually(
        "the aborted download in the metrics",
        Duration::from_secs(10),
        async || {
            let exposition = app.get_text("/metrics").await;
            duration_sum(&exposition, &[route, r#"error_type="aborted""#]).is_some()
        },
    )
    .await;
    app.stop().await;
}
