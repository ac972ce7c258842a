//! Which exporters run, from the standard OpenTelemetry environment
//! variables, and the providers built from that choice.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{LogExporter, MetricExporter, SpanExporter};
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::{MeterProviderBuilder, PeriodicReader};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::Resource;

use super::log_records::EventNames;

/// The OTLP transport (`OTEL_EXPORTER_OTLP_PROTOCOL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    Grpc,
    HttpProtobuf,
}

/// Where one signal goes (`OTEL_TRACES_EXPORTER` and friends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalExporter {
    Otlp(OtlpProtocol),
    Console,
    None,
}

impl SignalExporter {
    fn describe(self) -> &'static str {
        match self {
            SignalExporter::Otlp(OtlpProtocol::Grpc) => "otlp (grpc)",
            SignalExporter::Otlp(OtlpProtocol::HttpProtobuf) => "otlp (http/protobuf)",
            SignalExporter::Console => "console",
            SignalExporter::None => "none",
        }
    }
}

/// The exporters of the three signals.
#[derive(Debug, Clone)]
pub struct ExporterChoice {
    /// `OTEL_SDK_DISABLED=true`: no spans, no OTLP logs or metrics push.
    pub sdk_disabled: bool,
    pub traces: SignalExporter,
    pub metrics: SignalExporter,
    pub logs: SignalExporter,
    /// Signals that asked for OTLP but have no endpoint configured.
    missing_endpoint: Vec<&'static str>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

impl ExporterChoice {
    pub fn from_env() -> ExporterChoice {
        let sdk_disabled = env("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let mut missing_endpoint = Vec::new();
        let mut pick = |signal: &'static str| -> SignalExporter {
            if sdk_disabled {
                return SignalExporter::None;
            }
            let upper = signal.to_ascii_uppercase();
            let kind = env(&format!("OTEL_{upper}_EXPORTER")).unwrap_or_else(|| "otlp".into());
            match kind.as_str() {
                "none" => SignalExporter::None,
                "console" => SignalExporter::Console,
                other => {
                    if other != "otlp" {
                        eprintln!("parquetry: unknown OTEL_{upper}_EXPORTER {other:?}, using otlp");
                    }
                    let endpoint = env(&format!("OTEL_EXPORTER_OTLP_{upper}_ENDPOINT"))
                        .or_else(|| env("OTEL_EXPORTER_OTLP_ENDPOINT"));
                    if endpoint.is_none() {
                        missing_endpoint.push(signal);
                        return SignalExporter::None;
                    }
                    let protocol = env(&format!("OTEL_EXPORTER_OTLP_{upper}_PROTOCOL"))
                        .or_else(|| env("OTEL_EXPORTER_OTLP_PROTOCOL"))
                        .unwrap_or_else(|| "grpc".into());
                    SignalExporter::Otlp(match protocol.as_str() {
                        "http/protobuf" => OtlpProtocol::HttpProtobuf,
                        "grpc" => OtlpProtocol::Grpc,
                        other => {
                            eprintln!("parquetry: unsupported OTLP protocol {other:?}, using grpc");
                            OtlpProtocol::Grpc
                        }
                    })
                }
            }
        };
        let traces = pick("traces");
        let metrics = pick("metrics");
        let logs = pick("logs");
        ExporterChoice {
            sdk_disabled,
            traces,
            metrics,
            logs,
            missing_endpoint,
        }
    }

    /// Says once, at start-up, where telemetry goes.
    pub fn announce(&self) {
        tracing::info!(
            traces = self.traces.describe(),
            metrics = self.metrics.describe(),
            logs = self.logs.describe(),
            sdk_disabled = self.sdk_disabled,
            "telemetry exporters"
        );
        if !self.missing_endpoint.is_empty() {
            tracing::warn!(
                signals = self.missing_endpoint.join(","),
                "no OTLP endpoint configured (OTEL_EXPORTER_OTLP_ENDPOINT): these signals are not exported"
            );
        }
    }
}

/// The resource of every signal: `OTEL_SERVICE_NAME` and
/// `OTEL_RESOURCE_ATTRIBUTES` are read by the SDK's detectors; the service
/// name defaults to `parquetry`.
pub fn resource() -> Resource {
    // One id per process: with API and workers apart (or several replicas), a
    // span, a metric and a log line say which process made them. What
    // `OTEL_RESOURCE_ATTRIBUTES` sets wins (attributes added here would
    // override the detectors').
    let given = env("OTEL_RESOURCE_ATTRIBUTES").unwrap_or_default();
    let mut ours = Vec::new();
    if !given.contains("service.version=") {
        ours.push(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ));
    }
    if !given.contains("service.instance.id=") {
        ours.push(opentelemetry::KeyValue::new(
            "service.instance.id",
            instance_id(),
        ));
    }
    let builder = Resource::builder().with_attributes(ours);
    if env("OTEL_SERVICE_NAME").is_some()
        || env("OTEL_RESOURCE_ATTRIBUTES").is_some_and(|a| a.contains("service.name="))
    {
        builder.build()
    } else {
        builder.with_service_name("parquetry").build()
    }
}

