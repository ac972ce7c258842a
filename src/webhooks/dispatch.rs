//! The dispatcher: claims due deliveries from the outbox, sends each attempt
//! as a signed POST inside a CLIENT span of the job's trace, and records its
//! outcome. Runs in every process; the claim makes each attempt one
//! process's, and a lease makes a process's lost attempt due again.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::field::Empty;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use uuid::Uuid;

use super::address::{self, PublicOnly};
use super::{Secret, Webhooks};
use crate::http::JobView;
use crate::jobs::{AttemptOutcome, ClaimedDelivery, JobStore};
use crate::telemetry;

/// Attempts in flight at once in one process.
const CONCURRENCY: usize = 8;
/// Most of a receiver's answer read (then dropped): enough to end a small
/// body cleanly, never a stored copy.
const MAX_ANSWER_BYTES: usize = 4096;

/// The running dispatcher of a process.
pub struct Dispatcher {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

struct Context {
    store: JobStore,
    webhooks: Webhooks,
    secret: Secret,
    client: reqwest::Client,
    trace_url: Option<String>,
    wake: Notify,
}

impl Dispatcher {
    /// Starts delivering; `None` when no secret is configured (nothing can
    /// be signed, and uploads naming a callback are refused).
    pub fn start(
        store: JobStore,
        webhooks: Webhooks,
        trace_url: Option<String>,
    ) -> anyhow::Result<Option<Dispatcher>> {
        let Some(secret) = webhooks.secret().cloned() else {
            tracing::info!(
                "webhooks are off: set PARQUETRY_WEBHOOK_SECRET (--webhook-secret) to send them"
            );
            return Ok(None);
        };
        let settings = webhooks.settings();
        crate::tls::install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(settings.timeout())
            .connect_timeout(settings.timeout())
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would connect on our behalf, past the address checks.
            .no_proxy()
            .dns_resolver(Arc::new(PublicOnly {
                allow_private: settings.webhook_allow_private,
            }))
            .user_agent(concat!("parquetry/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let context = Arc::new(Context {
            store,
            secret,
            client,
            trace_url,
            webhooks,
            wake: Notify::new(),
        });
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(context, stop.clone()));
        Ok(Some(Dispatcher { stop, task }))
    }

