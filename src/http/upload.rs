//! `POST /v1/jobs`: the upload is streamed to storage as it arrives (never
//! held in memory), its options are checked, then the job is enqueued inside
//! a PRODUCER span whose context travels with the job.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use actix_multipart::{Field, Multipart};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::{Stream, StreamExt};
use parquetry_convert::ConvertOptions;
use tracing::Instrument;
use tracing_actix_web::RootSpan;
use uuid::Uuid;

use super::problem::ApiError;
use super::views::JobView;
use super::AppState;
use crate::jobs::{Inserted, NewJob};
use crate::storage::{UploadError, UploadSink};
use crate::telemetry;

/// Longest accepted value of a non-file multipart field.
const MAX_OPTION_FIELD_BYTES: usize = 64 * 1024;

/// The options of one upload, in the order given (a name may repeat).
type OptionPairs = Vec<(String, String)>;

struct StoredUpload {
    filename: String,
    bytes: u64,
}

pub async fn create_job(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    root_span: RootSpan,
) -> Result<HttpResponse, ApiError> {
    let idempotency_key = idempotency_key(&request)?;
    if let Some(key) = &idempotency_key {
        // A retried upload: answer with the job the first one made, without
        // storing the body again.
        if let Some(existing) = state.store.find_by_idempotency_key(key).await? {
            return Ok(replayed(existing, &state));
        }
    }
    let limit = state.max_upload_bytes;
    if let Some(length) = declared_length(&request) {
        if length > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
    }
    refuse_when_overloaded(&state, declared_length(&request)).await?;
    let mut options: OptionPairs =
        serde_urlencoded::from_str(request.query_string()).map_err(|error| {
            ApiError::InvalidQuery(format!("the query string is malformed: {error}"))
        })?;
    let query_filename = take_option(&mut options, "filename");

    let multipart = is_multipart(&request);
    if !multipart {
        check_raw_content_type(&request)?;
        // Refused now rather than queued to fail: there is nothing to convert.
        if declared_length(&request) == Some(0) {
            return Err(ApiError::EmptyFile);
        }
    }
    check_repeated_options(&options)?;
    let idle = state.upload_idle_timeout;
    let id = Uuid::now_v7();
    let sink = state
        .storage
        .begin_upload(id, limit)
        .await
        .map_err(|error| anyhow::anyhow!(error).context("creating the upload file"))?;
    let received = if multipart {
        let multipart = Multipart::new(request.headers(), payload);
        receive_multipart(multipart, sink, &mut options, idle).await
    } else {
        receive_raw(payload, sink, idle).await
    };
    let stored = match received.and_then(|upload| {
        check_repeated_options(&options)?;
        validate_options(&options).map(|_| upload)
    }) {
        Ok(stored) => stored,
        Err(error) => {
            remove_upload(&state, id).await;
            return Err(error);
        }
    };
    root_span.record("http.request.body.size", stored.bytes);
    state.metrics.upload_bytes.add(stored.bytes, &[]);

    let filename = query_filename
        .or(Some(stored.filename).filter(|f| !f.is_empty()))
        .unwrap_or_else(|| "upload.csv".to_string());
    let inserted = enqueue(
        &state,
        id,
        filename,
        stored.bytes,
        &options,
        idempotency_key,
    )
    .await;
    let job = match inserted {
        Ok(Inserted::Created(job)) => job,
        Ok(Inserted::Existing(job)) => {
            // Two uploads with one key raced and the other won.
            remove_upload(&state, id).await;
            return Ok(replayed(job, &state));
        }
        Err(error) => {
            remove_upload(&state, id).await;
            return Err(error);
        }
    };
    state.metrics.jobs_created.add(1, &[]);
    tracing::info!(job.id = %id, input.bytes = stored.bytes, "job queued");
    Ok(HttpResponse::Accepted()
        .insert_header((header::LOCATION, format!("/v1/jobs/{id}")))
        .json(JobView::new(job, state.trace_url.as_deref())))
}

/// The answer to a retried upload: the original job, 200 instead of 202.
fn replayed(job: crate::jobs::Job, state: &AppState) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::LOCATION, format!("/v1/jobs/{}", job.id)))
        .insert_header(("Idempotent-Replayed", "true"))
        .json(JobView::new(job, state.trace_url.as_deref()))
}

fn idempotency_key(request: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = request.headers().get("Idempotency-Key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .ok_or_else(|| {
            ApiError::InvalidHeader(
                "the Idempotency-Key header must be 1 to 255 visible ASCII characters".into(),
            )
        })?;
    Ok(Some(key.to_string()))
}

