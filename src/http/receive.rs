//! Receiving an upload for `POST /v1/jobs`: what can be checked before the
//! body, the body streamed to storage (its conversion begun while it
//! arrives when it can: see `early_start`), then what can be checked only
//! once it is in. Nothing is left behind on an error.

use std::time::Duration;

use actix_multipart::Multipart;
use actix_web::{web, HttpRequest};
use tracing::field::Empty;
use tracing::Instrument;
use uuid::Uuid;

use super::early_start::EarlyStart;
use super::problem::ApiError;
use super::upload::{check_raw_content_type, declared_length, is_multipart, remove_upload};
use super::upload_body::{self, BodyWriter, OptionPairs, StoredUpload};
use super::upload_options::{decode_options, stored_options, take_option};
use super::AppState;
use crate::webhooks::CallbackRefused;
use crate::worker::HeadStart;

/// Longest accepted file name, in bytes (a common file-system limit).
const MAX_FILENAME_BYTES: usize = 255;

/// A stored upload, with what the job is made of.
pub(super) struct Received {
    pub stored: StoredUpload,
    pub filename: String,
    pub options: serde_json::Value,
    pub callback_url: Option<String>,
    /// Its conversion, begun while it arrived.
    pub head_start: Option<HeadStart>,
}

/// What the upload's query string asked for, besides conversion options.
struct QueryParts {
    filename: Option<String>,
    /// The query's callback URL once checked (`Some(None)` when it was the
    /// server's default), if it had one.
    callback: Option<Option<String>>,
}

/// Checks what can be checked before the body, stores the body as job
/// `id`'s input, and returns it with the job's file name and stored options.
/// Nothing is left behind on an error: a failed body is aborted by its sink,
/// a body refused once complete is removed, and a conversion begun while it
/// arrived is stopped and its files removed, all before the error answers.
pub(super) async fn receive(
    request: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    (id, tenant, limit): (Uuid, &str, u64),
    with_digest: bool,
) -> Result<Received, ApiError> {
    let (mut options, query) = read_query(request, state).await?;
    let multipart = is_multipart(request);
    if !multipart {
        check_raw_content_type(request)?;
        // Refused now rather than queued to fail: there is nothing to convert.
        if declared_length(request) == Some(0) {
            return Err(ApiError::EmptyFile);
        }
    }
    decode_options(&options)?;
    let sink = state
        .storage
        .begin_upload(id, limit)
        .await
        .map_err(|error| anyhow::anyhow!(error).context("creating the upload file"))?;
    let arrival = sink.arrival();
    // A raw body's options are all known now; a form's once its file begins.
    let mut early = match multipart {
        false => EarlyStart::begin(state, (id, tenant), &options, arrival.clone()),
        true => None,
    };
    let writer = BodyWriter::new(sink, with_digest);
    let file_begins = |known: &OptionPairs| {
        early = EarlyStart::begin(state, (id, tenant), known, arrival);
    };
    let idle = state.upload_idle_timeout;
    let received = async {
        let upload = receive_body(
            (request, payload),
            writer,
            &mut options,
            (idle, file_begins),
        )
        .await?;
        accept(state, id, upload, &mut options, query).await
    }
    .await;
    match received {
        Ok(mut received) => {
            if let Some(early) = early {
                received.head_start = early.keep_if_options_are(&received.options).await;
            }
            Ok(received)
        }
        Err(error) => {
            if let Some(early) = early {
                early.abandon().await;
            }
            Err(error)
        }
    }
}

/// The query string's options, with its file name and checked callback URL
/// taken out; `wait` is `create_job`'s.
async fn read_query(
    request: &HttpRequest,
    state: &AppState,
) -> Result<(OptionPairs, QueryParts), ApiError> {
    let mut options: OptionPairs =
        serde_urlencoded::from_str(request.query_string()).map_err(|error| {
            ApiError::InvalidQuery(format!("the query string is malformed: {error}"))
        })?;
    let filename = take_option(&mut options, "filename");
    // A refused callback in the query string costs no upload.
    let callback = match take_callback(&mut options)? {
        Some(given) => Some(job_callback(state, Some(&given)).await?),
        None => None,
    };
    // Read by `create_job`: how long to wait for the job, not an option.
    while take_option(&mut options, "wait").is_some() {}
    Ok((options, QueryParts { filename, callback }))
}