    /// Stops claiming and lets attempts in flight end (they time out).
    pub async fn shutdown(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// How long a claimed attempt is this process's: past it, the attempt is
/// deemed lost (the process died) and made again.
fn lease(context: &Context) -> Duration {
    context.webhooks.settings().timeout() + Duration::from_secs(30)
}

/// The fallback poll for due retries (other processes' retries, and wake-ups
/// lost while the database was away).
fn poll_interval(context: &Context) -> Duration {
    (context.webhooks.settings().retry_base() / 2)
        .clamp(Duration::from_millis(50), Duration::from_secs(1))
}

async fn run(context: Arc<Context>, stop: CancellationToken) {
    let listener = {
        let context = context.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            context
                .store
                .listen_for_deliveries(&context.wake, &stop)
                .await
        })
    };
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let mut attempts = JoinSet::new();
    let mut reported = false;
    while !stop.is_cancelled() {
        while let Ok(permit) = permits.clone().try_acquire_owned() {
            match context.store.claim_delivery(lease(&context)).await {
                Ok(Some(delivery)) => {
                    attempts.spawn(attempt(context.clone(), delivery, permit));
                    reported = false;
                }
                Ok(None) => break,
                Err(error) => {
                    if !reported {
                        tracing::warn!(%error, "cannot claim webhook deliveries; retrying");
                        reported = true;
                    }
                    break;
                }
            }
        }
        tokio::select! {
            _ = context.wake.notified() => {}
            _ = tokio::time::sleep(poll_interval(&context)) => {}
            Some(_) = attempts.join_next(), if !attempts.is_empty() => {}
            _ = stop.cancelled() => {}
        }
    }
    // Attempts in flight end by their own timeout; one cut short is made
    // again by any process once its lease runs out.
    let settle = async { while attempts.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(context.webhooks.settings().timeout(), settle).await;
    listener.abort();
}

/// One attempt of one delivery, from its claim to its recorded outcome.
async fn attempt(context: Arc<Context>, delivery: ClaimedDelivery, _permit: OwnedSemaphorePermit) {
    let Some((event_id, payload)) = event_of(&context, &delivery).await else {
        return;
    };
    let outcome = send(&context, &delivery, &event_id, payload).await;
    match &outcome {
        AttemptOutcome::Delivered { status } => tracing::info!(
            job_id = %delivery.job_id, attempt = delivery.attempt, status = i64::from(*status),
            "webhook delivered"
        ),
        AttemptOutcome::Retry { error, backoff, .. } => tracing::warn!(
            job_id = %delivery.job_id, attempt = delivery.attempt, error = error.as_str(),
            retry_in_ms = backoff.as_millis() as i64, "webhook not delivered; retrying"
        ),
        AttemptOutcome::Failed { error, .. } => tracing::warn!(
            job_id = %delivery.job_id, attempt = delivery.attempt, error = error.as_str(),
            "webhook not delivered; giving up"
        ),
    }
    let recorded = context
        .store
        .record_attempt(delivery.job_id, delivery.attempt, &outcome)
        .await;
    if let Err(error) = recorded {
        // The lease runs out and the attempt is made again: at least once.
        tracing::warn!(%error, job_id = %delivery.job_id, "could not record a webhook attempt");
    }
    if let AttemptOutcome::Retry { backoff, .. } = outcome {
        // This process's own retry is woken on time; others poll.
        let context = context.clone();
        tokio::spawn(async move {
            tokio::time::sleep(backoff).await;
            context.wake.notify_one();
        });
    }
}

/// The event's id and body: fixed by the first attempt, rendered from the
/// job as `GET /v1/jobs/{id}` shows it. `None` when the attempt cannot go on
/// now (the job is gone, or the database away: the lease brings it back).
async fn event_of(context: &Context, delivery: &ClaimedDelivery) -> Option<(String, String)> {
    if let (Some(id), Some(payload)) = (&delivery.event_id, &delivery.payload) {
        return Some((id.clone(), payload.clone()));
    }
    let job = match context.store.get(delivery.job_id).await {
        Ok(Some(job)) => job,
        // Deleted meanwhile: its delivery row went with it.
        Ok(None) => return None,
        Err(error) => {
            tracing::warn!(%error, job_id = %delivery.job_id, "cannot read the job of a webhook");
            return None;
        }
    };
    let event_id = format!("msg_{}", Uuid::now_v7().simple());
    let mut data =
        serde_json::to_value(JobView::new(job, context.trace_url.as_deref())).unwrap_or_default();
    // The delivery's own state would be stale the moment it is sent.
    if let Some(object) = data.as_object_mut() {
        object.remove("webhook");
    }
    let body = serde_json::json!({
        "id": event_id,
        "type": delivery.event_type,
        "timestamp": crate::rfc3339::format(&delivery.event_at),
        "data": data,
    })
    .to_string();
    match context
        .store
        .fix_event(delivery.job_id, &event_id, &body)
        .await
    {
        Ok(fixed) => Some(fixed),
        Err(error) => {
            tracing::warn!(%error, job_id = %delivery.job_id, "cannot keep a webhook's event");
            None
        }
    }
}

/// The CLIENT span of an attempt, in the job's trace: stable HTTP client
/// attributes, the URL without its query (it may hold a token).
fn client_span(delivery: &ClaimedDelivery, url: &reqwest::Url) -> tracing::Span {
    let span = tracing::info_span!(
        "webhook delivery",
        otel.name = "POST",
        otel.kind = "client",
        otel.status_code = Empty,
        http.request.method = "POST",
        server.address = url.host_str().unwrap_or_default(),
        server.port = i64::from(url.port_or_known_default().unwrap_or(0)),
        url.full = address::redacted(url),
        http.response.status_code = Empty,
        error.type = Empty,
        parquetry.job.id = %delivery.job_id,
        parquetry.webhook.event_type = delivery.event_type.as_str(),
        parquetry.webhook.attempt = i64::from(delivery.attempt),
    );
    let parent = delivery.traceparent.as_deref().and_then(|parent| {
        telemetry::context_from_traceparent(parent, delivery.tracestate.as_deref())
    });
    if let Some(parent) = parent {
        // Before the span is first entered.
        let _ = span.set_parent(parent);
    }
    span
}

/// Sends one attempt and says what became of it.
async fn send(
    context: &Context,
    delivery: &ClaimedDelivery,
    event_id: &str,
    payload: String,
) -> AttemptOutcome {
    let url = match address::parse(&delivery.url) {
        Ok(url) => url,
        Err(error) => return failed(None, error),
    };
    // An IP-literal URL never reaches the resolver that filters addresses.
    let allow_private = context.webhooks.settings().webhook_allow_private;
    let literal = url
        .host_str()
        .map(|host| host.trim_start_matches('[').trim_end_matches(']'))
        .and_then(|host| host.parse().ok());
    if let Some(reason) = literal
        .and_then(address::refused)
        .filter(|_| !allow_private)
    {
        return failed(
            None,
            format!("the callback URL is {reason}, which webhooks may not call"),
        );
    }
    let span = client_span(delivery, &url);
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let signature = context.secret.sign(event_id, timestamp, payload.as_bytes());
    let mut request = context
        .client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", event_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature);
    if let Some((traceparent, tracestate)) = telemetry::trace_context_of(&span) {
        request = request.header("traceparent", traceparent);
        if let Some(tracestate) = tracestate {
            request = request.header("tracestate", tracestate);
        }
    }
    let outcome = async {
        match request.body(payload).send().await {
            Ok(response) => answered(response, context, delivery).await,
            Err(error) => classify_error(&error, context, delivery),
        }
    }
    .instrument(span.clone())
    .await;
    record_on_span(&span, &outcome);
    outcome
}

/// The outcome of an answer. A receiver that asks for time (`Retry-After`
/// in seconds on a 429 or 5xx) gets it, up to the backoff's cap of an hour.
async fn answered(
    mut response: reqwest::Response,
    context: &Context,
    delivery: &ClaimedDelivery,
) -> AttemptOutcome {
    let status = response.status().as_u16();
    let asked = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok())
        .map(|seconds| Duration::from_secs(seconds.min(3600)));
    // Read a little so a small answer ends cleanly; never kept.
    let mut read = 0;
    while read < MAX_ANSWER_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => read += chunk.len(),
            _ => break,
        }
    }
    let mut outcome = classify_status(status, context, delivery);
    if let (AttemptOutcome::Retry { backoff, .. }, Some(asked)) = (&mut outcome, asked) {
        *backoff = (*backoff).max(asked);
    }
    outcome
}

