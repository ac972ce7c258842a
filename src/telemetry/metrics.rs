//! The catalogue of metrics: every name in one place, beside its description.
//! One instrumentation API (OpenTelemetry), two ways out: OTLP push when
//! configured, and the Prometheus registry behind `GET /metrics`.

use opentelemetry::metrics::{Counter, Gauge, Histogram, Meter, MeterProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::SdkMeterProvider;

use super::exporters::{resource, with_metric_push, ExporterChoice};

/// `(name, unit, description)` of every instrument.
pub mod names {
    pub const HTTP_SERVER_REQUEST_DURATION: (&str, &str, &str) = (
        "http.server.request.duration",
        "s",
        "Duration of HTTP server requests",
    );
    pub const JOBS_CREATED: (&str, &str, &str) =
        ("parquetry.jobs.created", "{job}", "Jobs created by uploads");
    pub const JOBS_FINISHED: (&str, &str, &str) = (
        "parquetry.jobs.finished",
        "{job}",
        "Jobs finished, by final status and error code",
    );
    pub const JOB_DURATION: (&str, &str, &str) = (
        "parquetry.job.duration",
        "s",
        "Time from a worker claiming a job to its end",
    );
    pub const JOB_QUEUE_WAIT: (&str, &str, &str) = (
        "parquetry.job.queue_wait",
        "s",
        "Time a job waited in the queue before a worker claimed it",
    );
    pub const CONVERSION_ROWS: (&str, &str, &str) = (
        "parquetry.conversion.rows",
        "{row}",
        "Rows converted to Parquet",
    );
    pub const CONVERSION_INPUT_BYTES: (&str, &str, &str) = (
        "parquetry.conversion.input",
        "By",
        "CSV bytes read by successful conversions",
    );
    pub const CONVERSION_OUTPUT_BYTES: (&str, &str, &str) = (
        "parquetry.conversion.output",
        "By",
        "Parquet bytes written by successful conversions",
    );
    pub const UPLOAD_BYTES: (&str, &str, &str) =
        ("parquetry.upload", "By", "Bytes received in uploads");
    pub const JOBS_QUEUED: (&str, &str, &str) = (
        "parquetry.jobs.queued",
        "{job}",
        "Jobs waiting in the queue now (read from the database)",
    );
    pub const JOBS_RUNNING: (&str, &str, &str) = (
        "parquetry.jobs.running",
        "{job}",
        "Jobs running now, in every process (read from the database)",
    );
}

/// Buckets for durations in seconds: requests are milliseconds, conversions
/// can take minutes.
const DURATION_BUCKETS: [f64; 16] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0,
];

/// The instruments, created once per application.
#[derive(Clone)]
pub struct Metrics {
    pub http_server_request_duration: Histogram<f64>,
    pub jobs_created: Counter<u64>,
    pub jobs_finished: Counter<u64>,
    pub job_duration: Histogram<f64>,
    pub job_queue_wait: Histogram<f64>,
    pub conversion_rows: Counter<u64>,
    pub conversion_input_bytes: Counter<u64>,
    pub conversion_output_bytes: Counter<u64>,
    pub upload_bytes: Counter<u64>,
    pub jobs_queued: Gauge<i64>,
    pub jobs_running: Gauge<i64>,
}

fn counter(
    meter: &Meter,
    (name, unit, description): (&'static str, &'static str, &'static str),
) -> Counter<u64> {
    meter
        .u64_counter(name)
        .with_unit(unit)
        .with_description(description)
        .build()
}

fn histogram(
    meter: &Meter,
    (name, unit, description): (&'static str, &'static str, &'static str),
) -> Histogram<f64> {
    meter
        .f64_histogram(name)
        .with_unit(unit)
        .with_description(description)
        .with_boundaries(DURATION_BUCKETS.to_vec())
        .build()
}

fn gauge(
    meter: &Meter,
    (name, unit, description): (&'static str, &'static str, &'static str),
) -> Gauge<i64> {
    meter
        .i64_gauge(name)
        .with_unit(unit)
        .with_description(description)
        .build()
}

impl Metrics {
    pub fn new(meter: &Meter) -> Metrics {
        Metrics {
            http_server_request_duration: histogram(meter, names::HTTP_SERVER_REQUEST_DURATION),
            jobs_created: counter(meter, names::JOBS_CREATED),
            jobs_finished: counter(meter, names::JOBS_FINISHED),
            job_duration: histogram(meter, names::JOB_DURATION),
            job_queue_wait: histogram(meter, names::JOB_QUEUE_WAIT),
            conversion_rows: counter(meter, names::CONVERSION_ROWS),
            conversion_input_bytes: counter(meter, names::CONVERSION_INPUT_BYTES),
            conversion_output_bytes: counter(meter, names::CONVERSION_OUTPUT_BYTES),
            upload_bytes: counter(meter, names::UPLOAD_BYTES),
            jobs_queued: gauge(meter, names::JOBS_QUEUED),
            jobs_running: gauge(meter, names::JOBS_RUNNING),
        }
    }

    /// Counts a job reaching a final status.
    pub fn job_finished(&self, status: &'static str, error_code: Option<&str>) {
        let mut attributes = vec![KeyValue::new("status", status)];
        if let Some(code) = error_code {
            attributes.push(KeyValue::new("error.code", code.to_string()));
        }
        self.jobs_finished.add(1, &attributes);
    }
}

/// A meter provider for one application, with its Prometheus registry.
pub struct MetricsPipeline {
    pub provider: SdkMeterProvider,
    pub registry: prometheus::Registry,
    pub metrics: Metrics,
}

impl MetricsPipeline {
    /// Prometheus always; OTLP or console push as `OTEL_METRICS_EXPORTER` says.
    /// Must be called inside a tokio runtime (the gRPC exporter needs it).
    pub fn build(choice: &ExporterChoice) -> anyhow::Result<MetricsPipeline> {
        let registry = prometheus::Registry::new();
        let prometheus_reader = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .build()?;
        let builder = SdkMeterProvider::builder()
            .with_resource(resource())
            .with_reader(prometheus_reader);
        let provider = with_metric_push(builder, choice)?.build();
        let metrics = Metrics::new(&provider.meter("parquetry"));
        Ok(MetricsPipeline {
            provider,
            registry,
            metrics,
        })
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        use prometheus::Encoder;
        let mut buffer = Vec::new();
        let encoder = prometheus::TextEncoder::new();
        if let Err(error) = encoder.encode(&self.registry.gather(), &mut buffer) {
            tracing::error!(%error, "encoding metrics failed");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }

    /// Pushes the last metrics and stops the readers, off the async threads.
    pub async fn shutdown(&self) {
        let provider = self.provider.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let _ = provider.force_flush();
            let _ = provider.shutdown();
        })
        .await;
    }
}
