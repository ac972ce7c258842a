//! Reading, listing, downloading and removing jobs.

use actix_web::http::header::{
    Charset, ContentDisposition, DispositionParam, DispositionType, ExtendedValue,
};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use uuid::Uuid;

use super::problem::ApiError;
use super::views::{JobListView, JobView};
use super::wait::{self, WaitQuery};
use super::AppState;
use crate::jobs::{JobStatus, ListCursor, Principal, Removal, Scope};

const DEFAULT_PAGE_SIZE: i64 = 20;
const MAX_PAGE_SIZE: i64 = 100;

/// An id that is not a UUID names no job: 404, like an unknown one.
pub(super) fn parse_job_id(raw: &str) -> Result<Uuid, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound)
}

/// 410 for a job of `scope` that expired, 404 for one that never existed
/// or is another tenant's.
async fn missing(state: &AppState, scope: &Scope, id: Uuid) -> ApiError {
    match state.store.is_expired(scope, id).await {
        Ok(true) => ApiError::Gone,
        Ok(false) => ApiError::NotFound,
        Err(error) => error.into(),
    }
}

/// The job if the caller may see it: another tenant's job is 404, exactly
/// like one that does not exist.
pub(super) async fn find(
    state: &AppState,
    scope: &Scope,
    id: Uuid,
) -> Result<crate::jobs::Job, ApiError> {
    match state.store.find(scope, id).await? {
        Some(job) => Ok(job),
        None => Err(missing(state, scope, id).await),
    }
}

