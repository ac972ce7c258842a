//! A real OTLP receiver running inside the test process.
//!
//! It listens on two ephemeral ports on 127.0.0.1:
//! - gRPC (tonic): `opentelemetry.proto.collector.{trace,logs,metrics}.v1` services;
//! - HTTP (actix-web): `POST /v1/traces`, `/v1/logs`, `/v1/metrics` with
//!   `Content-Type: application/x-protobuf` (no JSON, no gzip: those get 415).
//!
//! Both servers run on a dedicated thread with its own actix/tokio runtime, so the
//! receiver keeps answering even while the test's own runtime is blocked (for example
//! inside a blocking `force_flush()`), whatever runtime flavour the test uses.
//! Dropping the [`OtlpReceiver`] stops both servers.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1 as trace_pb;
use prost::Message;
use tokio::sync::oneshot;

/// Largest OTLP/HTTP body accepted (actix-web's default limit is only 256 KiB).
const MAX_HTTP_BODY: usize = 64 * 1024 * 1024;
/// Largest gRPC message accepted (tonic's default is 4 MiB).
const MAX_GRPC_MESSAGE: usize = 64 * 1024 * 1024;

/// Which OTLP transport delivered an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Grpc,
    Http,
}

/// `opentelemetry.proto.trace.v1.Span.SpanKind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpanKind {
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl SpanKind {
    fn from_proto(kind: i32) -> SpanKind {
        use trace_pb::span::SpanKind as P;
        match P::try_from(kind) {
            Ok(P::Internal) => SpanKind::Internal,
            Ok(P::Server) => SpanKind::Server,
            Ok(P::Client) => SpanKind::Client,
            Ok(P::Producer) => SpanKind::Producer,
            Ok(P::Consumer) => SpanKind::Consumer,
            Ok(P::Unspecified) | Err(_) => SpanKind::Unspecified,
        }
    }
}

/// `opentelemetry.proto.trace.v1.Status.StatusCode` (a missing status is `Unset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusCode {
    Unset,
    Ok,
    Error,
}

impl StatusCode {
    fn from_proto(code: i32) -> StatusCode {
        use trace_pb::status::StatusCode as P;
        match P::try_from(code) {
            Ok(P::Ok) => StatusCode::Ok,
            Ok(P::Error) => StatusCode::Error,
            Ok(P::Unset) | Err(_) => StatusCode::Unset,
        }
    }
}

/// An OTLP `AnyValue`. `Display` gives the string form used by
/// [`ReceivedSpan::attr`]: strings as is, ints in decimal, bools as `true`/`false`,
/// bytes in lowercase hex, arrays as `[a, b]`, maps as `{k: v, …}`, empty as ``.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    String(String),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(Vec<u8>),
    Array(Vec<AttrValue>),
    Map(Vec<(String, AttrValue)>),
    Empty,
}

impl AttrValue {
    fn from_proto(value: Option<&AnyValue>) -> AttrValue {
        use any_value::Value as V;
        match value.and_then(|v| v.value.as_ref()) {
            Some(V::StringValue(s)) => AttrValue::String(s.clone()),
            Some(V::BoolValue(b)) => AttrValue::Bool(*b),
            Some(V::IntValue(i)) => AttrValue::Int(*i),
            Some(V::DoubleValue(d)) => AttrValue::Double(*d),
            Some(V::BytesValue(b)) => AttrValue::Bytes(b.clone()),
            Some(V::ArrayValue(a)) => AttrValue::Array(
                a.values
                    .iter()
                    .map(|v| AttrValue::from_proto(Some(v)))
                    .collect(),
            ),
            Some(V::KvlistValue(kvs)) => AttrValue::Map(
                kvs.values
                    .iter()
                    .map(|kv| (kv.key.clone(), AttrValue::from_proto(kv.value.as_ref())))
                    .collect(),
            ),
            // `StringValueStrindex` is for the profiling signal only.
            Some(_) | None => AttrValue::Empty,
        }
    }
}

impl fmt::Display for AttrValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttrValue::String(s) => f.write_str(s),
            AttrValue::Bool(b) => write!(f, "{b}"),
            AttrValue::Int(i) => write!(f, "{i}"),
            AttrValue::Double(d) => write!(f, "{d}"),
            AttrValue::Bytes(b) => f.write_str(&hex(b)),
            AttrValue::Array(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            AttrValue::Map(entries) => {
                f.write_str("{")?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
            }
            AttrValue::Empty => Ok(()),
        }
    }
}

