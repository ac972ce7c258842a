//! Opaque cursors for keyset pagination of the job list.

use base64::Engine;
use chrono::{DateTime, Datelike, Utc};

/// The latest year a cursor can name (both stores hold it).
const MAX_YEAR: i32 = 9999;
use uuid::Uuid;

/// The position after the last job of a page: jobs are listed newest first
/// by `(created_at, id)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCursor {
    pub created_at: DateTime<Utc>,
    pub id: Uuid,
}

impl ListCursor {
    /// An opaque token for clients.
    pub fn encode(&self) -> String {
        let raw = format!("{}|{}", self.created_at.timestamp_micros(), self.id);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    }

    /// `None` when the token is not one `encode` made.
    pub fn decode(token: &str) -> Option<ListCursor> {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let (micros, id) = raw.split_once('|')?;
        let created_at = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
        // Every job was created between year 0 and 9999: anything else is
        // forged, and may be out of the database's range.
        if !(0..=MAX_YEAR).contains(&created_at.year()) {
            return None;
        }
        Some(ListCursor {
            created_at,
            id: id.parse().ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_survives_its_round_trip() {
        let cursor = ListCursor {
            created_at: DateTime::from_timestamp_micros(1_764_000_000_123_456).unwrap(),
            id: Uuid::new_v4(),
        };
        assert_eq!(ListCursor::decode(&cursor.encode()), Some(cursor));
    }

    #[test]
    fn a_forged_cursor_is_refused() {
        assert_eq!(ListCursor::decode("not a cursor"), None);
        assert_eq!(ListCursor::decode("MTIz"), None);
        let far_future = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
            "{}|{}",
            i64::MAX / 2,
            Uuid::nil()
        ));
        assert_eq!(ListCursor::decode(&far_future), None);
    }
}
