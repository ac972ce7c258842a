//! `GET /v1/jobs/{id}/preview`: the first rows of a succeeded job's result
//! as typed JSON, read from storage without downloading the file.

use actix_web::{web, HttpResponse};
use parquetry_convert::JsonRows;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::jobs::{find, parse_job_id};
use super::problem::ApiError;
use super::AppState;
use crate::jobs::JobStatus;

const DEFAULT_ROWS: usize = 20;
const MAX_ROWS: usize = 1000;

#[derive(Debug, Deserialize)]
pub struct PreviewQuery {
    limit: Option<String>,
}

/// The answer: `columns` and `rows` as `rows_as_json` gives them, beside
/// the job and the file's row count.
#[derive(Serialize)]
struct PreviewView {
    job_id: Uuid,
    rows_total: u64,
    #[serde(flatten)]
    rows: JsonRows,
}

/// 404 for an unknown job, 410 for an expired one, 409 until it has a
/// result: as `GET /v1/jobs/{id}/result` answers.
pub async fn preview_result(
    path: web::Path<String>,
    query: web::Query<PreviewQuery>,
    state: web::Data<AppState>,
    principal: crate::jobs::Principal,
) -> Result<HttpResponse, ApiError> {
    let limit = match query.limit.as_deref() {
        None => DEFAULT_ROWS,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_ROWS).contains(n))
            .ok_or_else(|| {
                ApiError::InvalidQuery(format!("limit must be a whole number from 1 to {MAX_ROWS}"))
            })?,
    };
    let id = parse_job_id(&path)?;
    let job = find(&state, &principal.scope(), id).await?;
    if job.status != JobStatus::Succeeded {
        return Err(ApiError::JobNotSucceeded(job.status));
    }
    let preview = state
        .storage
        .result_preview(id, limit)
        .await
        .map_err(|error| {
            anyhow::anyhow!(error).context("previewing the result of a succeeded job")
        })?;
    Ok(HttpResponse::Ok().json(PreviewView {
        job_id: id,
        rows_total: preview.rows_total,
        rows: preview.rows,
    }))
}
