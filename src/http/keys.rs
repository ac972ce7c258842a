//! `/v1/keys`: API keys made, listed and revoked through the API, by admin
//! keys only (the first key is made with `parquetry keys create`).

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::problem::ApiError;
use super::AppState;
use crate::jobs::{is_valid_name, ApiKey, NewKey, Principal, DEFAULT_TENANT};

/// A key as the API shows it: never the key, except once in `key` when made.
#[derive(Debug, Serialize)]
pub struct KeyView {
    name: String,
    tenant: String,
    admin: bool,
    #[serde(serialize_with = "super::rfc3339::serialize")]
    created_at: DateTime<Utc>,
    #[serde(serialize_with = "super::rfc3339::serialize_option")]
    last_used_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "super::rfc3339::serialize_option")]
    revoked_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
}

impl KeyView {
    fn new(key: ApiKey, secret: Option<String>) -> KeyView {
        KeyView {
            name: key.name,
            tenant: key.tenant,
            admin: key.admin,
            created_at: key.created_at,
            last_used_at: key.last_used_at,
            revoked_at: key.revoked_at,
            key: secret,
        }
    }
}

/// The body of `POST /v1/keys`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKeyBody {
    name: String,
    tenant: Option<String>,
    #[serde(default)]
    admin: bool,
}

fn checked(body: &[u8]) -> Result<NewKey, ApiError> {
    let body: NewKeyBody = serde_json::from_slice(body).map_err(|error| {
        ApiError::InvalidBody(format!(
            "the body must be a JSON object {{\"name\": …, \"tenant\": …, \"admin\": …}}: {error}"
        ))
    })?;
    let tenant = body.tenant.unwrap_or_else(|| DEFAULT_TENANT.to_string());
    for (what, value) in [("name", &body.name), ("tenant", &tenant)] {
        if !is_valid_name(value) {
            return Err(ApiError::InvalidBody(format!(
                "{what} must be 1 to 64 letters, digits, `.`, `_` or `-`, starting with a letter \
                 or digit"
            )));
        }
    }
    Ok(NewKey {
        name: body.name,
        tenant,
        admin: body.admin,
    })
}

/// 201 with the new key in `key`: the only time it is shown.
pub async fn create_key(
    body: web::Bytes,
    state: web::Data<AppState>,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    principal.require_admin()?;
    let new = checked(&body)?;
    let (key, secret) = state
        .store
        .create_key(&new)
        .await?
        .ok_or_else(|| ApiError::KeyNameTaken(new.name.clone()))?;
    state.auth.key_created();
    tracing::info!(
        key.name = %key.name,
        parquetry.tenant = %key.tenant,
        key.admin = key.admin,
        by = principal.key_name.as_deref().unwrap_or_default(),
        "API key created"
    );
    Ok(HttpResponse::Created().json(KeyView::new(key, Some(secret))))
}

pub async fn list_keys(
    state: web::Data<AppState>,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    principal.require_admin()?;
    let keys: Vec<KeyView> = state
        .store
        .list_keys()
        .await?
        .into_iter()
        .map(|key| KeyView::new(key, None))
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "keys": keys })))
}

/// 204; requests with the key are refused from now on.
pub async fn revoke_key(
    path: web::Path<String>,
    state: web::Data<AppState>,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    principal.require_admin()?;
    let key = state
        .store
        .revoke_key(&path)
        .await?
        .ok_or(ApiError::KeyNotFound)?;
    tracing::info!(
        key.name = %key.name,
        parquetry.tenant = %key.tenant,
        by = principal.key_name.as_deref().unwrap_or_default(),
        "API key revoked"
    );
    Ok(HttpResponse::NoContent().finish())
}
