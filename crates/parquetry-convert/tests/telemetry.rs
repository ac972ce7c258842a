//! The conversion reports itself through `tracing` spans with the documented fields.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use common::Scratch;
use parquetry_convert::{convert_file, ConvertOptions};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

#[derive(Default, Debug, Clone)]
struct SpanData {
    name: String,
    parent: Option<u64>,
    fields: HashMap<String, String>,
}

/// A minimal subscriber that keeps every span with its parent and recorded fields.
#[derive(Default, Clone)]
struct Recorder {
    spans: Arc<Mutex<HashMap<u64, SpanData>>>,
    stack: Arc<Mutex<Vec<u64>>>,
    next: Arc<AtomicU64>,
}

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut data = SpanData {
            name: attrs.metadata().name().to_string(),
            parent: attrs
                .parent()
                .map(|p| p.into_u64())
                .or_else(|| self.stack.lock().unwrap().last().copied()),
            ..SpanData::default()
        };
        attrs.record(&mut Fields(&mut data.fields));
        self.spans.lock().unwrap().insert(id, data);
        Id::from_u64(id)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        if let Some(d) = self.spans.lock().unwrap().get_mut(&span.into_u64()) {
            values.record(&mut Fields(&mut d.fields));
        }
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, span: &Id) {
        self.stack.lock().unwrap().push(span.into_u64());
    }
    fn exit(&self, _: &Id) {
        self.stack.lock().unwrap().pop();
    }
}

#[test]
fn conversion_spans_carry_counts_and_nest_under_parquet_convert() {
    let dir = Scratch::new("spans");
    let input = dir.file("in.csv", b"a;b\n1;x\n2;y\n3;z\n");
    let output = dir.path("out.parquet");
    let recorder = Recorder::default();
    let report = tracing::subscriber::with_default(recorder.clone(), || {
        convert_file(
            &input,
            &output,
            &ConvertOptions::default(),
            &AtomicBool::new(false),
        )
        .unwrap()
    });
    let spans = recorder.spans.lock().unwrap().clone();
    let find = |name: &str| {
        spans
            .iter()
            .find(|(_, s)| s.name == name)
            .map(|(id, s)| (*id, s.clone()))
            .unwrap_or_else(|| panic!("no span {name}"))
    };
    let (convert_id, convert) = find("parquet.convert");
    assert_eq!(convert.fields["parquetry.rows"], "3");
    assert_eq!(convert.fields["parquetry.row_groups"], "1");
    assert_eq!(convert.fields["parquetry.codec"], "snappy");
    assert_eq!(convert.fields["parquetry.replans"], "0");
    assert_eq!(
        convert.fields["parquetry.output.bytes"],
        report.output_bytes.to_string()
    );
    let (_, detect) = find("csv.detect_dialect");
    assert_eq!(detect.parent, Some(convert_id));
    assert_eq!(detect.fields["parquetry.csv.delimiter"], ";");
    let (_, infer) = find("csv.infer_schema");
    assert_eq!(infer.parent, Some(convert_id));
    assert_eq!(infer.fields["parquetry.columns"], "2");
    assert_eq!(infer.fields["parquetry.sample_rows"], "3");
}
