//! `GET /v1/jobs/{id}/rejects`: the rows `on_error=skip` left out of a
//! finished job, as CSV (`line,column,code,message,raw`). A finished job
//! without rejects answers the header line alone, so a client can always
//! read the file the same way.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::jobs::{find, parse_job_id};
use super::problem::ApiError;
use super::AppState;

const CSV: &str = "text/csv; charset=utf-8";

pub async fn get_rejects(
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
    principal: crate::jobs::Principal,
) -> Result<HttpResponse, ApiError> {
    let id = parse_job_id(&path)?;
    let job = find(&state, &principal.scope(), id).await?;
    if !job.status.is_finished() {
        return Err(ApiError::JobNotFinished(job.status));
    }
    let rejects =
        state.storage.rejects(id).await.map_err(|error| {
            anyhow::anyhow!(error).context("reading the rejects of a finished job")
        })?;
    let Some(rejects) = rejects else {
        return Ok(HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, CSV))
            .body(parquetry_convert::REJECTS_HEADER.join(",") + "\n"));
    };
    let disposition = super::jobs::attachment(&format!("{id}.rejects.csv"));
    super::download::respond_as(&request, rejects, disposition, CSV).await
}