/// The job; with `?wait=SECONDS`, once its status changes (at once when it
/// has finished), or as it is when the time is up.
pub async fn get_job(
    path: web::Path<String>,
    query: web::Query<WaitQuery>,
    state: web::Data<AppState>,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    let id = parse_job_id(&path)?;
    let patience = query.duration()?;
    let scope = principal.scope();
    let mut job = find(&state, &scope, id).await?;
    if let Some(patience) = patience {
        job = wait::status_change(&state, &scope, id, job.status, patience).await?;
    }
    Ok(HttpResponse::Ok().json(JobView::new(job, state.trace_url.as_deref())))
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

pub async fn list_jobs(
    query: web::Query<ListQuery>,
    state: web::Data<AppState>,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    // An empty value (`status=`) is refused like any other value the
    // schema does not allow, not taken as "no filter".
    let status = match query.status.as_deref() {
        None => None,
        Some(text) => Some(JobStatus::parse(text).ok_or_else(|| {
            ApiError::InvalidQuery(format!(
                "unknown status {text:?}: use queued, running, succeeded, failed or canceled"
            ))
        })?),
    };
    let limit = match query.limit.as_deref() {
        None => DEFAULT_PAGE_SIZE,
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
            .ok_or_else(|| {
                ApiError::InvalidQuery(format!(
                    "limit must be a whole number from 1 to {MAX_PAGE_SIZE}"
                ))
            })?,
    };
    let cursor = match query.cursor.as_deref() {
        None => None,
        Some(token) => Some(ListCursor::decode(token).ok_or(ApiError::InvalidCursor)?),
    };
    // One row more than asked tells whether another page exists.
    let jobs = state
        .store
        .list(&principal.scope(), status, limit + 1, cursor.as_ref())
        .await?;
    let page = JobListView::page(jobs, limit as usize, state.trace_url.as_deref());
    Ok(HttpResponse::Ok().json(page))
}

/// Streams the Parquet file (headers only for HEAD), answering `Range`,
/// `If-Range` and `If-None-Match` (see `download`), after
/// `range::ignore_unusable_range` dropped a `Range` to be ignored.
pub async fn get_result(
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    let id = parse_job_id(&path)?;
    let job = find(&state, &principal.scope(), id).await?;
    if job.status != JobStatus::Succeeded {
        return Err(ApiError::JobNotSucceeded(job.status));
    }
    let disposition = attachment(&result_filename(&job.input_filename));
    let result =
        state.storage.result(id).await.map_err(|error| {
            anyhow::anyhow!(error).context("reading the result of a succeeded job")
        })?;
    super::download::respond(&request, result, disposition).await
}

/// `Content-Disposition: attachment` naming the file. A non-ASCII name goes in
/// `filename*` (RFC 6266, UTF-8), which clients decode correctly, with an ASCII
/// `filename` for those that only read that one.
pub(super) fn attachment(filename: &str) -> ContentDisposition {
    let mut parameters = vec![DispositionParam::Filename(
        filename
            .chars()
            .map(|c| if c.is_ascii() { c } else { '_' })
            .collect(),
    )];
    if !filename.is_ascii() {
        parameters.push(DispositionParam::FilenameExt(ExtendedValue {
            charset: Charset::Ext("UTF-8".into()),
            language_tag: None,
            value: filename.as_bytes().to_vec(),
        }));
    }
    ContentDisposition {
        disposition: DispositionType::Attachment,
        parameters,
    }
}

/// `sales.csv` → `sales.parquet`; `data.csv.gz` → `data.parquet`.
pub(super) fn result_filename(input: &str) -> String {
    let base = input.rsplit(['/', '\\']).next().unwrap_or(input);
    let mut stem = base;
    for suffix in [".gz", ".zst", ".zstd", ".csv", ".tsv", ".txt"] {
        if stem.len() >= suffix.len() && stem.to_ascii_lowercase().ends_with(suffix) {
            stem = &stem[..stem.len() - suffix.len()];
        }
    }
    let clean: String = stem
        .chars()
        .map(|c| if c.is_control() || c == '"' { '_' } else { c })
        .collect();
    let clean = if clean.is_empty() {
        "result".to_string()
    } else {
        clean
    };
    format!("{clean}.parquet")
}

/// Cancels a queued job, stops a running one (its worker sees the status at
/// its next heartbeat), or deletes a finished one; its files go in all cases.
pub async fn delete_job(
    path: web::Path<String>,
    state: web::Data<AppState>,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    let id = parse_job_id(&path)?;
    let scope = principal.scope();
    match state.store.remove(&scope, id).await? {
        Removal::NotFound => Err(missing(&state, &scope, id).await),
        Removal::Canceled {
            traceparent,
            tracestate,
        } => {
            // The cancel is in the caller's trace; the job's trace is linked.
            let job_trace = traceparent.as_deref().and_then(|parent| {
                crate::telemetry::context_from_traceparent(parent, tracestate.as_deref())
            });
            if let Some(job_trace) = job_trace {
                use opentelemetry::trace::TraceContextExt as _;
                use tracing_opentelemetry::OpenTelemetrySpanExt as _;
                let span = tracing::Span::current();
                span.add_link(job_trace.span().span_context().clone());
                span.set_attribute("parquetry.job.id", id.to_string());
                mark_canceled(&job_trace, &span.context(), id);
            }
            remove_files(&state, id).await
        }
        Removal::Deleted => remove_files(&state, id).await,
    }
}

/// Records in the job's own trace who canceled it: a `job canceled` span
/// under the upload's PRODUCER span, linked to the cancelling request.
fn mark_canceled(job_trace: &opentelemetry::Context, by: &opentelemetry::Context, id: Uuid) {
    use opentelemetry::trace::{Link, Span as _, SpanKind, TraceContextExt as _, Tracer as _};
    use opentelemetry::KeyValue;
    let canceller = by.span().span_context().clone();
    if !canceller.is_valid() {
        return;
    }
    let tracer = opentelemetry::global::tracer("parquetry");
    let mut span = tracer
        .span_builder("job canceled")
        .with_kind(SpanKind::Internal)
        .with_attributes([
            KeyValue::new("parquetry.job.id", id.to_string()),
            KeyValue::new(
                "parquetry.canceled_by.trace_id",
                canceller.trace_id().to_string(),
            ),
        ])
        .with_links(vec![Link::with_context(canceller)])
        .start_with_context(&tracer, job_trace);
    span.end();
}

/// Removes a canceled or deleted job's files.
async fn remove_files(state: &AppState, id: Uuid) -> Result<HttpResponse, ApiError> {
    state
        .storage
        .remove_job_files(id)
        .await
        .map_err(|error| anyhow::anyhow!(error).context("removing a job's files"))?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::result_filename;

    #[test]
    fn non_ascii_names_travel_in_filename_star() {
        let header = super::attachment("relatório 2024.parquet").to_string();
        assert!(
            header.contains("filename=\"relat_rio 2024.parquet\""),
            "{header}"
        );
        assert!(
            header.contains("filename*=UTF-8''relat%C3%B3rio%202024.parquet"),
            "{header}"
        );
        assert_eq!(
            super::attachment("sales.parquet").to_string(),
            "attachment; filename=\"sales.parquet\""
        );
    }

    #[test]
    fn a_result_is_named_after_its_input() {
        assert_eq!(result_filename("sales.csv"), "sales.parquet");
        assert_eq!(result_filename("data.csv.gz"), "data.parquet");
        assert_eq!(result_filename("C:\\x\\report.TXT"), "report.parquet");
        assert_eq!(result_filename(".csv"), "result.parquet");
        assert_eq!(result_filename("a\"b.csv"), "a_b.parquet");
    }
}
