//! Client spans for the job table's statements, following the OpenTelemetry
//! database conventions (sqlx makes no spans of its own).

use std::future::Future;

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