/// Refuses an upload before its body is stored when the queue is too long
/// or the disk too full: the client is told to come back later.
async fn refuse_when_overloaded(state: &AppState, declared: Option<u64>) -> Result<(), ApiError> {
    let queued = state.store.count_queued().await?;
    if queued >= state.max_queued_jobs as i64 {
        return Err(ApiError::QueueFull { queued });
    }
    let free = state
        .storage
        .free_bytes()
        .map_err(|error| anyhow::anyhow!(error).context("reading the free disk space"))?;
    // Only uploads written to the local disk can fill it.
    if let Some(free) = free {
        if free.saturating_sub(declared.unwrap_or(0)) < state.min_free_disk_bytes {
            return Err(ApiError::InsufficientStorage);
        }
    }
    Ok(())
}

/// The PRODUCER span of the enqueue; its context is stored in the row so the
/// worker's CONSUMER span continues this trace, in whatever process it runs.
async fn enqueue(
    state: &AppState,
    id: Uuid,
    filename: String,
    bytes: u64,
    options: &OptionPairs,
    idempotency_key: Option<String>,
) -> Result<Inserted, ApiError> {
    let producer = tracing::info_span!(
        "enqueue job",
        otel.name = "publish jobs",
        otel.kind = "producer",
        messaging.system = "parquetry",
        messaging.operation.type = "send",
        messaging.operation.name = "publish",
        messaging.destination.name = "jobs",
        messaging.message.id = %id,
        parquetry.job.id = %id,
    );
    let context = telemetry::trace_context_of(&producer);
    let new_job = NewJob {
        id,
        input_filename: filename,
        input_bytes: bytes as i64,
        options: options_json(options),
        traceparent: context.as_ref().map(|(parent, _)| parent.clone()),
        tracestate: context.and_then(|(_, state)| state),
        trace_id: telemetry::trace_id_of(&producer),
        idempotency_key,
        max_attempts: state.max_attempts,
    };
    Ok(state.store.insert(&new_job).instrument(producer).await?)
}

