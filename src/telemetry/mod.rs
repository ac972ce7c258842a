//! Traces, logs and metrics.
//!
//! One subscriber for the process: JSON log lines on stdout that carry the
//! trace and span ids, an OpenTelemetry layer for spans and a bridge that
//! sends the same log records over OTLP. Exporters are chosen with the
//! standard `OTEL_*` environment variables (see `exporters`).

mod exporters;
pub mod http_server;
mod json_log;
mod log_records;
pub mod metrics;

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

pub use exporters::{ExporterChoice, TelemetryGuard};
pub use json_log::JsonLogLayer;

/// The exporters' own crates: telemetry must not report on itself.
const EXPORTER_TARGETS: [&str; 7] = [
    "opentelemetry",
    "opentelemetry_sdk",
    "opentelemetry_otlp",
    "tonic",
    "h2",
    "hyper",
    "reqwest",
];

fn without_exporter_targets() -> Targets {
    EXPORTER_TARGETS.iter().fold(
        Targets::new().with_default(tracing::Level::TRACE),
        |targets, name| targets.with_target(*name, tracing::level_filters::LevelFilter::OFF),
    )
}

/// The default log filter when `RUST_LOG` is not set.
const DEFAULT_FILTER: &str = "info,sqlx=warn,h2=warn,hyper=warn,tonic=warn,reqwest=warn";

/// Off whatever `RUST_LOG` says: tracing-actix-web's own "Error encountered
/// while processing the incoming HTTP request" events repeat what the access
/// line and the request span say, with the error's `Debug`, which can hold
/// the user's values.
const ALWAYS_OFF: &str = "tracing_actix_web=off";

/// Installs the process-wide subscriber, propagator and OpenTelemetry
/// providers. Must be called inside a tokio runtime: the gRPC exporters need
/// a reactor when they are built. Logs go to `log_writer` (stdout in the
/// binary, a sink in tests).
pub fn init<W>(log_writer: W) -> anyhow::Result<TelemetryGuard>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    // The request span reads the *global* propagator: without this, incoming
    // `traceparent` headers would be ignored.
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());

    let choice = ExporterChoice::from_env();
    let guard = exporters::build_providers(&choice)?;

    let env_filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER))
        .add_directive(ALWAYS_OFF.parse()?);
    let otel_traces = guard.tracer().map(|tracer| {
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_error_events_to_status(true)
            // Spans carry their semantic attributes only: no `busy_ns`,
            // `idle_ns`, `thread.*`, `code.*` or `target` beside them.
            .with_tracked_inactivity(false)
            .with_threads(false)
            .with_location(false)
            .with_target(false)
            // The access log line is a log record, not an event of the
            // request span.
            .with_filter(without_exporter_targets().with_target(
                http_server::ACCESS_LOG_TARGET,
                tracing::level_filters::LevelFilter::OFF,
            ))
    });
    let otel_logs = guard.logger_provider().map(|provider| {
        opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge::new(provider)
            .with_filter(without_exporter_targets())
    });
    let subscriber = tracing_subscriber::registry()
        .with(env_filter)
        .with(otel_traces)
        .with(JsonLogLayer::new(log_writer))
        .with(otel_logs);
    tracing::subscriber::set_global_default(subscriber)?;
    choice.announce();
    Ok(guard)
}

/// The W3C trace context of `span`, as the `traceparent` and `tracestate`
/// strings stored with a job; `None` when tracing is off.
pub fn trace_context_of(span: &Span) -> Option<(String, Option<String>)> {
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier: HashMap<String, String> = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    let traceparent = carrier.remove("traceparent")?;
    let tracestate = carrier.remove("tracestate").filter(|s| !s.is_empty());
    Some((traceparent, tracestate))
}

/// The trace id of `span` in lowercase hex; `None` when tracing is off.
pub fn trace_id_of(span: &Span) -> Option<String> {
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}

/// The context a `traceparent` (and `tracestate`) describe.
pub fn context_from_traceparent(
    traceparent: &str,
    tracestate: Option<&str>,
) -> Option<opentelemetry::Context> {
    let mut carrier: HashMap<String, String> = HashMap::new();
    carrier.insert("traceparent".into(), traceparent.into());
    if let Some(state) = tracestate {
        carrier.insert("tracestate".into(), state.into());
    }
    let context = TraceContextPropagator::new().extract(&carrier);
    context.span().span_context().is_valid().then_some(context)
}

/// Runs a blocking closure on tokio's blocking pool inside the caller's span
/// (spawned tasks do not carry the current span by themselves).
pub async fn spawn_blocking_in_span<F, R>(work: F) -> Result<R, tokio::task::JoinError>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let span = Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(work)).await
}
