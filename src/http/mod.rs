//! The HTTP API (v1): routes, shared state and the telemetry middleware.

mod auth;
mod download;
mod early_start;
mod events;
mod inspect;
mod jobs;
mod keys;
mod link_signer;
mod links;
mod origin;
mod preview;
mod problem;
mod quota;
mod range;
mod receive;
mod rejects;
use crate::rfc3339;
mod enqueue;
mod timeline;
mod upload;
mod upload_body;
mod upload_options;
mod views;
mod wait;
mod webhook_view;

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpRequest, HttpResponse};
use tracing::Span;
use tracing_actix_web::RootSpanBuilder;

pub use auth::{authenticate, AuthGate};
pub use link_signer::{link_signer, LinkSigner};
pub use origin::{refuse_cross_origin, AllowedOrigins};
pub use problem::{ApiError, Problem};
pub use quota::Limits as QuotaLimits;
pub use views::{JobListView, JobView};

use crate::jobs::JobStore;
use crate::storage::Storage;
use crate::telemetry::http_server::{self, Exchange, Failure, Outcome};
use crate::telemetry::metrics::{Metrics, MetricsPipeline};

/// What every handler can reach.
pub struct AppState {
    pub store: JobStore,
    pub storage: Storage,
    pub metrics: Metrics,
    pub metrics_pipeline: Arc<MetricsPipeline>,
    pub max_upload_bytes: u64,
    /// An upload that sends nothing this long is answered 408 and discarded.
    pub upload_idle_timeout: std::time::Duration,
    pub max_queued_jobs: u64,
    pub max_attempts: i32,
    pub trace_url: Option<String>,
    /// Checks uploads' `callback_url` (see `crate::webhooks`).
    pub webhooks: crate::webhooks::Webhooks,
    /// Whether requests need an API key now (see `auth`).
    pub auth: AuthGate,
    /// Every tenant's default quotas (see `quota`).
    pub quotas: quota::Limits,
    /// Signs and checks share links (see `links`).
    pub links: LinkSigner,
    /// Converts uploads while they arrive, in this process's worker slots;
    /// `None` in a process without workers.
    pub head_starts: Option<crate::worker::HeadStarts>,
}

/// Every route of the API as `(method, path)`, as `openapi.yaml` must list them.
pub const ROUTES: &[(&str, &str)] = &[
    ("post", "/v1/jobs"),
    ("get", "/v1/jobs"),
    ("get", "/v1/jobs/{id}"),
    ("delete", "/v1/jobs/{id}"),
    ("get", "/v1/jobs/{id}/result"),
    ("head", "/v1/jobs/{id}/result"),
    ("get", "/v1/jobs/{id}/preview"),
    ("get", "/v1/jobs/{id}/rejects"),
    ("get", "/v1/jobs/{id}/events"),
    ("post", "/v1/jobs/{id}/links"),
    ("get", "/v1/shared/{token}"),
    ("head", "/v1/shared/{token}"),
    ("post", "/v1/inspect"),
    ("post", "/v1/keys"),
    ("get", "/v1/keys"),
    ("delete", "/v1/keys/{name}"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/"),
    ("get", "/ui/{asset}"),
];

/// Registers the routes listed in `ROUTES`.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .app_data(
            web::QueryConfig::default()
                .error_handler(|error, _| ApiError::InvalidQuery(error.to_string()).into()),
        )
        .service(
            web::resource("/v1/jobs")
                .route(web::post().to(upload::create_job))
                .route(web::get().to(jobs::list_jobs))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/v1/jobs/{id}")
                .route(web::get().to(jobs::get_job))
                .route(web::delete().to(jobs::delete_job))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/v1/jobs/{id}/result")
                .route(web::get().to(jobs::get_result))
                .route(web::head().to(jobs::get_result))
                .default_service(web::to(method_not_allowed))
                .wrap(actix_web::middleware::from_fn(range::ignore_unusable_range)),
        )
        .service(
            web::resource("/v1/inspect")
                .route(web::post().to(inspect::inspect_file))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/v1/jobs/{id}/rejects")
                .route(web::get().to(rejects::get_rejects))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/v1/jobs/{id}/events")
                .route(web::get().to(events::job_events))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/v1/jobs/{id}/links")
                .route(web::post().to(links::create_link))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            // No key: the link's signature is the permission (see `auth`).
            web::resource("/v1/shared/{token}")
                .route(web::get().to(links::shared_result))
                .route(web::head().to(links::shared_result))
                .default_service(web::to(method_not_allowed))
                .wrap(actix_web::middleware::from_fn(range::ignore_unusable_range)),
        )
        .service(
            web::resource("/v1/jobs/{id}/preview")
                .route(web::get().to(preview::preview_result))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/v1/keys")
                .route(web::post().to(keys::create_key))
                .route(web::get().to(keys::list_keys))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/v1/keys/{name}")
                .route(web::delete().to(keys::revoke_key))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/healthz")
                .route(web::get().to(healthz))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/readyz")
                .route(web::get().to(readyz))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/metrics")
                .route(web::get().to(metrics))
                .default_service(web::to(method_not_allowed)),
        )
        .default_service(web::to(no_such_route));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.store.ping().await.map_err(|error| {
        tracing::warn!(%error, "readiness check failed");
        ApiError::DatabaseUnavailable
    })?;
    // Uploads are refused below the free-disk floor, so a load balancer
    // should send them elsewhere: not ready. An unreadable figure is not
    // held against readiness; the upload check reports it.
    if let Ok(false) = state.storage.has_room_for(0) {
        return Err(ApiError::NotReady {
            code: crate::error_code::INSUFFICIENT_STORAGE,
            detail: "the server is low on disk space and refuses uploads".into(),
        });
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })))
}