/// Options as stored with the job: name → value, or a list of values when a
/// name was given more than once (e.g. several `date_format`s).
fn options_json(options: &OptionPairs) -> serde_json::Value {
    let mut grouped: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, value) in options {
        grouped.entry(name).or_default().push(value);
    }
    grouped
        .into_iter()
        .map(|(name, values)| {
            let value = if values.len() == 1 {
                serde_json::Value::from(values[0])
            } else {
                serde_json::Value::from(values)
            };
            (name.to_string(), value)
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// Parses the options the way the worker will, so a mistake is a 400 now
/// rather than a failed job later.
fn validate_options(options: &OptionPairs) -> Result<ConvertOptions, ApiError> {
    let mut parsed = ConvertOptions::default();
    for (name, value) in options {
        parsed
            .set(name, value)
            .map_err(|error| ApiError::InvalidOption(error.to_string()))?;
    }
    // Combinations (a level with a codec that has none) are only known once all are set.
    parsed
        .validate()
        .map_err(|error| ApiError::InvalidOption(error.to_string()))?;
    Ok(parsed)
}

fn check_repeated_options(options: &OptionPairs) -> Result<(), ApiError> {
    let mut seen = HashSet::new();
    for (name, _) in options {
        // Unknown names pass here and are refused with the list of known ones by `set`.
        let key = ConvertOptions::canonical_name(name).unwrap_or(name.as_str());
        if !ConvertOptions::REPEATABLE.contains(&key) && !seen.insert(key) {
            return Err(ApiError::InvalidOption(format!(
                "`{name}` is given more than once; only date_format and timestamp_format \
                 repeat (null_values takes one comma-separated list)"
            )));
        }
    }
    Ok(())
}

/// The next item of an upload body, or `upload-timeout` when the client
/// sends nothing for `idle`: a stalled upload must not hold its connection
/// and partial file forever.
async fn next_within<S: Stream + Unpin>(
    stream: &mut S,
    idle: Duration,
) -> Result<Option<S::Item>, ApiError> {
    tokio::time::timeout(idle, stream.next())
        .await
        .map_err(|_| ApiError::UploadTimeout(idle.as_secs()))
}

fn take_option(options: &mut OptionPairs, name: &str) -> Option<String> {
    let position = options.iter().position(|(n, _)| n == name)?;
    Some(options.remove(position).1)
}

fn declared_length(request: &HttpRequest) -> Option<u64> {
    request
        .headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn content_type(request: &HttpRequest) -> String {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn is_multipart(request: &HttpRequest) -> bool {
    content_type(request) == "multipart/form-data"
}

/// A raw body may be CSV text or compressed bytes. `curl --data-binary`
/// sends `application/x-www-form-urlencoded` unless told otherwise, so that
/// is accepted too; structured types that cannot be a CSV are refused.
fn check_raw_content_type(request: &HttpRequest) -> Result<(), ApiError> {
    let kind = content_type(request);
    let accepted = kind.is_empty()
        || kind.starts_with("text/")
        || matches!(
            kind.as_str(),
            "application/octet-stream"
                | "application/csv"
                | "application/x-www-form-urlencoded"
                | "application/gzip"
                | "application/x-gzip"
                | "application/zstd"
        );
    if accepted {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(kind))
    }
}

fn upload_error(error: UploadError) -> ApiError {
    match error {
        UploadError::TooLarge { limit } => ApiError::PayloadTooLarge { limit },
        UploadError::Storage(error) => {
            ApiError::Internal(anyhow::anyhow!(error).context("writing an upload"))
        }
    }
}

async fn receive_raw(
    mut payload: web::Payload,
    mut sink: UploadSink,
    idle: Duration,
) -> Result<StoredUpload, ApiError> {
    loop {
        let outcome = match next_within(&mut payload, idle).await {
            Ok(None) => break,
            Ok(Some(Ok(chunk))) => sink.write(&chunk).await.map_err(upload_error),
            Ok(Some(Err(error))) => {
                // actix's wording ("payload reached EOF before completing: None") means
                // nothing to a client; say what happened and keep the cause for the logs.
                tracing::info!(%error, "upload body ended early");
                Err(ApiError::UploadInterrupted(
                    "the connection closed before the whole body arrived".into(),
                ))
            }
            Err(error) => Err(error),
        };
        if let Err(error) = outcome {
            sink.abort().await;
            return Err(error);
        }
    }
    finish(sink, String::new()).await
}

async fn finish(sink: UploadSink, filename: String) -> Result<StoredUpload, ApiError> {
    if sink.bytes_written() == 0 {
        sink.abort().await;
        return Err(ApiError::EmptyFile);
    }
    let bytes = sink
        .finish()
        .await
        .map_err(|error| anyhow::anyhow!(error).context("storing an upload"))?;
    Ok(StoredUpload { filename, bytes })
}

async fn receive_multipart(
    mut multipart: Multipart,
    sink: UploadSink,
    options: &mut OptionPairs,
    idle: Duration,
) -> Result<StoredUpload, ApiError> {
    let mut sink = Some(sink);
    let mut stored = None;
    loop {
        let field = match next_within(&mut multipart, idle).await {
            Ok(None) => break,
            Ok(Some(field)) => field,
            Err(error) => {
                if let Some(sink) = sink {
                    sink.abort().await;
                }
                return Err(error);
            }
        };
        let outcome = match field {
            Err(error) => Err(ApiError::InvalidMultipart(error.to_string())),
            Ok(field) => match field.name().unwrap_or("").to_string().as_str() {
                "file" => match sink.take() {
                    Some(sink) => receive_file_field(field, sink, idle)
                        .await
                        .map(|s| stored = Some(s)),
                    None => Err(ApiError::InvalidMultipart(
                        "only one part named `file` is accepted".into(),
                    )),
                },
                name => read_text_field(field, idle)
                    .await
                    .map(|value| options.push((name.to_string(), value))),
            },
        };
        if let Err(error) = outcome {
            if let Some(sink) = sink {
                sink.abort().await;
            }
            return Err(error);
        }
    }
    if let Some(sink) = sink {
        sink.abort().await;
        return Err(ApiError::MissingFile);
    }
    let mut stored = stored.ok_or(ApiError::MissingFile)?;
    if let Some(name) = take_option(options, "filename") {
        stored.filename = name;
    }
    Ok(stored)
}

async fn receive_file_field(
    mut field: Field,
    mut sink: UploadSink,
    idle: Duration,
) -> Result<StoredUpload, ApiError> {
    let filename = field
        .content_disposition()
        .and_then(|disposition| disposition.get_filename())
        .unwrap_or("")
        .to_string();
    loop {
        let outcome = match next_within(&mut field, idle).await {
            Ok(None) => break,
            Ok(Some(Ok(chunk))) => sink.write(&chunk).await.map_err(upload_error),
            Ok(Some(Err(error))) => Err(ApiError::InvalidMultipart(error.to_string())),
            Err(error) => Err(error),
        };
        if let Err(error) = outcome {
            sink.abort().await;
            return Err(error);
        }
    }
    finish(sink, filename).await
}

async fn read_text_field(mut field: Field, idle: Duration) -> Result<String, ApiError> {
    let name = field.name().unwrap_or("").to_string();
    let mut value = Vec::new();
    while let Some(chunk) = next_within(&mut field, idle).await? {
        let chunk = chunk.map_err(|error| ApiError::InvalidMultipart(error.to_string()))?;
        if value.len() + chunk.len() > MAX_OPTION_FIELD_BYTES {
            return Err(ApiError::InvalidOption(format!(
                "the value of `{name}` is longer than {MAX_OPTION_FIELD_BYTES} bytes"
            )));
        }
        value.extend_from_slice(&chunk);
    }
    String::from_utf8(value)
        .map_err(|_| ApiError::InvalidOption(format!("the value of `{name}` is not UTF-8")))
}

async fn remove_upload(state: &AppState, id: Uuid) {
    if let Err(error) = state.storage.remove_job_files(id).await {
        tracing::warn!(%error, job.id = %id, "could not remove the files of a refused upload");
    }
}
