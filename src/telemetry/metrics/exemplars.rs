//! Exemplars: the trace of one sample measurement per histogram bucket, so
//! that Grafana goes from a slow bucket to the trace in one click.
//!
//! The OpenTelemetry SDK (0.32) samples no exemplars and the `prometheus`
//! crate writes none, so a histogram is wrapped: each measurement goes to the
//! SDK instrument as before (OTLP push and the classic exposition are
//! unchanged), and the trace and span id of the current span are kept beside
//! it, the last one per bucket and series. The OpenMetrics exposition writes
//! them after their bucket line.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::metrics::{Histogram, SyncInstrument};
use opentelemetry::trace::TraceContextExt;
use opentelemetry::KeyValue;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// One sampled measurement and the trace it happened in.
#[derive(Clone, Debug, PartialEq)]
pub struct Exemplar {
    pub trace_id: String,
    pub span_id: String,
    pub value: f64,
    /// Seconds since the Unix epoch.
    pub timestamp: f64,
}

/// A series: the Prometheus name of the histogram and its labels as the
/// exposition writes them (sanitized names, sorted), without `le` and the
/// `otel_scope_*` labels the exporter adds to every series.
type SeriesKey = (String, Vec<(String, String)>);

/// The last exemplar of every bucket of every wrapped histogram.
#[derive(Default)]
pub struct ExemplarStore {
    series: Mutex<HashMap<SeriesKey, Vec<Option<Exemplar>>>>,
}

impl ExemplarStore {
    /// The exemplar of the bucket whose upper bound is `le` (`+Inf` last),
    /// for the series `name{labels}`; `labels` may hold `le` and scope labels.
    pub fn for_bucket<'a>(
        &self,
        name: &str,
        labels: impl Iterator<Item = (&'a str, &'a str)>,
        bucket: usize,
    ) -> Option<Exemplar> {
        let key = (name.to_string(), series_labels(labels));
        let series = self.series.lock().ok()?;
        series.get(&key)?.get(bucket)?.clone()
    }

    fn put(&self, key: SeriesKey, buckets: usize, bucket: usize, exemplar: Exemplar) {
        if let Ok(mut series) = self.series.lock() {
            let slots = series.entry(key).or_insert_with(|| vec![None; buckets]);
            if let Some(slot) = slots.get_mut(bucket) {
                *slot = Some(exemplar);
            }
        }
    }
}

/// Labels as the Prometheus exporter writes them, minus the ones every
/// series of this process carries.
fn series_labels<'a>(labels: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<(String, String)> {
    let mut labels: Vec<(String, String)> = labels
        .filter(|(name, _)| *name != "le" && !name.starts_with("otel_scope_"))
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    labels.sort();
    labels
}

/// An attribute name as opentelemetry-prometheus writes it as a label name.
fn label_name(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The trace and span of the current span, when it is sampled: an exemplar
/// must point at a trace that was kept.
fn current_trace() -> Option<(String, String)> {
    let context = tracing::Span::current().context();
    let span = context.span();
    let span_context = span.span_context();
    (span_context.is_valid() && span_context.is_sampled()).then(|| {
        (
            span_context.trace_id().to_string(),
            span_context.span_id().to_string(),
        )
    })
}

/// A histogram that records into the SDK and keeps an exemplar per bucket.
struct ExemplarHistogram {
    inner: Histogram<f64>,
    store: Arc<ExemplarStore>,
    /// The Prometheus name of the histogram (with its unit suffix).
    name: String,
    boundaries: Vec<f64>,
}

impl SyncInstrument<f64> for ExemplarHistogram {
    fn measure(&self, value: f64, attributes: &[KeyValue]) {
        self.inner.record(value, attributes);
        let Some((trace_id, span_id)) = current_trace() else {
            return;
        };
        let mut labels: Vec<(String, String)> = attributes
            .iter()
            .map(|kv| (label_name(kv.key.as_str()), kv.value.to_string()))
            .collect();
        labels.sort();
        // `le` buckets are inclusive upper bounds; past the last one, `+Inf`.
        let bucket = self
            .boundaries
            .iter()
            .position(|bound| value <= *bound)
            .unwrap_or(self.boundaries.len());
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        self.store.put(
            (self.name.clone(), labels),
            self.boundaries.len() + 1,
            bucket,
            Exemplar {
                trace_id,
                span_id,
                value,
                timestamp,
            },
        );
    }
}

/// Wraps `inner` (built with `boundaries`) so it keeps exemplars in `store`
/// under the Prometheus name `name`.
pub fn with_exemplars(
    inner: Histogram<f64>,
    store: Arc<ExemplarStore>,
    name: String,
    boundaries: &[f64],
) -> Histogram<f64> {
    Histogram::new(Arc::new(ExemplarHistogram {
        inner,
        store,
        name,
        boundaries: boundaries.to_vec(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_names_are_sanitized_as_the_exporter_does() {
        assert_eq!(
            label_name("http.response.status_code"),
            "http_response_status_code"
        );
        assert_eq!(label_name("status"), "status");
    }

    #[test]
    fn scope_labels_and_le_do_not_tell_series_apart() {
        let labels = series_labels(
            [
                ("status", "succeeded"),
                ("otel_scope_name", "parquetry"),
                ("le", "0.5"),
                ("a", "b"),
            ]
            .into_iter(),
        );
        assert_eq!(
            labels,
            vec![
                ("a".to_string(), "b".to_string()),
                ("status".to_string(), "succeeded".to_string())
            ]
        );
    }
}
