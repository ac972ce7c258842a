//! The result download when results live in object storage: the same
//! answers `NamedFile` gives for a local file (one `Range`, `ETag`,
//! `If-None-Match`, `Content-Length`), with the body streamed from the bucket.

use actix_files::HttpRange;
use actix_web::body::SizedStream;
use actix_web::http::header::{self, ContentDisposition, HttpDate};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use uuid::Uuid;

use super::problem::ApiError;
use crate::storage::ObjectFiles;

const PARQUET: &str = "application/vnd.apache.parquet";

pub(super) async fn respond(
    request: &HttpRequest,
    objects: &ObjectFiles,
    id: Uuid,
    disposition: ContentDisposition,
) -> Result<HttpResponse, ApiError> {
    let meta = objects
        .result_meta(id)
        .await
        .map_err(|error| anyhow::anyhow!(error).context("reading the result of a succeeded job"))?;
    let etag = meta.e_tag.as_deref().map(quoted);
    let last_modified = HttpDate::from(std::time::SystemTime::from(meta.last_modified));
    let headers = |status: StatusCode| {
        let mut response = HttpResponseBuilder::new(status);
        response
            .insert_header((header::CONTENT_TYPE, PARQUET))
            .insert_header((header::CONTENT_DISPOSITION, disposition.clone()))
            .insert_header(header::LastModified(last_modified))
            .insert_header((header::ACCEPT_RANGES, "bytes"));
        if let Some(etag) = &etag {
            response.insert_header((header::ETAG, etag.clone()));
        }
        response
    };

    if let (Some(etag), Some(wanted)) = (&etag, request.headers().get(header::IF_NONE_MATCH)) {
        let wanted = wanted.to_str().unwrap_or("");
        if wanted
            .split(',')
            .map(|tag| tag.trim().trim_start_matches("W/"))
            .any(|tag| tag == "*" || tag == etag.trim_start_matches("W/"))
        {
            return Ok(headers(StatusCode::NOT_MODIFIED).finish());
        }
    }

    let total = meta.size;
    let range = match request.headers().get(header::RANGE) {
        None => None,
        Some(value) => {
            // `range::ignore_unusable_range` already dropped a header that is not
            // one byte range, so what is left either fits the object or is a 416.
            let value = value.to_str().unwrap_or_default();
            match HttpRange::parse(value, total)
                .ok()
                .and_then(|ranges| ranges.first().copied())
            {
                Some(range) => Some(range.start..range.start + range.length),
                None => return Err(ApiError::RangeNotSatisfiable(total)),
            }
        }
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
    // An empty object needs no request (and a zero-length range is refused
    // by the store).
    if length == 0 {
        return Ok(response.finish());
    }
    let body = objects
        .result_stream(id, range)
        .await
        .map_err(|error| anyhow::anyhow!(error).context("reading the result of a succeeded job"))?;
    Ok(response.body(SizedStream::new(length, body)))
}

/// S3 answers ETags quoted; a store that does not gets them quoted here.
fn quoted(etag: &str) -> String {
    if etag.starts_with('"') || etag.starts_with("W/") {
        etag.to_string()
    } else {
        format!("\"{etag}\"")
    }
}
