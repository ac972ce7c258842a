//! `POST /v1/jobs`: the upload is streamed to storage as it arrives (never
//! held in memory), its options are checked, then the job is enqueued inside
//! a PRODUCER span whose context travels with the job. A 202 is answered
//! only once the input and the job's row are both durably stored.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::enqueue::enqueue;
use super::problem::ApiError;
use super::quota;
use super::receive::{receive, Received};
use super::upload_body;
use super::views::JobView;
use super::wait::{self, WaitQuery};
use super::AppState;
use crate::jobs::{Inserted, Job, NewJob};

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
pub(super) async fn remove_upload(state: &AppState, id: Uuid) {
    if let Err(error) = state.storage.remove_upload(id).await {
        tracing::warn!(%error, job_id = %id, "could not remove the files of a refused upload");
    }
}
