//! The catalogue of metrics: every name in one place, beside its description.
//! One instrumentation API (OpenTelemetry), two ways out: OTLP push when
//! configured, and the Prometheus registry behind `GET /metrics` (the API's,
//! and `parquetry worker --metrics-bind`'s), in the classic text format or
//! in OpenMetrics with exemplars, as the scraper asks.

mod exemplars;
mod openmetrics;
mod queue;

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::metrics::{Counter, Gauge, Histogram, Meter, MeterProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::{MeterProviderBuilder, SdkMeterProvider};

use super::exporters::{resource, with_metric_push, ExporterChoice};
use exemplars::{with_exemplars, ExemplarStore};
pub use queue::QueueFigures;

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
    /// How often uploads get a head start, and how often it is lost: a
    /// form's fields after its file that change the options, or uploads
    /// that fail.
    pub const HEAD_STARTS: (&str, &str, &str) = (
        "parquetry.head_starts",
        "{conversion}",
        "Conversions begun while their upload arrived, by outcome: handed_over \
         to the job once stored, or abandoned",
    );
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
    /// Tells a slow job from a big one: bytes per second do not grow with
    /// the file, and the size class shows whether small files pay a fixed
    /// cost. From claim to result stored, as `parquetry.job.duration`.
    pub const CONVERSION_THROUGHPUT: (&str, &str, &str) = (
        "parquetry.conversion.throughput",
        "By/s",
        "Input bytes per second of successful jobs, from claim to result stored, by input size class",
    );
}

/// The attribute that puts a job in its input size class.
pub const INPUT_SIZE_CLASS: &str = "parquetry.input.size_class";

/// Buckets for durations in seconds: requests are milliseconds, conversions
/// can take minutes.
const DURATION_BUCKETS: [f64; 16] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0,
];

/// Buckets for throughput in bytes per second, 256 KiB/s to 2 GiB/s by
/// powers of two: a conversion runs at tens to hundreds of MiB/s.
const THROUGHPUT_BUCKETS: [f64; 14] = [
    262_144.0,
    524_288.0,
    1_048_576.0,
    2_097_152.0,
    4_194_304.0,
    8_388_608.0,
    16_777_216.0,
    33_554_432.0,
    67_108_864.0,
    134_217_728.0,
    268_435_456.0,
    536_870_912.0,
    1_073_741_824.0,
    2_147_483_648.0,
];

/// The size class of an input of `bytes`: few values, so the attribute
/// stays cheap in every series it multiplies.
pub fn input_size_class(bytes: u64) -> &'static str {
    const MIB: u64 = 1024 * 1024;
    match bytes {
        b if b < MIB => "<1MiB",
        b if b < 16 * MIB => "1MiB-16MiB",
        b if b < 256 * MIB => "16MiB-256MiB",
        b if b < 4096 * MIB => "256MiB-4GiB",
        _ => ">=4GiB",
    }
}

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
    pub head_starts: Counter<u64>,
    /// Records the figure; reported only by the queue gauges' exporter.
    pub jobs_queued: Gauge<i64>,
    /// Records the figure; reported only by the queue gauges' exporter.
    pub jobs_running: Gauge<i64>,
    pub conversion_throughput: Histogram<f64>,
    /// The queue figures and whether this process reports them.
    pub queue: Arc<QueueFigures>,
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