async fn metrics(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    // Queue gauges are read from the database so every process reports the
    // same, true figures; refresh them for this scrape.
    if let Ok((queued, running)) = state.store.count_active().await {
        state.metrics.jobs_queued.record(queued, &[]);
        state.metrics.jobs_running.record(running, &[]);
    }
    // OpenMetrics (with exemplars) when the scraper asks for it, else the classic text.
    let accept = request
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|value| value.to_str().ok());
    let exposition = state.metrics_pipeline.exposition(accept);
    HttpResponse::Ok()
        .content_type(exposition.content_type)
        .body(exposition.body)
}

/// 405 with the `Allow` header RFC 9110 asks for, read from `ROUTES`.
pub(crate) async fn method_not_allowed(request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let pattern = request.match_pattern().unwrap_or_default();
    let allow = ROUTES
        .iter()
        .filter(|(_, path)| *path == pattern)
        .map(|(method, _)| method.to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join(", ");
    Err(ApiError::MethodNotAllowed { allow })
}

async fn no_such_route() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NoSuchRoute)
}

/// The request span after the stable HTTP semantic conventions (see
/// `telemetry::http_server`), for tracing-actix-web's middleware.
pub struct ParquetryRootSpan;

impl RootSpanBuilder for ParquetryRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        http_server::request_span(request)
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        http_server::record_outcome(&span, &outcome_of(outcome));
    }
}

/// The status of an answer, and for a 5xx its `error.type` (the problem
/// `code`) and the exception (the problem's message, which for the
/// catch-all 500s is fixed and for the others says why, never with the
/// user's data).
fn outcome_of<B>(outcome: &Result<ServiceResponse<B>, Error>) -> Outcome {
    let (status, error) = match outcome {
        Ok(response) => (response.status(), response.response().error()),
        Err(error) => (error.as_response_error().status_code(), Some(error)),
    };
    let failure = status.is_server_error().then(|| {
        match error.and_then(|error| error.as_error::<ApiError>()) {
            Some(api_error) => Failure {
                error_type: api_error.code().into(),
                message: Some(api_error.to_string()),
            },
            None => Failure {
                error_type: status.as_str().to_string().into(),
                message: error.map(|error| error.to_string()),
            },
        }
    });
    Outcome { status, failure }
}

/// Runs inside the request span: adds the `traceparent` response header (so
/// a curl user can find the trace), and follows the response body to its end
/// for `http.server.request.duration` and the access log line.
pub async fn observe_request(
    mut request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let histogram = request
        .app_data::<web::Data<AppState>>()
        .map(|state| state.metrics.http_server_request_duration.clone());
    let span = Span::current();
    let traceparent = crate::telemetry::trace_context_of(&span).map(|(parent, _)| parent);
    let exchange = Exchange::begin(&mut request, span, histogram);

    // `instance` of problem documents: the path, without the query string.
    let path = request.path().to_string();
    let outcome = problem::REQUEST_PATH.scope(path, next.call(request)).await;

    let summary = outcome_of(&outcome);
    let mut response = match outcome {
        Ok(response) => exchange.respond(response, summary),
        Err(error) => {
            exchange.fail(summary);
            return Err(error);
        }
    };
    if let Some(Ok(value)) = traceparent.map(|t| HeaderValue::from_str(&t)) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("traceparent"), value);
    }
    Ok(response)
}