fn failed(status: Option<u16>, error: String) -> AttemptOutcome {
    AttemptOutcome::Failed { status, error }
}

fn retry(
    status: Option<u16>,
    error: String,
    context: &Context,
    delivery: &ClaimedDelivery,
) -> AttemptOutcome {
    let attempt = u32::try_from(delivery.attempt).unwrap_or(1);
    AttemptOutcome::Retry {
        status,
        error,
        backoff: context.webhooks.settings().retry_backoff(attempt),
    }
}

/// 2xx is delivered; 429 and 5xx are worth another try; anything else (a
/// redirect, which is not followed, or another 4xx) would answer the same.
fn classify_status(status: u16, context: &Context, delivery: &ClaimedDelivery) -> AttemptOutcome {
    match status {
        200..=299 => AttemptOutcome::Delivered { status },
        429 | 500..=599 => retry(
            Some(status),
            format!("the receiver answered {status}"),
            context,
            delivery,
        ),
        300..=399 => failed(
            Some(status),
            format!("the receiver answered {status}, a redirect; redirects are not followed"),
        ),
        _ => failed(Some(status), format!("the receiver answered {status}")),
    }
}

/// A request that got no answer: retried, unless the host now resolves only
/// to addresses webhooks may not call.
fn classify_error(
    error: &reqwest::Error,
    context: &Context,
    delivery: &ClaimedDelivery,
) -> AttemptOutcome {
    let timeout = context.webhooks.settings().timeout().as_secs();
    if error.is_timeout() {
        return retry(
            None,
            format!("no answer within {timeout} s"),
            context,
            delivery,
        );
    }
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(cause) = source {
        if cause.to_string().contains(address::REFUSED_BY_RESOLVER) {
            return failed(
                None,
                "the callback URL's host resolves to no address webhooks may call".into(),
            );
        }
        source = cause.source();
    }
    retry(
        None,
        "could not connect to the receiver".into(),
        context,
        delivery,
    )
}

fn record_on_span(span: &tracing::Span, outcome: &AttemptOutcome) {
    let (status, error_type) = match outcome {
        AttemptOutcome::Delivered { status } => (Some(*status), None),
        AttemptOutcome::Retry { status, error, .. } | AttemptOutcome::Failed { status, error } => {
            let kind = match status {
                Some(status) => status.to_string(),
                None if error.starts_with("no answer") => "timeout".to_string(),
                None => "connection".to_string(),
            };
            (*status, Some(kind))
        }
    };
    if let Some(status) = status {
        span.record("http.response.status_code", i64::from(status));
    }
    match error_type {
        Some(kind) => {
            span.record("error.type", kind.as_str());
            span.record("otel.status_code", "ERROR");
        }
        None => {
            span.record("otel.status_code", "OK");
        }
    }
}