/// This process's `service.instance.id`: a UUID drawn once per process.
fn instance_id() -> String {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| uuid::Uuid::new_v4().to_string()).clone()
}

/// The trace and log providers; flush them with `shutdown` before exit.
pub struct TelemetryGuard {
    tracer_provider: Option<SdkTracerProvider>,
    logger_provider: Option<SdkLoggerProvider>,
}

pub(super) fn build_providers(choice: &ExporterChoice) -> anyhow::Result<TelemetryGuard> {
    // OTLP/HTTP's reqwest client needs the TLS provider (crate::tls).
    crate::tls::install_crypto_provider();
    let tracer_provider = match choice.traces {
        SignalExporter::None if choice.sdk_disabled => None,
        // Not exporting must not mean not tracing: without a provider spans
        // get no ids, so responses lose `traceparent`, jobs their `trace_id`
        // and log lines theirs. Only the export is skipped.
        SignalExporter::None => Some(
            SdkTracerProvider::builder()
                .with_resource(resource())
                .build(),
        ),
        SignalExporter::Console => Some(
            SdkTracerProvider::builder()
                .with_resource(resource())
                .with_simple_exporter(opentelemetry_stdout::SpanExporter::default())
                .build(),
        ),
        SignalExporter::Otlp(protocol) => {
            let exporter = match protocol {
                OtlpProtocol::Grpc => SpanExporter::builder().with_tonic().build()?,
                OtlpProtocol::HttpProtobuf => SpanExporter::builder().with_http().build()?,
            };
            Some(
                SdkTracerProvider::builder()
                    .with_resource(resource())
                    .with_batch_exporter(exporter)
                    .build(),
            )
        }
    };
    if let Some(provider) = &tracer_provider {
        opentelemetry::global::set_tracer_provider(provider.clone());
    }
    let logger_provider = match choice.logs {
        SignalExporter::None => None,
        SignalExporter::Console => Some(
            SdkLoggerProvider::builder()
                .with_resource(resource())
                .with_log_processor(EventNames)
                .with_simple_exporter(opentelemetry_stdout::LogExporter::default())
                .build(),
        ),
        SignalExporter::Otlp(protocol) => {
            let exporter = match protocol {
                OtlpProtocol::Grpc => LogExporter::builder().with_tonic().build()?,
                OtlpProtocol::HttpProtobuf => LogExporter::builder().with_http().build()?,
            };
            Some(
                SdkLoggerProvider::builder()
                    .with_resource(resource())
                    // Before the exporter: processors see a record in order.
                    .with_log_processor(EventNames)
                    .with_batch_exporter(exporter)
                    .build(),
            )
        }
    };
    Ok(TelemetryGuard {
        tracer_provider,
        logger_provider,
    })
}

/// Adds a periodic reader pushing metrics to the chosen exporter, if any.
pub(super) fn with_metric_push(
    builder: MeterProviderBuilder,
    choice: &ExporterChoice,
) -> anyhow::Result<MeterProviderBuilder> {
    crate::tls::install_crypto_provider();
    Ok(match choice.metrics {
        SignalExporter::None => builder,
        SignalExporter::Console => builder.with_reader(
            PeriodicReader::builder(opentelemetry_stdout::MetricExporter::default()).build(),
        ),
        SignalExporter::Otlp(OtlpProtocol::Grpc) => builder.with_reader(
            PeriodicReader::builder(MetricExporter::builder().with_tonic().build()?).build(),
        ),
        SignalExporter::Otlp(OtlpProtocol::HttpProtobuf) => builder.with_reader(
            PeriodicReader::builder(MetricExporter::builder().with_http().build()?).build(),
        ),
    })
}

impl TelemetryGuard {
    pub(super) fn tracer(&self) -> Option<SdkTracer> {
        self.tracer_provider
            .as_ref()
            .map(|provider| provider.tracer("parquetry"))
    }

    pub(super) fn logger_provider(&self) -> Option<&SdkLoggerProvider> {
        self.logger_provider.as_ref()
    }

    /// Flushes every buffered span and log record. The providers' shutdown
    /// blocks, and with the gRPC exporter it must not run on an async worker
    /// thread, or it times out and loses what was buffered.
    pub async fn shutdown(self) {
        let outcome = tokio::task::spawn_blocking(move || {
            if let Some(provider) = self.tracer_provider {
                let _ = provider.force_flush();
                if let Err(error) = provider.shutdown() {
                    eprintln!("parquetry: flushing spans failed: {error}");
                }
            }
            if let Some(provider) = self.logger_provider {
                let _ = provider.force_flush();
                if let Err(error) = provider.shutdown() {
                    eprintln!("parquetry: flushing logs failed: {error}");
                }
            }
        })
        .await;
        if let Err(error) = outcome {
            eprintln!("parquetry: telemetry shutdown panicked: {error}");
        }
    }
}
