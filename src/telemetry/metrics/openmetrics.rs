//! The OpenMetrics 1.0 text exposition of the registry, with exemplars on
//! histogram buckets. Prometheus asks for it first (`Accept:
//! application/openmetrics-text`) and stores exemplars only from it.
//!
//! The families are the ones the classic exposition writes, with the same
//! sample names and labels: a dashboard reads the same series whichever
//! format a scraper chose. The differences are OpenMetrics' own: a counter
//! family is named without `_total` (its sample keeps it), `le` values are
//! floats (`1.0`; Prometheus 3 normalises the classic `1` to that too), and
//! the text ends with `# EOF`.

use std::fmt::Write as _;

use prometheus::proto::{LabelPair, Metric, MetricFamily, MetricType};

use super::exemplars::{Exemplar, ExemplarStore};

/// The Content-Type of this exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Whether an `Accept` header prefers OpenMetrics to the classic text format
/// (by q-value; a tie goes to OpenMetrics, as Prometheus lists it first).
pub fn prefers_openmetrics(accept: &str) -> bool {
    let mut openmetrics: Option<f32> = None;
    let mut text: Option<f32> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let slot = match media.as_str() {
            "application/openmetrics-text" => &mut openmetrics,
            "text/plain" | "*/*" => &mut text,
            _ => continue,
        };
        *slot = Some(slot.map_or(q, |seen| seen.max(q)));
    }
    match openmetrics {
        Some(q) if q > 0.0 => q >= text.unwrap_or(0.0),
        _ => false,
    }
}

/// Encodes `families` as OpenMetrics text, exemplars from `exemplars`.
pub fn encode(families: &[MetricFamily], exemplars: &ExemplarStore) -> String {
    let mut out = String::new();
    for family in families {
        let name = family.name();
        let (family_name, kind) = match family.get_field_type() {
            MetricType::COUNTER => (name.strip_suffix("_total").unwrap_or(name), "counter"),
            MetricType::GAUGE => (name, "gauge"),
            MetricType::HISTOGRAM => (name, "histogram"),
            MetricType::SUMMARY => (name, "summary"),
            MetricType::UNTYPED => (name, "unknown"),
        };
        let _ = writeln!(out, "# TYPE {family_name} {kind}");
        if !family.help().is_empty() {
            let _ = writeln!(out, "# HELP {family_name} {}", escape(family.help()));
        }
        for metric in family.get_metric() {
            match family.get_field_type() {
                MetricType::COUNTER => {
                    let sample = format!("{family_name}_total");
                    sample_line(&mut out, &sample, metric.get_label(), None);
                    value_end(&mut out, metric.get_counter().get_value(), None);
                }
                MetricType::GAUGE => {
                    sample_line(&mut out, name, metric.get_label(), None);
                    value_end(&mut out, metric.get_gauge().get_value(), None);
                }
                MetricType::UNTYPED => {
                    sample_line(&mut out, name, metric.get_label(), None);
                    #[allow(deprecated)]
                    value_end(&mut out, metric.get_untyped().get_value(), None);
                }
                MetricType::HISTOGRAM => histogram(&mut out, name, metric, exemplars),
                MetricType::SUMMARY => summary(&mut out, name, metric),
            }
        }
    }
    out.push_str("# EOF\n");
    out
}

fn histogram(out: &mut String, name: &str, metric: &Metric, exemplars: &ExemplarStore) {
    let histogram = metric.get_histogram();
    let labels = metric.get_label();
    let series = || labels.iter().map(|l| (l.name(), l.value()));
    let bucket_name = format!("{name}_bucket");
    let buckets = histogram.get_bucket();
    let mut inf_seen = false;
    for (index, bucket) in buckets.iter().enumerate() {
        let bound = bucket.upper_bound();
        inf_seen |= bound == f64::INFINITY;
        let le = float(bound);
        sample_line(out, &bucket_name, labels, Some(("le", &le)));
        let exemplar = exemplars.for_bucket(name, series(), index);
        value_end(out, bucket.cumulative_count() as f64, exemplar.as_ref());
    }
    if !inf_seen {
        sample_line(out, &bucket_name, labels, Some(("le", "+Inf")));
        let exemplar = exemplars.for_bucket(name, series(), buckets.len());
        value_end(out, histogram.get_sample_count() as f64, exemplar.as_ref());
    }
    sample_line(out, &format!("{name}_sum"), labels, None);
    value_end(out, histogram.get_sample_sum(), None);
    sample_line(out, &format!("{name}_count"), labels, None);
    value_end(out, histogram.get_sample_count() as f64, None);
}

fn summary(out: &mut String, name: &str, metric: &Metric) {
    let summary = metric.get_summary();
    let labels = metric.get_label();
    for quantile in summary.get_quantile() {
        let q = float(quantile.quantile());
        sample_line(out, name, labels, Some(("quantile", &q)));
        value_end(out, quantile.value(), None);
    }
    sample_line(out, &format!("{name}_sum"), labels, None);
    value_end(out, summary.sample_sum(), None);
    sample_line(out, &format!("{name}_count"), labels, None);
    value_end(out, summary.sample_count() as f64, None);
}

/// `name{labels,extra}` without the value.
fn sample_line(out: &mut String, name: &str, labels: &[LabelPair], extra: Option<(&str, &str)>) {
    out.push_str(name);
    let pairs = labels
        .iter()
        .map(|l| (l.name(), l.value()))
        .chain(extra)
        .collect::<Vec<_>>();
    if pairs.is_empty() {
        return;
    }
    out.push('{');
    for (n, (label, value)) in pairs.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        let _ = write!(out, "{label}=\"{}\"", escape(value));
    }
    out.push('}');
}

/// ` value[ # {trace_id="…",span_id="…"} value timestamp]\n`.
fn value_end(out: &mut String, value: f64, exemplar: Option<&Exemplar>) {
    out.push(' ');
    out.push_str(&number(value));
    if let Some(exemplar) = exemplar {
        let _ = write!(
            out,
            " # {{trace_id=\"{}\",span_id=\"{}\"}} {} {:.3}",
            exemplar.trace_id,
            exemplar.span_id,
            number(exemplar.value),
            exemplar.timestamp
        );
    }
    out.push('\n');
}

/// A sample value: integers without a fraction, infinities as `+Inf`/`-Inf`.
fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value == f64::INFINITY {
        "+Inf".into()
    } else if value == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        value.to_string()
    }
}

/// A label value that is a float, in OpenMetrics' canonical form (`1.0`).
fn float(value: f64) -> String {
    if value.is_finite() {
        format!("{value:?}")
    } else {
        number(value)
    }
}

/// Escapes `\`, `"` and line feeds, in label values and help text alike.
fn escape(text: &str) -> String {
    text.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_accept_header_asks_for_openmetrics() {
        let prometheus3 = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,\
            application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;\
            escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
        assert!(prefers_openmetrics(prometheus3));
        assert!(prefers_openmetrics("application/openmetrics-text"));
        assert!(!prefers_openmetrics("text/plain;version=0.0.4"));
        assert!(!prefers_openmetrics("*/*"));
        assert!(!prefers_openmetrics(
            "application/openmetrics-text;q=0.1,text/plain"
        ));
        assert!(!prefers_openmetrics("application/openmetrics-text;q=0"));
    }

    #[test]
    fn floats_are_canonical() {
        assert_eq!(float(1.0), "1.0");
        assert_eq!(float(0.005), "0.005");
        assert_eq!(float(f64::INFINITY), "+Inf");
        assert_eq!(number(3.0), "3");
        assert_eq!(number(0.25), "0.25");
    }

    #[test]
    fn help_and_label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
