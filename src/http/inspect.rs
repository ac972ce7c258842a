//! `POST /v1/inspect`: what the engine makes of a file before it is
//! converted. The same upload forms and options as `POST /v1/jobs`, but only
//! the head of the file is read (kept in memory, bounded by `bytes`),
//! nothing is stored and no job is created.

use actix_multipart::Multipart;
use actix_web::{web, HttpRequest, HttpResponse};
use parquetry_convert::{ConvertError, ErrorKind};

use super::problem::ApiError;
use super::upload::{check_raw_content_type, declared_length, is_multipart};
use super::upload_body::{self, BodyWriter, OptionPairs};
use super::upload_options::{decode_options, take_option};
use super::AppState;

/// Bytes of the file read by default, and at most.
const DEFAULT_HEAD_BYTES: usize = 1 << 20;
const MAX_HEAD_BYTES: usize = 16 << 20;
/// Rows shown by default, and at most.
const DEFAULT_ROWS: usize = 20;
const MAX_ROWS: usize = 100;

pub async fn inspect_file(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut options: OptionPairs =
        serde_urlencoded::from_str(request.query_string()).map_err(|error| {
            ApiError::InvalidQuery(format!("the query string is malformed: {error}"))
        })?;
    let mut bytes = bounded(&mut options, "bytes", DEFAULT_HEAD_BYTES, MAX_HEAD_BYTES)?;
    let mut rows = bounded(&mut options, "rows", DEFAULT_ROWS, MAX_ROWS)?;
    take_option(&mut options, "filename");
    // Nothing is stored, but a body the server would never take is refused as at upload.
    if declared_length(&request).is_some_and(|length| length > state.max_upload_bytes) {
        return Err(ApiError::PayloadTooLarge {
            limit: state.max_upload_bytes,
        });
    }
    let multipart = is_multipart(&request);
    if !multipart {
        check_raw_content_type(&request)?;
    }
    decode_options(&options)?;
    let writer = BodyWriter::head(bytes);
    let idle = state.upload_idle_timeout;
    let upload = if multipart {
        let multipart = Multipart::new(request.headers(), payload);
        let upload = upload_body::receive_multipart(
            multipart,
            (writer, |_: &OptionPairs| {}),
            &mut options,
            idle,
        )
        .await?;
        // Fields after the file part may set them too; the head was cut with the first.
        bytes = bytes.min(bounded(&mut options, "bytes", bytes, MAX_HEAD_BYTES)?);
        rows = bounded(&mut options, "rows", rows, MAX_ROWS)?;
        take_option(&mut options, "filename");
        upload
    } else {
        upload_body::receive_raw(payload, writer, idle).await?
    };
    let convert_options = decode_options(&options)?;
    let mut head = upload.head.unwrap_or_default();
    head.truncate(bytes);
    let complete = upload.bytes == head.len() as u64;
    let inspected =
        web::block(move || parquetry_convert::inspect(&head, complete, &convert_options, rows))
            .await
            .map_err(|error| anyhow::anyhow!(error).context("inspecting a file"))?;
    Ok(HttpResponse::Ok().json(inspected.map_err(unreadable)?))
}

/// A whole number from 1 to `max` given as `name`, else `default`.
fn bounded(
    options: &mut OptionPairs,
    name: &str,
    default: usize,
    max: usize,
) -> Result<usize, ApiError> {
    let Some(text) = take_option(options, name) else {
        return Ok(default);
    };
    text.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| {
            ApiError::InvalidQuery(format!("{name} must be a whole number from 1 to {max}"))
        })
}

/// An engine error as the answer to an inspection.
fn unreadable(error: ConvertError) -> ApiError {
    match error.kind {
        ErrorKind::InvalidOption => ApiError::InvalidOption(error.message),
        ErrorKind::Io | ErrorKind::Internal | ErrorKind::Canceled => {
            ApiError::Internal(anyhow::anyhow!(error).context("inspecting a file"))
        }
        _ => ApiError::Unreadable(error),
    }
}
