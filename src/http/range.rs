//! `Range` requests on results. RFC 9110 §14.2 says a server ignores a
//! `Range` it does not understand: this middleware drops such headers before
//! the handler sees them (other units, malformed or invalid specs, and
//! several ranges, answered with the whole file, which the RFC allows,
//! rather than a 206 of the first only); `resolve` reads what is left.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::Error;

/// Removes a `Range` header that is not one valid byte range.
pub async fn ignore_unusable_range(
    mut request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let unusable = request
        .headers()
        .get(header::RANGE)
        .is_some_and(|value| !is_single_byte_range(value));
    if unusable {
        request.head_mut().headers.remove(header::RANGE);
    }
    next.call(request).await
}

/// `bytes=first-last`, `bytes=first-` or `bytes=-suffix`, with last ≥ first.
/// Whether it overlaps the file is for the handler to say (416).
fn is_single_byte_range(value: &HeaderValue) -> bool {
    let Ok(text) = value.to_str() else {
        return false;
    };
    let Some((unit, spec)) = text.trim().split_once('=') else {
        return false;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return false;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return false;
    };
    let number = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    match (first.trim(), last.trim()) {
        ("", suffix) => number(suffix).is_some(),
        (first, "") => number(first).is_some(),
        (first, last) => matches!((number(first), number(last)), (Some(f), Some(l)) if l >= f),
    }
}

/// The bytes a usable `Range` (see `is_single_byte_range`) asks of a file of
/// `total` bytes; `None` when it does not overlap the file (a 416).
pub(super) fn resolve(text: &str, total: u64) -> Option<std::ops::Range<u64>> {
    let (_, spec) = text.trim().split_once('=')?;
    let (first, last) = spec.trim().split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        let suffix: u64 = last.parse().ok()?;
        return (suffix > 0 && total > 0).then(|| total.saturating_sub(suffix)..total);
    }
    let start: u64 = first.parse().ok()?;
    if start >= total {
        return None;
    }
    let end = match last {
        "" => total,
        last => last.parse::<u64>().ok()?.min(total - 1) + 1,
    };
    Some(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_resolve_against_the_file_size() {
        assert_eq!(resolve("bytes=0-5", 10), Some(0..6));
        assert_eq!(resolve("bytes=8-100", 10), Some(8..10));
        assert_eq!(resolve("bytes=4-", 10), Some(4..10));
        assert_eq!(resolve("bytes=-3", 10), Some(7..10));
        assert_eq!(resolve("bytes=-30", 10), Some(0..10));
        assert_eq!(resolve("bytes=10-", 10), None);
        assert_eq!(resolve("bytes=-0", 10), None);
        assert_eq!(resolve("bytes=0-0", 0), None);
    }

    fn usable(text: &str) -> bool {
        is_single_byte_range(&HeaderValue::from_str(text).unwrap())
    }

    #[test]
    fn only_one_valid_byte_range_is_kept() {
        for text in [
            "bytes=0-5",
            "bytes=10-",
            "bytes=-4",
            "Bytes=0-0",
            "bytes=999-1000",
        ] {
            assert!(usable(text), "{text}");
        }
        for text in [
            "items=0-5",
            "bytes=abc",
            "bytes=5-4",
            "bytes=0-1,4-5",
            "bytes=-",
            "bytes=",
            "bytes 0-5",
            "bytes=1-x",
        ] {
            assert!(!usable(text), "{text}");
        }
    }
}
