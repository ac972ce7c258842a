//! `POST /v1/jobs`: the upload is streamed to storage as it arrives (never
//! held in memory), its options are checked, then the job is enqueued inside
//! a PRODUCER span whose context travels with the job. A 202 is answered
//! only once the input and the job's row are both durably stored.

use actix_multipart::Multipart;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};
use tracing::field::Empty;
use tracing::Instrument;
use uuid::Uuid;

use super::early_start::EarlyStart;
use super::enqueue::enqueue;
use super::problem::ApiError;
use super::quota;
use super::upload_body::{self, BodyWriter, OptionPairs, StoredUpload};
use super::upload_options::{decode_options, stored_options, take_option};
use super::views::JobView;
use super::wait::{self, WaitQuery};
use super::AppState;
use crate::jobs::{Inserted, Job, NewJob};
use crate::webhooks::CallbackRefused;
use crate::worker::HeadStart;

/// Longest accepted file name, in bytes (a common file-system limit).
const MAX_FILENAME_BYTES: usize = 255;

pub async fn create_job(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    principal: crate::jobs::Principal,
) -> Result<HttpResponse, ApiError> {
    let received_at = chrono::Utc::now();
    let idempotency_key = idempotency_key(&request)?;
    let patience = WaitQuery::from_query_string(request.query_string())?.duration()?;
    let declared = declared_length(&request);
    if declared.is_some_and(|length| length > state.max_upload_bytes) {
        return Err(ApiError::PayloadTooLarge {
            limit: state.max_upload_bytes,
        });
    }
    refuse_when_overloaded(&state, declared).await?;
    let room = quota::check(&state, &principal, declared, idempotency_key.as_deref()).await?;
    let id = Uuid::now_v7();
    let with_digest = idempotency_key.is_some();
    let limit = quota::upload_limit(&state, room);
    let Received {
        stored,
        filename,
        options,
        callback_url,
        head_start,
    } = receive(
        &request,
        payload,
        &state,
        (id, &principal.tenant, limit),
        with_digest,
    )
    .await
    .map_err(|error| quota::over_room(error, &state, room))?;
    state.metrics.upload_bytes.add(stored.bytes, &[]);

    // A callback that is the server's default is what no callback means.
    let chosen_callback = callback_url
        .as_deref()
        .filter(|url| Some(*url) != state.webhooks.default_url());
    let request_digest = stored
        .digest
        .as_deref()
        .map(|body| request_digest(&options, &filename, chosen_callback, body));
    let new_job = NewJob {
        id,
        input_filename: filename,
        input_bytes: stored.bytes as i64,
        options,
        traceparent: None,
        tracestate: None,
        trace_id: None,
        idempotency_key,
        request_digest: request_digest.clone(),
        tenant: principal.tenant.clone(),
        max_attempts: state.max_attempts,
        received_at,
        callback_url,
    };
    let job = match enqueue(&state, new_job, head_start.as_ref()).await {
        Ok(Inserted::Created(job)) => {
            if let Some(head_start) = head_start {
                head_start.hand_over(job.clone());
            }
            job
        }
        Ok(Inserted::Existing(existing)) => {
            // The key was used before (or by a concurrent upload that won):
            // this upload's copy is not needed either way.
            remove_upload(&state, id).await;
            return replayed(existing, request_digest, &state);
        }
        Err(error) => {
            remove_upload(&state, id).await;
            return Err(error);
        }
    };
    state.metrics.jobs_created.add(1, &[]);
    tracing::info!(
        job_id = %id,
        parquetry.tenant = %principal.tenant,
        input.bytes = stored.bytes as i64,
        "job queued"
    );
    match patience {
        Some(patience) => answer_when_finished(&state, &principal.scope(), job, patience).await,
        None => Ok(accepted(job, &state)),
    }
}

/// 202: the job is stored and will run.
fn accepted(job: Job, state: &AppState) -> HttpResponse {
    HttpResponse::Accepted()
        .insert_header((header::LOCATION, format!("/v1/jobs/{}", job.id)))
        .json(JobView::new(job, state.trace_url.as_deref()))
}

/// `POST /v1/jobs?wait=SECONDS`: a job that finishes within the time is
/// answered 200 as it finished, with its result's `Location` when it
/// succeeded; one still queued or running is answered 202, as without
/// `wait`.
async fn answer_when_finished(
    state: &AppState,
    scope: &crate::jobs::Scope,
    job: Job,
    patience: std::time::Duration,
) -> Result<HttpResponse, ApiError> {
    let id = job.id;
    let job = match wait::finished(state, scope, id, patience).await {
        Ok(job) => job,
        // The job is stored: a failure to read it back must not turn the
        // upload into an error the client would retry.
        Err(error) => {
            tracing::warn!(job_id = %id, error = %error, "could not wait for the job; answering 202");
            return Ok(accepted(job, state));
        }
    };
    if !job.status.is_finished() {
        return Ok(accepted(job, state));
    }
    let mut answer = HttpResponse::Ok();
    answer.insert_header((header::CONTENT_LOCATION, format!("/v1/jobs/{id}")));
    if job.status == crate::jobs::JobStatus::Succeeded {
        answer.insert_header((header::LOCATION, format!("/v1/jobs/{id}/result")));
    }
    Ok(answer.json(JobView::new(job, state.trace_url.as_deref())))
}

