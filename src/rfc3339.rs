//! One form for every time the API shows: RFC 3339 in UTC with `Z` and
//! microseconds (`2026-11-30T12:00:00.123456Z`), PostgreSQL's precision.
//! chrono's own serialisation drops trailing zero digits (`…00.1Z` beside
//! `…00.123456Z`), and times kept inside JSON columns come as each database
//! renders them (jsonb's `now()` is `…00.123456+00:00`): a client comparing
//! or parsing them with one format must get one format.

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use serde::Serializer;

/// `at` in the API's form.
pub fn format(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// For `#[serde(serialize_with = "rfc3339::serialize")]`.
pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format(at))
}

/// For `#[serde(serialize_with = "rfc3339::serialize_option")]`.
pub fn serialize_option<S: Serializer>(
    at: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => serialize(at, serializer),
        None => serializer.serialize_none(),
    }
}

/// A time kept as text in a JSON column, in the API's form; `None` when the
/// text is not a time (then it is shown as stored).
pub fn normalise(text: &str) -> Option<String> {
    // RFC 3339, or the form with a space that SQLite's drivers write.
    let at = DateTime::parse_from_rfc3339(text)
        .or_else(|_| text.parse::<DateTime<FixedOffset>>())
        .ok()?;
    Some(format(&at.with_timezone(&Utc)))
}

/// The `at` of each entry of a JSON array (a job's `attempt_errors`) in the
/// API's form.
pub fn normalise_entries(mut entries: serde_json::Value) -> serde_json::Value {
    if let Some(entries) = entries.as_array_mut() {
        for entry in entries {
            let at = entry.get_mut("at");
            if let Some(at) = at {
                if let Some(shown) = at.as_str().and_then(normalise) {
                    *at = shown.into();
                }
            }
        }
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_database_rendering_becomes_one_form() {
        for stored in [
            "2026-11-30T12:00:00.1234+00:00",
            "2026-11-30T13:00:00.1234+01:00",
            "2026-11-30 12:00:00.123400+00:00",
            "2026-11-30T12:00:00.123400012Z",
        ] {
            assert_eq!(
                normalise(stored).as_deref(),
                Some("2026-11-30T12:00:00.123400Z"),
                "{stored}"
            );
        }
        assert_eq!(normalise("yesterday"), None);
    }
}
