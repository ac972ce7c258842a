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
    /// `db.namespace`: the database (PostgreSQL) or the file (SQLite).
    pub namespace: Option<String>,
}

/// How logs and `parquetry migrate` name the database: never with the
/// password, which the target does not hold.
impl std::fmt::Display for DbTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let namespace = self.namespace.as_deref().unwrap_or("(default)");
        match (self.system, &self.server_address, self.server_port) {
            ("sqlite", ..) => write!(f, "SQLite file {namespace}"),
            (_, Some(host), Some(port)) => {
                write!(f, "PostgreSQL database {namespace} on {host}:{port}")
            }
            (_, _, _) => write!(f, "PostgreSQL database {namespace}"),
        }
    }
}

/// `SELECT get` → the operation (`SELECT`) and the span name and
/// `db.query.summary` (`SELECT jobs get`): statements of one operation (the
/// claim, a heartbeat, a finish, a cancel are all `UPDATE`s) tell themselves
/// apart at a glance.
fn names(what: &'static str) -> (&'static str, String) {
    let (operation, purpose) = what.split_once(' ').unwrap_or((what, ""));
    (
        operation,
        format!("{operation} jobs {purpose}").trim_end().to_string(),
    )
}

impl DbTarget {
    /// The attributes of a span of `query`, for spans recorded through the
    /// OpenTelemetry API directly (the worker's claim).
    pub fn attributes(&self, what: &'static str, query: &'static str) -> Vec<KeyValue> {
        let (operation, summary) = names(what);
        let mut attributes = vec![
            KeyValue::new("db.system.name", self.system),
            KeyValue::new("db.operation.name", operation),
            KeyValue::new("db.collection.name", "jobs"),
            KeyValue::new("db.query.summary", summary),
            KeyValue::new("db.query.text", query),
        ];
        if let Some(namespace) = &self.namespace {
            attributes.push(KeyValue::new("db.namespace", namespace.clone()));
        }
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
    /// `what` is the operation and the statement's purpose (`UPDATE claim`).
    pub fn record_span(
        &self,
        what: &'static str,
        query: &'static str,
        parent: &opentelemetry::Context,
        started: SystemTime,
        ended: SystemTime,
    ) {
        let tracer = opentelemetry::global::tracer("parquetry");
        let attributes = self.attributes(what, query);
        let mut span = tracer
            .span_builder(names(what).1)
            .with_kind(SpanKind::Client)
            .with_start_time(started)
            .with_attributes(attributes)
            .start_with_context(&tracer, parent);
        span.end_with_timestamp(ended);
    }

    /// Runs one statement inside a client span named after `what`, the
    /// operation and the statement's purpose (`UPDATE succeed` → `UPDATE jobs
    /// succeed`).
    pub async fn traced<T, F>(
        &self,
        what: &'static str,
        query: &'static str,
        run: F,
    ) -> sqlx::Result<T>
    where
        F: Future<Output = sqlx::Result<T>>,
    {
        let (operation, summary) = names(what);
        // Integers as i64: tracing-opentelemetry exports other integer types as strings.
        let span = tracing::info_span!(
            "db.query",
            otel.name = summary.as_str(),
            otel.kind = "client",
            otel.status_code = Empty,
            db.system.name = self.system,
            db.operation.name = operation,
            db.collection.name = "jobs",
            db.query.summary = summary.as_str(),
            db.query.text = query,
            db.namespace = self.namespace.as_deref(),
            server.address = self.server_address.as_deref(),
            server.port = self.server_port.map(i64::from),
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