/// A stored upload, with what the job is made of.
struct Received {
    stored: StoredUpload,
    filename: String,
    options: serde_json::Value,
    callback_url: Option<String>,
    /// Its conversion, begun while it arrived.
    head_start: Option<HeadStart>,
}

/// Checks what can be checked before the body, stores the body as job
/// `id`'s input, and returns it with the job's file name and stored options.
/// Nothing is left behind on an error: a failed body is aborted by its sink,
/// a body refused once complete is removed here.
async fn receive(
    request: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    (id, tenant, limit): (Uuid, &str, u64),
    with_digest: bool,
) -> Result<Received, ApiError> {
    let mut options: OptionPairs =
        serde_urlencoded::from_str(request.query_string()).map_err(|error| {
            ApiError::InvalidQuery(format!("the query string is malformed: {error}"))
        })?;
    let query_filename = take_option(&mut options, "filename");
    // A refused callback in the query string costs no upload.
    let query_callback = match take_callback(&mut options)? {
        Some(given) => Some(job_callback(state, Some(&given)).await?),
        None => None,
    };
    // Read by `create_job`: how long to wait for the job, not an option.
    while take_option(&mut options, "wait").is_some() {}
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
    let idle = state.upload_idle_timeout;
    // The body's transfer is a stage of its own in the trace: a 100 MB upload
    // is seconds of the request, with its size and rate.
    let receiving = tracing::info_span!(
        "receive upload",
        parquetry.upload.bytes = Empty,
        parquetry.upload.bytes_per_second = Empty,
    );
    let started = std::time::Instant::now();
    let upload = async {
        if multipart {
            let multipart = Multipart::new(request.headers(), payload);
            let begin_early = |known: &OptionPairs| {
                early = EarlyStart::begin(state, (id, tenant), known, arrival);
            };
            upload_body::receive_multipart(multipart, (writer, begin_early), &mut options, idle)
                .await
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
    let callback_url = match form_callback(state, &mut options, query_callback).await {
        Ok(callback_url) => callback_url,
        Err(error) => {
            remove_upload(state, id).await;
            return Err(error);
        }
    };
    let form_filename = take_option(&mut options, "filename");
    let accepted = job_filename(query_filename.or(form_filename), &upload)
        .and_then(|filename| stored_options(&options).map(|options| (filename, options)));
    match accepted {
        Ok((filename, options)) => {
            let head_start = match early {
                Some(early) => early.keep_if_options_are(&options).await,
                None => None,
            };
            Ok(Received {
                stored: upload,
                filename,
                options,
                callback_url,
                head_start,
            })
        }
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

/// SHA-256 over what defines the request for its idempotency key: the
/// options, the file name, the callback URL it chose (left out when none,
/// so digests of uploads without one stay as they were) and the body's own
/// digest.
fn request_digest(
    options: &serde_json::Value,
    filename: &str,
    callback_url: Option<&str>,
    body: &[u8],
) -> String {
    let mut digest = Sha256::new();
    digest.update(options.to_string().as_bytes());
    digest.update([0]);
    digest.update(filename.as_bytes());
    digest.update([0]);
    if let Some(url) = callback_url {
        digest.update(url.as_bytes());
        digest.update([0]);
    }
    digest.update(body);
    let bytes = digest.finalize();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The answer to a retried upload: the original job, 200 instead of 202;
/// 422 when the key was first used for a different request.
fn replayed(job: Job, digest: Option<String>, state: &AppState) -> Result<HttpResponse, ApiError> {
    if let (Some(first), Some(this)) = (&job.request_digest, &digest) {
        if first != this {
            return Err(ApiError::IdempotencyKeyReused);
        }
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::LOCATION, format!("/v1/jobs/{}", job.id)))
        .insert_header(("Idempotent-Replayed", "true"))
        .json(JobView::new(job, state.trace_url.as_deref())))
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
    let room = state
        .storage
        .has_room_for(declared.unwrap_or(0))
        .map_err(|error| anyhow::anyhow!(error).context("reading the free disk space"))?;
    if !room {
        return Err(ApiError::InsufficientStorage);
    }
    Ok(())
}

pub(super) fn declared_length(request: &HttpRequest) -> Option<u64> {
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

pub(super) fn is_multipart(request: &HttpRequest) -> bool {
    content_type(request) == "multipart/form-data"
}

/// A raw body may be CSV text or compressed bytes. `curl --data-binary`
/// sends `application/x-www-form-urlencoded` unless told otherwise, so that
/// is accepted too; structured types that cannot be a CSV are refused.
pub(super) fn check_raw_content_type(request: &HttpRequest) -> Result<(), ApiError> {
    let kind = content_type(request);
    if upload_body::accepts_raw(&kind) {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(kind))
    }
}

/// Removes the stored input of an upload that made no job.
async fn remove_upload(state: &AppState, id: Uuid) {
    if let Err(error) = state.storage.remove_upload(id).await {
        tracing::warn!(%error, job_id = %id, "could not remove the files of a refused upload");
    }
}
