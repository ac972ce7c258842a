//! Share links of a result (issue 14): `POST /v1/jobs/{id}/links` signs a
//! URL, `GET /v1/shared/{token}` downloads the result with it and no key.
//! The link names one job and an expiry, both under the signature (see
//! `link_signer`); it stops working at expiry, when the job is deleted or
//! expires (its row is gone: 404, or 410 while its tombstone lasts), and
//! when the link secret changes.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::jobs::{attachment, find, parse_job_id, result_filename};
use super::link_signer::Refusal;
use super::problem::ApiError;
use super::AppState;
use crate::jobs::{JobStatus, Principal, Scope};

/// Seconds a link lasts when the request does not say.
const DEFAULT_EXPIRES_IN: u64 = 3600;

/// `expires_in`, from the query string or a JSON body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    expires_in: Option<u64>,
}

#[derive(Debug, Serialize)]
struct LinkView {
    url: String,
    expires_at: String,
}

/// `POST /v1/jobs/{id}/links`: a signed URL of the job's result, valid for
/// `expires_in` seconds (default an hour, at most until the job expires).
pub async fn create_link(
    request: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    let id = parse_job_id(&path)?;
    let asked = link_request(&request, &body)?;
    let job = find(&state, &principal.scope(), id).await?;
    if job.status != JobStatus::Succeeded {
        return Err(ApiError::JobNotSucceeded(job.status));
    }
    let now = Utc::now();
    let expires_in = asked.expires_in.unwrap_or(DEFAULT_EXPIRES_IN);
    let lifetime = job
        .expires_at
        .map(|expires| (expires - now).num_seconds().max(0) as u64);
    // A succeeded job always has an expiry; a year bounds one that would not.
    let longest = lifetime.unwrap_or(365 * 24 * 3600);
    if expires_in == 0 || expires_in > longest {
        return Err(ApiError::InvalidQuery(format!(
            "expires_in must be 1 to {longest} seconds: a link lasts at most until its job \
             expires"
        )));
    }
    let expires = now.timestamp() + expires_in as i64;
    let token = state.links.sign(id, expires);
    let path = format!("/v1/shared/{token}");
    let info = request.connection_info();
    let view = LinkView {
        url: format!("{}://{}{path}", info.scheme(), info.host()),
        expires_at: DateTime::<Utc>::from_timestamp(expires, 0)
            .unwrap_or(now)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    };
    tracing::info!(job_id = %id, parquetry.tenant = %job.tenant, expires_in, "share link made");
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, path))
        .json(view))
}

/// The request's `expires_in`: a query parameter or a JSON body (not both).
fn link_request(request: &HttpRequest, body: &[u8]) -> Result<LinkRequest, ApiError> {
    let query: LinkRequest =
        serde_urlencoded::from_str(request.query_string()).map_err(|error| {
            ApiError::InvalidQuery(format!("the query string is malformed: {error}"))
        })?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(query);
    }
    let from_body: LinkRequest = serde_json::from_slice(body).map_err(|error| {
        ApiError::InvalidBody(format!(
            "the body must be a JSON object like {{\"expires_in\": 3600}}: {error}"
        ))
    })?;
    match (query.expires_in, from_body.expires_in) {
        (Some(_), Some(_)) => Err(ApiError::InvalidQuery(
            "give expires_in in the query string or the body, not both".into(),
        )),
        (query, body) => Ok(LinkRequest {
            expires_in: query.or(body),
        }),
    }
}

/// `GET`/`HEAD /v1/shared/{token}`: the result a link names, with no key,
/// answered like `GET /v1/jobs/{id}/result` (`Range`, `ETag`, `HEAD`).
pub async fn shared_result(
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = match state.links.verify(&path, Utc::now().timestamp()) {
        Ok(id) => id,
        Err(Refusal::Invalid) => return Err(ApiError::InvalidLink),
        Err(Refusal::Expired) => return Err(ApiError::LinkExpired),
    };
    // The signature is the permission: the job is read for every tenant.
    let job = find(&state, &Scope::All, id).await?;
    if job.status != JobStatus::Succeeded {
        return Err(ApiError::JobNotSucceeded(job.status));
    }
    let disposition = attachment(&result_filename(&job.input_filename));
    let result =
        state.storage.result(id).await.map_err(|error| {
            anyhow::anyhow!(error).context("reading the result of a shared job")
        })?;
    super::download::respond(&request, result, disposition).await
}
