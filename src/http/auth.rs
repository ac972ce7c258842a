//! Authentication: `Authorization: Bearer KEY` on every route but the
//! health checks, in one middleware that leaves the caller (a `Principal`)
//! in the request for the handlers to extract.

use std::future::{ready, Ready};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, Error, FromRequest, HttpMessage, HttpRequest, ResponseError};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use super::problem::{ApiError, AuthFailure};
use super::AppState;
use crate::config::{AuthMode, AuthSettings};
use crate::jobs::{JobStore, KeyCheck, Principal, StoreResult};

/// How long "no key exists" is believed before the table is counted again:
/// a key made by `parquetry keys create` while the server runs turns
/// authentication on within this time, at the cost of one count per period.
const RECOUNT_AFTER: Duration = Duration::from_secs(2);

/// Whether requests must be authenticated now.
#[derive(Debug)]
pub struct AuthGate {
    mode: AuthMode,
    metrics_auth: bool,
    /// Once true, true for ever: keys are revoked, never deleted.
    keys_exist: AtomicBool,
    counted_at: Mutex<Option<Instant>>,
}

impl AuthGate {
    /// The gate of a server about to listen on `address`: refuses to start
    /// open on an address other machines can reach.
    pub async fn start(
        settings: &AuthSettings,
        store: &JobStore,
        address: std::net::SocketAddr,
    ) -> anyhow::Result<AuthGate> {
        let keys = store.key_count().await?;
        let loopback = address.ip().is_loopback();
        match settings.auth {
            AuthMode::Off if !loopback => tracing::warn!(
                %address,
                "authentication is off (--auth off): anyone who can reach {address} can read \
                 and delete every job"
            ),
            AuthMode::Off => tracing::info!("authentication is off (--auth off)"),
            AuthMode::Auto | AuthMode::On if keys > 0 => {
                tracing::info!(keys, "authentication is on: requests need an API key")
            }
            AuthMode::On => tracing::warn!(
                "authentication is on and no API key exists yet: every request is refused \
                 until one is made with `parquetry keys create --name NAME`"
            ),
            AuthMode::Auto if loopback => tracing::info!(
                %address,
                "no API key exists: running open on the loopback address {address}; \
                 `parquetry keys create --name NAME` makes a key and turns authentication on"
            ),
            AuthMode::Auto => anyhow::bail!(
                "refusing to listen on {address} with no API key: anyone who can reach it could \
                 read and delete every job. Create a key first with `parquetry keys create \
                 --name NAME [--tenant TENANT] [--admin]` (same DATABASE_URL / \
                 PARQUETRY_DATA_DIR), listen on a loopback address (--bind 127.0.0.1:8080), or \
                 run open deliberately with --auth off (PARQUETRY_AUTH=off)"
            ),
        }
        Ok(AuthGate {
            mode: settings.auth,
            metrics_auth: settings.metrics_auth,
            keys_exist: AtomicBool::new(keys > 0),
            counted_at: Mutex::new(Some(Instant::now())),
        })
    }

    /// A key was made in this process: authentication is on from now.
    pub fn key_created(&self) {
        self.keys_exist.store(true, Ordering::Relaxed);
    }

    /// Whether a request without a key is refused now.
    async fn enforcing(&self, store: &JobStore) -> StoreResult<bool> {
        match self.mode {
            AuthMode::Off => return Ok(false),
            AuthMode::On => return Ok(true),
            AuthMode::Auto => {}
        }
        if self.keys_exist.load(Ordering::Relaxed) {
            return Ok(true);
        }
        {
            let mut counted_at = self.counted_at.lock().unwrap_or_else(|e| e.into_inner());
            if counted_at.is_some_and(|at| at.elapsed() < RECOUNT_AFTER) {
                return Ok(false);
            }
            *counted_at = Some(Instant::now());
        }
        let exists = store.key_count().await? > 0;
        if exists && !self.keys_exist.swap(true, Ordering::Relaxed) {
            tracing::info!("an API key exists now: authentication is on");
        }
        Ok(exists)
    }
}

