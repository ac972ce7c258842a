//! Cancellation midway: the only test of its binary, because it watches the
//! engine's spans through a scoped `tracing` dispatcher, and tracing caches
//! each callsite's interest process-wide: another test's thread hitting a
//! callsite first could hide it from this one.

mod common;

use std::sync::atomic::AtomicBool;

use common::Scratch;
use parquetry_convert::{convert_file, ConvertOptions, ErrorKind};

/// Raises the cancel flag when the conversion starts inferring types: the
/// conversion is then certainly under way, and certainly not finished.
struct CancelAtInference<'a> {
    cancel: &'a AtomicBool,
    next_id: std::sync::atomic::AtomicU64,
}

impl tracing::Subscriber for CancelAtInference<'static> {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        if span.metadata().name() == "csv.infer_schema" {
            self.cancel.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        tracing::span::Id::from_u64(id + 1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, _: &tracing::Event<'_>) {}
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn a_conversion_canceled_midway_stops_and_leaves_no_output() {
    static CANCEL: AtomicBool = AtomicBool::new(false);
    let dir = Scratch::new("cancel-midway");
    let mut csv = b"id,text,when\n".to_vec();
    for i in 0..400_000 {
        csv.extend_from_slice(format!("{i},\"row {i}, quoted\",2024-01-01T00:00:00Z\n").as_bytes());
    }
    let input = dir.file("in.csv", &csv);
    let output = dir.path("out.parquet");
    let subscriber = CancelAtInference {
        cancel: &CANCEL,
        next_id: Default::default(),
    };

    let result = tracing::subscriber::with_default(subscriber, || {
        convert_file(&input, &output, &ConvertOptions::default(), &CANCEL)
    });

    assert!(
        CANCEL.load(std::sync::atomic::Ordering::SeqCst),
        "inference never started"
    );
    let error = result.expect_err("a canceled conversion cannot succeed");
    assert_eq!(error.kind, ErrorKind::Canceled);
    assert!(!output.exists());
}
