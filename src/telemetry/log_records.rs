//! What the tracing bridge leaves out of OTLP log records: the time of the
//! event, and an event name worth reading.
//!
//! opentelemetry-appender-tracing sets only the observed timestamp, and as
//! the event name tracing's own name of the call site, `event
//! src/worker/outcome.rs:121` unless the macro was given `name:`. An event
//! that names itself (`tracing::info!(name: "parquetry.http.access", …)`)
//! keeps its name; any other is named after its module and the first words
//! of its message (`parquetry.worker.outcome.job_succeeded`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use opentelemetry::logs::{AnyValue, LogRecord as _};
use opentelemetry::InstrumentationScope;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogProcessor, SdkLogRecord};

/// The prefix of tracing's default event names.
const DEFAULT_NAME_PREFIX: &str = "event ";

/// Words of the message kept in a derived name.
const MESSAGE_WORDS: usize = 4;

/// Derived names are interned (a log record's name is `&'static str`); past
/// this many, a record is named after its module alone, so a message that
/// starts differently every time cannot grow memory without bound.
const MAX_NAMES: usize = 1024;

/// A log processor placed before the exporting one: it fills in the
/// timestamp and the event name.
#[derive(Debug, Default)]
pub struct EventNames;

impl LogProcessor for EventNames {
    fn emit(&self, record: &mut SdkLogRecord, _scope: &InstrumentationScope) {
        if record.timestamp().is_none() {
            // The record was created just now, from the event.
            let now = record.observed_timestamp().unwrap_or_else(SystemTime::now);
            record.set_timestamp(now);
        }
        let named = record
            .event_name()
            .is_some_and(|name| !name.starts_with(DEFAULT_NAME_PREFIX));
        if named {
            return;
        }
        let target = match record.target() {
            Some(Cow::Borrowed(target)) => *target,
            _ => return,
        };
        let message = match record.body() {
            Some(AnyValue::String(message)) => message.as_str(),
            _ => "",
        };
        record.set_event_name(interned(target, message));
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}

/// `parquetry::worker::outcome` and `job succeeded` give
/// `parquetry.worker.outcome.job_succeeded`: the message's first words up to
/// the first one that is not plain letters (a value, a path, a number).
pub fn derived_name(target: &str, message: &str) -> String {
    let mut name = target.replace("::", ".");
    let mut words = 0;
    for word in message.split_whitespace() {
        let bare = word.trim_end_matches([',', ';', ':', '.']);
        if bare.is_empty() || !bare.chars().all(|c| c.is_ascii_alphabetic()) {
            break;
        }
        name.push(if words == 0 { '.' } else { '_' });
        name.push_str(&bare.to_ascii_lowercase());
        words += 1;
        if words == MESSAGE_WORDS || bare.len() != word.len() {
            break;
        }
    }
    name
}

fn interned(target: &'static str, message: &str) -> &'static str {
    static NAMES: OnceLock<Mutex<HashMap<String, &'static str>>> = OnceLock::new();
    let mut names = NAMES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let name = derived_name(target, message);
    if let Some(&interned) = names.get(&name) {
        return interned;
    }
    // Past the limit only module names are added: there are as many as
    // modules that log.
    let name = if names.len() < MAX_NAMES {
        name
    } else {
        derived_name(target, "")
    };
    if let Some(&interned) = names.get(&name) {
        return interned;
    }
    let interned: &'static str = Box::leak(name.clone().into_boxed_str());
    names.insert(name, interned);
    interned
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
    use opentelemetry_sdk::logs::SdkLoggerProvider;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    /// Keeps what reaches it, as an exporting processor would see it.
    #[derive(Debug, Default, Clone)]
    struct Kept(Arc<Mutex<Vec<SdkLogRecord>>>);

    impl LogProcessor for Kept {
        fn emit(&self, record: &mut SdkLogRecord, _scope: &InstrumentationScope) {
            self.0.lock().unwrap().push(record.clone());
        }

        fn force_flush(&self) -> OTelSdkResult {
            Ok(())
        }

        fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
            Ok(())
        }
    }

    #[test]
    fn records_get_a_timestamp_and_a_name_of_their_own() {
        let kept = Kept::default();
        let provider = SdkLoggerProvider::builder()
            .with_log_processor(EventNames)
            .with_log_processor(kept.clone())
            .build();
        let subscriber =
            tracing_subscriber::registry().with(OpenTelemetryTracingBridge::new(&provider));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(rows = 3, "job succeeded");
            tracing::info!(name: "parquetry.http.access", "request finished");
        });

        let records = kept.0.lock().unwrap();
        let names: Vec<_> = records.iter().map(|r| r.event_name()).collect();
        assert_eq!(
            names,
            [
                Some("parquetry.telemetry.log_records.tests.job_succeeded"),
                Some("parquetry.http.access"),
            ]
        );
        assert!(records.iter().all(|r| r.timestamp().is_some()));
    }

    #[test]
    fn a_name_is_the_module_and_the_first_plain_words_of_the_message() {
        assert_eq!(
            derived_name("parquetry::worker::outcome", "job succeeded"),
            "parquetry.worker.outcome.job_succeeded"
        );
        assert_eq!(
            derived_name(
                "parquetry::worker",
                "the database is unavailable; workers keep retrying"
            ),
            "parquetry.worker.the_database_is_unavailable"
        );
        assert_eq!(
            derived_name("parquetry::startup", "job files are kept in /tmp/x (local)"),
            "parquetry.startup.job_files_are_kept"
        );
        assert_eq!(
            derived_name("parquetry::jobs", "requeued 3 jobs"),
            "parquetry.jobs.requeued"
        );
        assert_eq!(derived_name("sqlx::query", "42"), "sqlx.query");
        assert_eq!(derived_name("parquetry::startup", ""), "parquetry.startup");
    }
}