/// Stores the body through `writer`: the raw CSV, or a form whose fields go
/// into `options` (`file_begins` as for `receive_multipart`).
async fn receive_body(
    (request, payload): (&HttpRequest, web::Payload),
    writer: BodyWriter,
    options: &mut OptionPairs,
    (idle, file_begins): (Duration, impl FnOnce(&OptionPairs)),
) -> Result<StoredUpload, ApiError> {
    // The body's transfer is a stage of its own in the trace: a 100 MB upload
    // is seconds of the request, with its size and rate.
    let receiving = tracing::info_span!(
        "receive upload",
        parquetry.upload.bytes = Empty,
        parquetry.upload.bytes_per_second = Empty,
    );
    let started = std::time::Instant::now();
    let upload = async {
        if is_multipart(request) {
            let multipart = Multipart::new(request.headers(), payload);
            upload_body::receive_multipart(multipart, (writer, file_begins), options, idle).await
        } else {
            upload_body::receive_raw(payload, writer, idle).await
        }
    }
    .instrument(receiving.clone())
    .await?;
    receiving.record("parquetry.upload.bytes", upload.bytes as i64);
    let seconds = started.elapsed().as_secs_f64();
    if seconds > 0.0 {
        receiving.record(
            "parquetry.upload.bytes_per_second",
            upload.bytes as f64 / seconds,
        );
    }
    Ok(upload)
}

/// Checks what only the whole form tells (the callback URL, the file name,
/// the options as stored); a refused upload is removed.
async fn accept(
    state: &AppState,
    id: Uuid,
    upload: StoredUpload,
    options: &mut OptionPairs,
    query: QueryParts,
) -> Result<Received, ApiError> {
    let accepted = async {
        let callback_url = form_callback(state, options, query.callback).await?;
        let form_filename = take_option(options, "filename");
        let filename = job_filename(query.filename.or(form_filename), &upload)?;
        Ok((filename, stored_options(options)?, callback_url))
    }
    .await;
    match accepted {
        Ok((filename, options, callback_url)) => Ok(Received {
            stored: upload,
            filename,
            options,
            callback_url,
            head_start: None,
        }),
        Err(error) => {
            remove_upload(state, id).await;
            Err(error)
        }
    }
}

/// The `callback_url` field or parameter, which may be given once.
fn take_callback(options: &mut OptionPairs) -> Result<Option<String>, ApiError> {
    let given = take_option(options, "callback_url");
    if take_option(options, "callback_url").is_some() {
        return Err(ApiError::InvalidOption(
            "callback_url is given more than once".into(),
        ));
    }
    Ok(given)
}

/// The job's callback URL, `given` checked (see `crate::webhooks`), or the
/// server's default.
async fn job_callback(state: &AppState, given: Option<&str>) -> Result<Option<String>, ApiError> {
    state
        .webhooks
        .callback_url(given)
        .await
        .map_err(|refused| match refused {
            CallbackRefused::Disabled => ApiError::WebhooksDisabled,
            CallbackRefused::Refused(message) => ApiError::CallbackUrlRefused(message),
        })
}

/// The job's callback URL once the form's fields are read: the query's
/// (already checked), or the form's, but not both.
async fn form_callback(
    state: &AppState,
    options: &mut OptionPairs,
    query_callback: Option<Option<String>>,
) -> Result<Option<String>, ApiError> {
    let form = take_callback(options)?;
    match (query_callback, form) {
        (Some(_), Some(_)) => Err(ApiError::InvalidOption(
            "callback_url is given both in the query string and as a form field".into(),
        )),
        (Some(checked), None) => Ok(checked),
        (None, form) => job_callback(state, form.as_deref()).await,
    }
}

/// The job's file name: the `filename` option, else the multipart part's,
/// else `upload.csv`. It is stored and echoed, so it must be text a
/// database and a `Content-Disposition` can carry.
fn job_filename(given: Option<String>, upload: &StoredUpload) -> Result<String, ApiError> {
    let name = given
        .or(Some(upload.filename.clone()).filter(|f| !f.is_empty()))
        .unwrap_or_else(|| "upload.csv".to_string());
    if name.chars().any(char::is_control) {
        return Err(ApiError::InvalidFilename(
            "the file name contains control characters (such as NUL or a line break)".into(),
        ));
    }
    if name.len() > MAX_FILENAME_BYTES {
        return Err(ApiError::InvalidFilename(format!(
            "the file name is longer than {MAX_FILENAME_BYTES} bytes"
        )));
    }
    Ok(name)
}