/// A histogram that keeps exemplars (see `exemplars`).
fn histogram(
    meter: &Meter,
    store: &Arc<ExemplarStore>,
    (name, unit, description): (&'static str, &'static str, &'static str),
    boundaries: &[f64],
) -> Histogram<f64> {
    let inner = meter
        .f64_histogram(name)
        .with_unit(unit)
        .with_description(description)
        .with_boundaries(boundaries.to_vec())
        .build();
    with_exemplars(
        inner,
        store.clone(),
        prometheus_name(name, unit),
        boundaries,
    )
}

/// The name opentelemetry-prometheus gives an instrument: dots to
/// underscores, then the unit as a suffix (only the units used here).
fn prometheus_name(name: &str, unit: &str) -> String {
    let base: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    match unit {
        "s" => format!("{base}_seconds"),
        "By" => format!("{base}_bytes"),
        "By/s" => format!("{base}_bytes_per_second"),
        _ => base,
    }
}

impl Metrics {
    /// The instruments on `meter`; histograms keep their exemplars in `store`.
    fn new(meter: &Meter, store: &Arc<ExemplarStore>) -> Metrics {
        let durations = |spec| histogram(meter, store, spec, &DURATION_BUCKETS);
        let queue = Arc::new(QueueFigures::default());
        let (jobs_queued, jobs_running) =
            queue::register(meter, &queue, names::JOBS_QUEUED, names::JOBS_RUNNING);
        Metrics {
            http_server_request_duration: durations(names::HTTP_SERVER_REQUEST_DURATION),
            jobs_created: counter(meter, names::JOBS_CREATED),
            jobs_finished: counter(meter, names::JOBS_FINISHED),
            job_duration: durations(names::JOB_DURATION),
            job_queue_wait: durations(names::JOB_QUEUE_WAIT),
            conversion_rows: counter(meter, names::CONVERSION_ROWS),
            conversion_input_bytes: counter(meter, names::CONVERSION_INPUT_BYTES),
            conversion_output_bytes: counter(meter, names::CONVERSION_OUTPUT_BYTES),
            upload_bytes: counter(meter, names::UPLOAD_BYTES),
            head_starts: counter(meter, names::HEAD_STARTS),
            jobs_queued,
            jobs_running,
            conversion_throughput: histogram(
                meter,
                store,
                names::CONVERSION_THROUGHPUT,
                &THROUGHPUT_BUCKETS,
            ),
            queue,
        }
    }

    /// Records the end of a job attempt of `input_bytes` that took `elapsed`
    /// from claim to end: its duration by status and size class and, when it
    /// succeeded, its throughput. Call it inside the job's span: the
    /// histograms keep the current trace as their exemplar.
    pub fn job_ended(&self, status: &'static str, input_bytes: u64, elapsed: Duration) {
        let size_class = KeyValue::new(INPUT_SIZE_CLASS, input_size_class(input_bytes));
        let seconds = elapsed.as_secs_f64();
        self.job_duration.record(
            seconds,
            &[KeyValue::new("status", status), size_class.clone()],
        );
        if status == "succeeded" && seconds > 0.0 {
            self.conversion_throughput
                .record(input_bytes as f64 / seconds, &[size_class]);
        }
    }

    /// Counts a head start's end: `handed_over` to its job, or `abandoned`.
    pub fn head_start_ended(&self, outcome: &'static str) {
        self.head_starts
            .add(1, &[KeyValue::new("outcome", outcome)]);
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
    exemplars: Arc<ExemplarStore>,
}

/// A `/metrics` answer: its Content-Type and body.
pub struct Exposition {
    pub content_type: &'static str,
    pub body: String,
}

/// The Content-Type of the classic text exposition.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

impl MetricsPipeline {
    /// Prometheus always; OTLP or console push as `OTEL_METRICS_EXPORTER` says.
    /// Must be called inside a tokio runtime (the gRPC exporter needs it).
    pub fn build(choice: &ExporterChoice) -> anyhow::Result<MetricsPipeline> {
        MetricsPipeline::assemble(|builder| with_metric_push(builder, choice))
    }

    fn assemble(
        push: impl FnOnce(MeterProviderBuilder) -> anyhow::Result<MeterProviderBuilder>,
    ) -> anyhow::Result<MetricsPipeline> {
        let registry = prometheus::Registry::new();
        let prometheus_reader = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .build()?;
        let builder = SdkMeterProvider::builder()
            .with_resource(resource())
            .with_reader(prometheus_reader);
        let provider = push(builder)?.build();
        let exemplars = Arc::new(ExemplarStore::default());
        let metrics = Metrics::new(&provider.meter("parquetry"), &exemplars);
        Ok(MetricsPipeline {
            provider,
            registry,
            metrics,
            exemplars,
        })
    }

    /// The exposition a scraper asks for with its `Accept` header:
    /// OpenMetrics, with exemplars, when it prefers it (Prometheus does);
    /// else the classic text format, which has no place for exemplars.
    pub fn exposition(&self, accept: Option<&str>) -> Exposition {
        if accept.is_some_and(openmetrics::prefers_openmetrics) {
            Exposition {
                content_type: openmetrics::CONTENT_TYPE,
                body: openmetrics::encode(&self.registry.gather(), &self.exemplars),
            }
        } else {
            Exposition {
                content_type: TEXT_CONTENT_TYPE,
                body: self.render(),
            }
        }
    }

    /// The classic Prometheus text exposition of every metric.
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

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt;

    fn pipeline() -> MetricsPipeline {
        MetricsPipeline::assemble(Ok).expect("a metrics pipeline")
    }

    #[test]
    fn wrapped_histograms_are_named_as_the_exporter_names_them() {
        let pipeline = pipeline();
        let metrics = &pipeline.metrics;
        metrics.http_server_request_duration.record(0.1, &[]);
        metrics.job_queue_wait.record(0.1, &[]);
        metrics.job_ended("succeeded", 5 << 20, Duration::from_millis(100));
        let text = pipeline.render();
        for (name, unit, _) in [
            names::HTTP_SERVER_REQUEST_DURATION,
            names::JOB_QUEUE_WAIT,
            names::JOB_DURATION,
            names::CONVERSION_THROUGHPUT,
        ] {
            let bucket = format!("{}_bucket{{", prometheus_name(name, unit));
            assert!(text.contains(&bucket), "{bucket} missing from\n{text}");
        }
        assert!(
            text.contains("parquetry_input_size_class=\"1MiB-16MiB\""),
            "{text}"
        );
    }

    #[test]
    fn a_histogram_recorded_in_a_sampled_span_carries_its_trace_as_exemplar() {
        let pipeline = pipeline();
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let tracer = provider.tracer("test");
        let subscriber =
            tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer));
        let trace_id = tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("process job");
            let _entered = span.enter();
            pipeline
                .metrics
                .job_ended("succeeded", 1 << 30, Duration::from_secs(4));
            crate::telemetry::trace_id_of(&span).expect("a sampled span")
        });
        // Outside any span: counted, but no exemplar replaces the first.
        pipeline
            .metrics
            .job_ended("succeeded", 1 << 30, Duration::from_secs(4));

        let open = pipeline.exposition(Some("application/openmetrics-text; version=1.0.0"));
        assert_eq!(open.content_type, openmetrics::CONTENT_TYPE);
        assert!(open.body.ends_with("# EOF\n"));
        let line = open
            .body
            .lines()
            .find(|l| {
                l.starts_with("parquetry_conversion_throughput_bytes_per_second_bucket{")
                    && l.contains("le=\"268435456.0\"")
            })
            .expect("the 256 MiB/s bucket");
        assert!(
            line.contains(&format!("# {{trace_id=\"{trace_id}\",span_id=\"")),
            "{line}"
        );
        assert!(line.contains("} 268435456 "), "{line}");
        // A counter family is named without `_total`, its sample with it.
        pipeline.metrics.jobs_created.add(1, &[]);
        let open = pipeline.exposition(Some("application/openmetrics-text"));
        assert!(open
            .body
            .contains("# TYPE parquetry_jobs_created counter\n"));
        assert!(open.body.contains("\nparquetry_jobs_created_total{"));

        let classic = pipeline.exposition(Some("text/plain;version=0.0.4"));
        assert_eq!(classic.content_type, TEXT_CONTENT_TYPE);
        assert!(!classic.body.contains("trace_id"));
    }

    #[test]
    fn queue_gauges_are_reported_only_by_the_exporter() {
        let pipeline = pipeline();
        pipeline.metrics.jobs_queued.record(7, &[]);
        pipeline.metrics.jobs_running.record(2, &[]);
        assert!(!pipeline.render().contains("parquetry_jobs_queued"));

        pipeline.metrics.queue.set_exporter(true);
        let text = pipeline.render();
        assert!(text.contains("parquetry_jobs_queued{"), "{text}");
        assert!(text.contains("parquetry_jobs_running{"), "{text}");

        pipeline.metrics.queue.set_exporter(false);
        assert!(!pipeline.render().contains("parquetry_jobs_queued"));
    }

    #[test]
    fn size_classes_have_fixed_edges() {
        assert_eq!(input_size_class(0), "<1MiB");
        assert_eq!(input_size_class(1 << 20), "1MiB-16MiB");
        assert_eq!(input_size_class(300 << 20), "256MiB-4GiB");
        assert_eq!(input_size_class(5 << 30), ">=4GiB");
    }
}
