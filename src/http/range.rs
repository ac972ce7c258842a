//! `Range` requests on results. `NamedFile` answers the first range of any
//! header it can parse and refuses the rest with an empty 416, whereas
//! RFC 9110 §14.2 says a server ignores a `Range` it does not understand.
//! This middleware drops such headers before the handler sees them: other
//! units, malformed or invalid specs, and several ranges (answered with the
//! whole file, which the RFC allows, rather than a 206 of the first only).

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

#[cfg(test)]
mod tests {
    use super::*;

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