/// The key of `Authorization: Bearer KEY`, if the request has one.
fn bearer(request: &ServiceRequest) -> Option<Result<&str, AuthFailure>> {
    let value = request.headers().get(header::AUTHORIZATION)?;
    let Some((scheme, key)) = value.to_str().ok().and_then(|v| v.split_once(' ')) else {
        return Some(Err(AuthFailure::NotBearer));
    };
    Some(match scheme.eq_ignore_ascii_case("bearer") {
        true => Ok(key.trim()),
        false => Err(AuthFailure::NotBearer),
    })
}

/// Who the request is from, or why it is refused.
async fn principal(request: &ServiceRequest, state: &AppState) -> Result<Principal, ApiError> {
    if state.auth.mode == AuthMode::Off {
        return Ok(Principal::anonymous());
    }
    let key = match bearer(request) {
        None if state.auth.enforcing(&state.store).await? => {
            return Err(ApiError::Unauthorized(AuthFailure::Missing))
        }
        None => return Ok(Principal::anonymous()),
        Some(key) => key.map_err(ApiError::Unauthorized)?,
    };
    // A key presented is always checked, even while the service runs open:
    // a wrong key is a client's mistake worth telling, and a right one made
    // by another process a moment ago is this caller's identity already.
    match state.store.check_key(key).await? {
        KeyCheck::Valid(key) => {
            state.auth.key_created();
            Ok(Principal {
                tenant: key.tenant,
                admin: key.admin,
                key_name: Some(key.name),
            })
        }
        KeyCheck::Revoked => Err(ApiError::Unauthorized(AuthFailure::Revoked)),
        KeyCheck::Invalid => Err(ApiError::Unauthorized(AuthFailure::Invalid)),
    }
}

/// Authenticates every request but `/healthz`, `/readyz`, the web page (and
/// `/metrics` unless `--metrics-auth`), and records the tenant on the request's span.
pub async fn authenticate(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let Some(state) = request.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(request).await?.map_into_left_body());
    };
    let path = request.path();
    let metrics = path == "/metrics";
    // A share link's signature is its permission (see `links`).
    let shared = path.starts_with("/v1/shared/");
    // The web page and its files hold no job data; the page asks for a key
    // itself and sends it to the API (see `crate::web`).
    let page = crate::web::is_page_path(path);
    if path == "/healthz"
        || path == "/readyz"
        || shared
        || page
        || (metrics && !state.auth.metrics_auth)
    {
        return Ok(next.call(request).await?.map_into_left_body());
    }
    let outcome = match principal(&request, &state).await {
        Ok(principal) if metrics && principal.key_name.is_some() && !principal.admin => {
            Err(ApiError::AdminKeyRequired)
        }
        outcome => outcome,
    };
    match outcome {
        Ok(principal) => {
            // The tenant, never the key, on the request's span.
            tracing::Span::current().set_attribute("parquetry.tenant", principal.tenant.clone());
            request.extensions_mut().insert(principal);
            Ok(next.call(request).await?.map_into_left_body())
        }
        Err(error) => {
            let response = error.error_response();
            Ok(request.into_response(response).map_into_right_body())
        }
    }
}

/// The caller, as `authenticate` found it.
impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Ready<Result<Principal, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        // Never absent behind `authenticate`; refused if it ever were.
        ready(
            request
                .extensions()
                .get::<Principal>()
                .cloned()
                .ok_or(ApiError::Unauthorized(AuthFailure::Missing)),
        )
    }
}

impl Principal {
    /// Refuses a caller that is not an admin key (key management).
    pub fn require_admin(&self) -> Result<(), ApiError> {
        match self.admin {
            true => Ok(()),
            false => Err(ApiError::AdminKeyRequired),
        }
    }
}