/// One span, flattened out of its `ResourceSpans` / `ScopeSpans`.
/// Ids are lowercase hex (32 chars for trace ids, 16 for span ids).
#[derive(Debug, Clone)]
#[allow(dead_code)] // test-support API: not every test reads every field
pub struct ReceivedSpan {
    pub trace_id: String,
    pub span_id: String,
    /// `None` for a root span.
    pub parent_span_id: Option<String>,
    pub name: String,
    pub kind: SpanKind,
    pub attributes: HashMap<String, AttrValue>,
    pub status_code: StatusCode,
    pub status_message: String,
    /// `(event name, event attributes in string form)`, in order.
    pub events: Vec<(String, HashMap<String, String>)>,
    /// `(trace_id, span_id)` of each link, in order.
    pub links: Vec<(String, String)>,
    /// Resource attributes in string form (`service.name`, …).
    pub resource: HashMap<String, String>,
    /// Instrumentation scope name (the tracer's name).
    pub scope_name: String,
    pub start_time_unix_nano: u64,
    pub end_time_unix_nano: u64,
    pub transport: Transport,
}

impl ReceivedSpan {
    /// String form of the attribute `key` (see [`AttrValue`]'s `Display`).
    #[allow(dead_code)] // test-support API
    pub fn attr(&self, key: &str) -> Option<String> {
        self.attributes.get(key).map(|v| v.to_string())
    }
}

/// One log record, flattened out of its `ResourceLogs` / `ScopeLogs`.
#[derive(Debug, Clone)]
#[allow(dead_code)] // test-support API: not every test reads every field
pub struct ReceivedLog {
    /// Lowercase hex; `None` when the record carries no (or an all-zero) trace id.
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
    pub severity_text: String,
    /// `opentelemetry.proto.logs.v1.SeverityNumber` as sent (9 = INFO, 13 = WARN, 17 = ERROR).
    pub severity_number: i32,
    /// The body in string form (see [`AttrValue`]'s `Display`).
    pub body: String,
    /// Attributes in string form.
    pub attributes: HashMap<String, String>,
    /// The same attributes with their OTLP types (int, string…).
    pub attribute_values: HashMap<String, AttrValue>,
    pub event_name: String,
    /// When the event happened; 0 when the record does not say.
    pub time_unix_nano: u64,
    /// When the SDK saw it.
    pub observed_time_unix_nano: u64,
    pub resource: HashMap<String, String>,
    pub scope_name: String,
    pub transport: Transport,
}

#[derive(Default)]
struct Store {
    spans: Vec<ReceivedSpan>,
    logs: Vec<ReceivedLog>,
    metrics: Vec<ResourceMetrics>,
}

type SharedStore = Arc<Mutex<Store>>;

fn lock(store: &Mutex<Store>) -> MutexGuard<'_, Store> {
    // A panicking test must not hide what was received from the others.
    store
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The in-process OTLP receiver. See the module documentation.
pub struct OtlpReceiver {
    grpc_endpoint: String,
    http_endpoint: String,
    store: SharedStore,
    stop: Option<oneshot::Sender<()>>,
}

impl OtlpReceiver {
    /// Starts both servers and returns once both listen.
    pub async fn start() -> OtlpReceiver {
        let store = SharedStore::default();
        let (ready_tx, ready_rx) = oneshot::channel::<(SocketAddr, SocketAddr)>();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread_store = store.clone();
        std::thread::Builder::new()
            .name("otlp-receiver".into())
            .spawn(move || {
                actix_web::rt::System::new().block_on(serve(thread_store, ready_tx, stop_rx))
            })
            .expect("spawn the OTLP receiver thread");
        let (grpc, http) = ready_rx
            .await
            .expect("the OTLP receiver thread died before listening");
        OtlpReceiver {
            grpc_endpoint: format!("http://{grpc}"),
            http_endpoint: format!("http://{http}"),
            store,
            stop: Some(stop_tx),
        }
    }

    /// `http://127.0.0.1:PORT` of the gRPC receiver (use as is with `with_tonic()`).
    #[allow(dead_code)] // test-support API
    pub fn grpc_endpoint(&self) -> String {
        self.grpc_endpoint.clone()
    }

