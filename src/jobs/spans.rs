//! Client spans for the job table's statements, following the OpenTelemetry
//! database conventions (sqlx makes no spans of its own).

use std::future::Future;

use std::time::SystemTime;

use opentelemetry::trace::{Span as _, SpanKind, Tracer as _};
use opentelemetry::KeyValue;
use tracing::{field::Empty, Instrument};

/// Which database a statement runs against, as its spans name it.
#[derive(Clone, Debug)]
pub struct DbTarget {
    /// `db.system.name`: `postgresql` or `sqlite`.
    pub system: &'static str,
    pub server_address: Option<String>,
    pub server_port: Option<u16>,
}

impl DbTarget {
    /// The attributes of a span of `query`, for spans recorded through the
    /// OpenTelemetry API directly (the worker's claim).
    pub fn attributes(&self, operation: &'static str, query: &'static str) -> Vec<KeyValue> {
        let mut attributes = vec![
            KeyValue::new("db.system.name", self.system),
            KeyValue::new("db.operation.name", operation),
            KeyValue::new("db.collection.name", "jobs"),
            KeyValue::new("db.query.text", query),
        ];
        if let Some(address) = &self.server_address {
            attributes.push(KeyValue::new("server.address", address.clone()));
        }
        if let Some(port) = self.server_port {
            attributes.push(KeyValue::new("server.port", i64::from(port)));
        }
        attributes
    }

    /// Records, through the OpenTelemetry API, the span of a statement that
    /// ran before its trace was known (the claim: its job names the trace).
    /// `summary` tells statements of one operation apart (`claim`,
    /// `heartbeat`…) in `db.query.summary`.
    pub fn record_span(
        &self,
        operation: &'static str,
        query: &'static str,
        summary: &'static str,
        parent: &opentelemetry::Context,
        started: SystemTime,
        ended: SystemTime,
    ) {
        let tracer = opentelemetry::global::tracer("parquetry");
        let mut attributes = self.attributes(operation, query);
        attributes.push(KeyValue::new("db.query.summary", format!("{summary} jobs")));
        let mut span = tracer
            .span_builder(format!("{operation} jobs"))
            .with_kind(SpanKind::Client)
            .with_start_time(started)
            .with_attributes(attributes)
            .start_with_context(&tracer, parent);
        span.end_with_timestamp(ended);
    }

    /// Runs one statement inside a client span named `OPERATION jobs`.
    pub async fn traced<T, F>(
        &self,
        operation: &'static str,
        query: &'static str,
        run: F,
    ) -> sqlx::Result<T>
    where
        F: Future<Output = sqlx::Result<T>>,
    {
        let span = tracing::info_span!(
            "db.query",
            otel.name = format!("{operation} jobs"),
            otel.kind = "client",
            otel.status_code = Empty,
            db.system.name = self.system,
            db.operation.name = operation,
            db.collection.name = "jobs",
            db.query.text = query,
            server.address = self.server_address.as_deref(),
            server.port = self.server_port,
            error.type = Empty,
        );
        let outcome = run.instrument(span.clone()).await;
        if let Err(error) = &outcome {
            span.record("otel.status_code", "ERROR");
            span.record("error.type", error_type(error));
        }
        outcome
    }
}

/// A low-cardinality name for the `error.type` attribute.
fn error_type(error: &sqlx::Error) -> &'static str {
    match error {
        sqlx::Error::Database(_) => "database",
        sqlx::Error::PoolTimedOut => "pool_timed_out",
        sqlx::Error::Io(_) => "io",
        sqlx::Error::RowNotFound => "row_not_found",
        _ => "other",
    }
}

/// A column held a value the model does not know.
pub fn decode_error(column: &str, value: &str) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: column.to_string(),
        source: format!("unexpected value {value:?}").into(),
    }
}
