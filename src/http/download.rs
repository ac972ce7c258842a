//! The result download, for every storage backend alike: one `Range`,
//! `If-Range`, `ETag` with `If-None-Match`, `Last-Modified`,
//! `Content-Length`, and the body streamed from storage (none for `HEAD`).

use actix_web::body::SizedStream;
use actix_web::http::header::{self, ContentDisposition, HttpDate};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};

use super::problem::ApiError;
use crate::storage::ResultObject;

const PARQUET: &str = "application/vnd.apache.parquet";

pub(super) async fn respond(
    request: &HttpRequest,
    result: ResultObject,
    disposition: ContentDisposition,
) -> Result<HttpResponse, ApiError> {
    respond_as(request, result, disposition, PARQUET).await
}

/// [`respond`] for a stored object of another media type.
pub(super) async fn respond_as(
    request: &HttpRequest,
    result: ResultObject,
    disposition: ContentDisposition,
    content_type: &'static str,
) -> Result<HttpResponse, ApiError> {
    {
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;
        let span = tracing::Span::current();
        if let Some(job) = job_of(&result.meta.location) {
            span.set_attribute("parquetry.job.id", job);
        }
        span.set_attribute("parquetry.download.object_bytes", result.meta.size as i64);
    }
    let meta = &result.meta;
    let etag = meta.e_tag.as_deref().map(quoted);
    let modified = std::time::SystemTime::from(meta.last_modified);
    let headers = |status: StatusCode| {
        let mut response = HttpResponseBuilder::new(status);
        response
            .insert_header((header::CONTENT_TYPE, content_type))
            .insert_header((header::CONTENT_DISPOSITION, disposition.clone()))
            .insert_header(header::LastModified(HttpDate::from(modified)))
            .insert_header((header::ACCEPT_RANGES, "bytes"));
        if let Some(etag) = &etag {
            response.insert_header((header::ETAG, etag.clone()));
        }
        response
    };

    if let Some(wanted) = request.headers().get(header::IF_NONE_MATCH) {
        let wanted = wanted.to_str().unwrap_or("");
        let matches = wanted
            .split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || etag.as_deref().is_some_and(|etag| weak_eq(tag, etag)));
        if matches {
            return Ok(headers(StatusCode::NOT_MODIFIED).finish());
        }
    }

    let total = meta.size;
    let range = match request.headers().get(header::RANGE) {
        Some(value) if range_applies(request, etag.as_deref(), modified) => {
            // `range::ignore_unusable_range` already dropped a header that is not
            // one byte range, so what is left either fits the object or is a 416.
            let value = value.to_str().unwrap_or_default();
            match super::range::resolve(value, total) {
                Some(range) => Some(range),
                None => return Err(ApiError::RangeNotSatisfiable(total)),
            }
        }
        _ => None,
    };
    let (mut response, length) = match &range {
        Some(range) => {
            let mut response = headers(StatusCode::PARTIAL_CONTENT);
            response.insert_header((
                header::CONTENT_RANGE,
                format!("bytes {}-{}/{total}", range.start, range.end - 1),
            ));
            (response, range.end - range.start)
        }
        None => (headers(StatusCode::OK), total),
    };
    // HEAD needs only the headers (actix sends no body, but takes
    // `Content-Length` from the body's size); an empty object needs no read
    // (and a zero-length range is refused by the store).
    if request.method() == Method::HEAD || length == 0 {
        let nothing =
            futures_util::stream::empty::<Result<bytes::Bytes, crate::storage::StorageError>>();
        return Ok(response.body(SizedStream::new(length, nothing)));
    }
    let body = result
        .stream(range)
        .await
        .map_err(|error| anyhow::anyhow!(error).context("reading the result of a succeeded job"))?;
    Ok(response.body(SizedStream::new(length, body)))
}

/// RFC 9110 §13.1.5: a `Range` is honoured only when `If-Range` (if any)
/// still names this representation — a strong ETag match, or the exact
/// `Last-Modified` date; otherwise the whole file is sent.
fn range_applies(
    request: &HttpRequest,
    etag: Option<&str>,
    modified: std::time::SystemTime,
) -> bool {
    let Some(condition) = request.headers().get(header::IF_RANGE) else {
        return true;
    };
    let condition = condition.to_str().unwrap_or("").trim();
    if condition.starts_with('"') {
        return etag.is_some_and(|etag| !etag.starts_with("W/") && etag == condition);
    }
    if condition.starts_with("W/") {
        return false;
    }
    match condition.parse::<HttpDate>() {
        // HTTP dates have whole seconds: compare at that precision.
        Ok(date) => HttpDate::from(modified).to_string() == date.to_string(),
        Err(_) => false,
    }
}

/// Weak comparison (RFC 9110 §8.8.3.2), used by `If-None-Match`.
/// The job a stored object belongs to: its name starts with the job's id.
fn job_of(key: &object_store::path::Path) -> Option<String> {
    let name = key.filename()?;
    let id = name.split('.').next()?;
    uuid::Uuid::parse_str(id).ok().map(|id| id.to_string())
}

fn weak_eq(a: &str, b: &str) -> bool {
    a.trim_start_matches("W/") == b.trim_start_matches("W/")
}

/// S3 answers ETags quoted; a store that does not gets them quoted here.
fn quoted(etag: &str) -> String {
    if etag.starts_with('"') || etag.starts_with("W/") {
        etag.to_string()
    } else {
        format!("\"{etag}\"")
    }
}