    /// `http://127.0.0.1:PORT` of the OTLP/HTTP receiver. In code, exporters need the
    /// full signal URL (`{http_endpoint}/v1/traces`); the env var
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` takes this base URL.
    #[allow(dead_code)] // test-support API
    pub fn http_endpoint(&self) -> String {
        self.http_endpoint.clone()
    }

    /// Flattened spans received so far (from both transports), in arrival order.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        lock(&self.store).spans.clone()
    }

    /// Flattened log records received so far (from both transports), in arrival order.
    pub fn log_records(&self) -> Vec<ReceivedLog> {
        lock(&self.store).logs.clone()
    }

    /// Every `ResourceMetrics` received so far (from both transports), in arrival order.
    /// With cumulative temporality (the default) the latest export holds the totals.
    pub fn metrics(&self) -> Vec<ResourceMetrics> {
        lock(&self.store).metrics.clone()
    }

    /// Polls every 100 ms, up to `timeout`, until `pred(&spans)` holds; returns the spans.
    /// Panics on timeout with a dump of the spans received.
    #[allow(dead_code)] // test-support API
    pub async fn wait_for_spans(
        &self,
        timeout: Duration,
        pred: impl Fn(&[ReceivedSpan]) -> bool,
    ) -> Vec<ReceivedSpan> {
        let deadline = Instant::now() + timeout;
        loop {
            let spans = self.spans();
            if pred(&spans) {
                return spans;
            }
            if Instant::now() >= deadline {
                panic!(
                    "timed out after {timeout:?} waiting for spans; received {}:\n{}",
                    spans.len(),
                    dump_spans(&spans)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Polls every 100 ms, up to `timeout`, until `pred(&logs)` holds; returns the logs.
    /// Panics on timeout with a dump of the log records received.
    #[allow(dead_code)] // test-support API
    pub async fn wait_for_logs(
        &self,
        timeout: Duration,
        pred: impl Fn(&[ReceivedLog]) -> bool,
    ) -> Vec<ReceivedLog> {
        let deadline = Instant::now() + timeout;
        loop {
            let logs = self.log_records();
            if pred(&logs) {
                return logs;
            }
            if Instant::now() >= deadline {
                panic!(
                    "timed out after {timeout:?} waiting for log records; received {}:\n{}",
                    logs.len(),
                    dump_logs(&logs)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Polls every 100 ms, up to `timeout`, until `pred(&metrics)` holds; returns them.
    /// Panics on timeout with the names of the metrics received.
    #[allow(dead_code)] // test-support API
    pub async fn wait_for_metrics(
        &self,
        timeout: Duration,
        pred: impl Fn(&[ResourceMetrics]) -> bool,
    ) -> Vec<ResourceMetrics> {
        let deadline = Instant::now() + timeout;
        loop {
            let metrics = self.metrics();
            if pred(&metrics) {
                return metrics;
            }
            if Instant::now() >= deadline {
                panic!(
                    "timed out after {timeout:?} waiting for metrics; received: {:?}",
                    metric_names(&metrics)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Names of all metrics in `metrics` (with repetitions, in order).
#[allow(dead_code)] // test-support API
pub fn metric_names(metrics: &[ResourceMetrics]) -> Vec<String> {
    metrics
        .iter()
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics)
        .map(|m| m.name.clone())
        .collect()
}

fn dump_spans(spans: &[ReceivedSpan]) -> String {
    spans
        .iter()
        .map(|s| {
            format!(
                "  {:?} {:?} {:?} trace={} span={} parent={} status={:?} attrs={:?}",
                s.name,
                s.kind,
                s.transport,
                s.trace_id,
                s.span_id,
                s.parent_span_id.as_deref().unwrap_or("-"),
                s.status_code,
                s.attributes.keys().collect::<Vec<_>>(),
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn dump_logs(logs: &[ReceivedLog]) -> String {
    logs.iter()
        .map(|l| {
            format!(
                "  {} {:?} trace={} attrs={:?}",
                l.severity_text,
                l.body,
                l.trace_id.as_deref().unwrap_or("-"),
                l.attributes,
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

// ---------------------------------------------------------------------------
// Conversion from the wire format

fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Hex of an id; `None` if it is empty or all zeros.
fn opt_id(bytes: &[u8]) -> Option<String> {
    if bytes.iter().all(|b| *b == 0) {
        None
    } else {
        Some(hex(bytes))
    }
}

fn string_attrs(kvs: &[KeyValue]) -> HashMap<String, String> {
    kvs.iter()
        .map(|kv| {
            (
                kv.key.clone(),
                AttrValue::from_proto(kv.value.as_ref()).to_string(),
            )
        })
        .collect()
}

fn resource_attrs(resource: Option<&Resource>) -> HashMap<String, String> {
    resource
        .map(|r| string_attrs(&r.attributes))
        .unwrap_or_default()
}

fn scope_name(scope: Option<&InstrumentationScope>) -> String {
    scope.map(|s| s.name.clone()).unwrap_or_default()
}

fn ingest_traces(store: &Mutex<Store>, request: ExportTraceServiceRequest, transport: Transport) {
    let mut received = Vec::new();
    for rs in request.resource_spans {
        let resource = resource_attrs(rs.resource.as_ref());
        for ss in rs.scope_spans {
            let scope = scope_name(ss.scope.as_ref());
            for span in ss.spans {
                let (status_code, status_message) = match span.status {
                    Some(s) => (StatusCode::from_proto(s.code), s.message),
                    None => (StatusCode::Unset, String::new()),
                };
                received.push(ReceivedSpan {
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: opt_id(&span.parent_span_id),
                    name: span.name,
                    kind: SpanKind::from_proto(span.kind),
                    attributes: span
                        .attributes
                        .iter()
                        .map(|kv| (kv.key.clone(), AttrValue::from_proto(kv.value.as_ref())))
                        .collect(),
                    status_code,
                    status_message,
                    events: span
                        .events
                        .iter()
                        .map(|e| (e.name.clone(), string_attrs(&e.attributes)))
                        .collect(),
                    links: span
                        .links
                        .iter()
                        .map(|l| (hex(&l.trace_id), hex(&l.span_id)))
                        .collect(),
                    resource: resource.clone(),
                    scope_name: scope.clone(),
                    start_time_unix_nano: span.start_time_unix_nano,
                    end_time_unix_nano: span.end_time_unix_nano,
                    transport,
                });
            }
        }
    }
    lock(store).spans.extend(received);
}

fn ingest_logs(store: &Mutex<Store>, request: ExportLogsServiceRequest, transport: Transport) {
    let mut received = Vec::new();
    for rl in request.resource_logs {
        let resource = resource_attrs(rl.resource.as_ref());
        for sl in rl.scope_logs {
            let scope = scope_name(sl.scope.as_ref());
            for log in sl.log_records {
                received.push(ReceivedLog {
                    trace_id: opt_id(&log.trace_id),
                    span_id: opt_id(&log.span_id),
                    severity_text: log.severity_text,
                    severity_number: log.severity_number,
                    body: AttrValue::from_proto(log.body.as_ref()).to_string(),
                    attributes: string_attrs(&log.attributes),
                    attribute_values: log
                        .attributes
                        .iter()
                        .map(|kv| (kv.key.clone(), AttrValue::from_proto(kv.value.as_ref())))
                        .collect(),
                    event_name: log.event_name,
                    time_unix_nano: log.time_unix_nano,
                    observed_time_unix_nano: log.observed_time_unix_nano,
                    resource: resource.clone(),
                    scope_name: scope.clone(),
                    transport,
                });
            }
        }
    }
    lock(store).logs.extend(received);
}

fn ingest_metrics(store: &Mutex<Store>, request: ExportMetricsServiceRequest) {
    lock(store).metrics.extend(request.resource_metrics);
}

// ---------------------------------------------------------------------------
// gRPC

#[derive(Clone)]
struct GrpcSink {
    store: SharedStore,
}

#[tonic::async_trait]
impl TraceService for GrpcSink {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        ingest_traces(&self.store, request.into_inner(), Transport::Grpc);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for GrpcSink {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        ingest_logs(&self.store, request.into_inner(), Transport::Grpc);
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for GrpcSink {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        ingest_metrics(&self.store, request.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

// ---------------------------------------------------------------------------
// OTLP/HTTP (protobuf)

/// Checks the content type and encoding, then decodes the body as `T`.
/// The error is the response to send: a test helper answers rarely and
/// directly, so the size of the error variant does not matter.
#[allow(clippy::result_large_err)]
fn decode_http<T: Message + Default>(req: &HttpRequest, body: &[u8]) -> Result<T, HttpResponse> {
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/x-protobuf") {
        return Err(HttpResponse::UnsupportedMediaType().body(format!(
            "only application/x-protobuf is supported, got {content_type:?}"
        )));
    }
    if let Some(encoding) = req.headers().get("content-encoding") {
        if encoding.as_bytes() != b"identity" {
            return Err(HttpResponse::UnsupportedMediaType()
                .body(format!("content-encoding {encoding:?} is not supported")));
        }
    }
    T::decode(body).map_err(|e| HttpResponse::BadRequest().body(format!("bad protobuf: {e}")))
}

fn protobuf_ok(response: impl Message) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/x-protobuf")
        .body(response.encode_to_vec())
}

async fn http_traces(
    req: HttpRequest,
    body: web::Bytes,
    store: web::Data<Mutex<Store>>,
) -> HttpResponse {
    match decode_http::<ExportTraceServiceRequest>(&req, &body) {
        Ok(request) => {
            ingest_traces(&store, request, Transport::Http);
            protobuf_ok(ExportTraceServiceResponse::default())
        }
        Err(response) => response,
    }
}

async fn http_logs(
    req: HttpRequest,
    body: web::Bytes,
    store: web::Data<Mutex<Store>>,
) -> HttpResponse {
    match decode_http::<ExportLogsServiceRequest>(&req, &body) {
        Ok(request) => {
            ingest_logs(&store, request, Transport::Http);
            protobuf_ok(ExportLogsServiceResponse::default())
        }
        Err(response) => response,
    }
}

async fn http_metrics(
    req: HttpRequest,
    body: web::Bytes,
    store: web::Data<Mutex<Store>>,
) -> HttpResponse {
    match decode_http::<ExportMetricsServiceRequest>(&req, &body) {
        Ok(request) => {
            ingest_metrics(&store, request);
            protobuf_ok(ExportMetricsServiceResponse::default())
        }
        Err(response) => response,
    }
}

// ---------------------------------------------------------------------------
// The receiver thread

async fn serve(
    store: SharedStore,
    ready: oneshot::Sender<(SocketAddr, SocketAddr)>,
    stop: oneshot::Receiver<()>,
) {
    let loopback: SocketAddr = ([127, 0, 0, 1], 0).into();

    let grpc_incoming =
        tonic::transport::server::TcpIncoming::bind(loopback).expect("bind the OTLP gRPC receiver");
    let grpc_addr = grpc_incoming.local_addr().expect("gRPC receiver address");
    let sink = GrpcSink {
        store: store.clone(),
    };
    let grpc_server = tonic::transport::Server::builder()
        .add_service(
            TraceServiceServer::new(sink.clone()).max_decoding_message_size(MAX_GRPC_MESSAGE),
        )
        .add_service(
            LogsServiceServer::new(sink.clone()).max_decoding_message_size(MAX_GRPC_MESSAGE),
        )
        .add_service(MetricsServiceServer::new(sink).max_decoding_message_size(MAX_GRPC_MESSAGE))
        .serve_with_incoming(grpc_incoming);
    let grpc_task = actix_web::rt::spawn(grpc_server);

    let http_listener = std::net::TcpListener::bind(loopback).expect("bind the OTLP/HTTP receiver");
    let http_addr = http_listener.local_addr().expect("HTTP receiver address");
    let http_server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::from(store.clone()))
            .app_data(web::PayloadConfig::new(MAX_HTTP_BODY))
            .route("/v1/traces", web::post().to(http_traces))
            .route("/v1/logs", web::post().to(http_logs))
            .route("/v1/metrics", web::post().to(http_metrics))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(http_listener)
    .expect("listen on the OTLP/HTTP receiver socket")
    .run();
    let http_handle = http_server.handle();
    let http_task = actix_web::rt::spawn(http_server);

    // Skip waiting if `start()` was cancelled; otherwise wait until the
    // `OtlpReceiver` is dropped (a message or a dropped sender both end the wait).
    if ready.send((grpc_addr, http_addr)).is_ok() {
        let _ = stop.await;
    }
    // No graceful gRPC shutdown: it would wait for the exporters' idle HTTP/2
    // connections to close. Whatever is left ends with this thread's runtime.
    grpc_task.abort();
    http_handle.stop(false).await;
    let _ = http_task.await;
}
