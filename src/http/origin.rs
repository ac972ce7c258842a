//! Cross-origin requests. A browser on any site can send a "simple" request
//! (a `text/plain` POST, a form) without asking first, so a web page could
//! make its visitors upload or delete jobs here: a state-changing request
//! whose `Origin` is neither this server nor an allowed origin is refused
//! with 403 before it is routed. Allowed origins (`--allowed-origins`) get
//! CORS proper: preflights answered, responses readable.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpResponse, ResponseError};

use super::problem::ApiError;

/// Request headers an allowed origin may send.
const ALLOWED_HEADERS: &str = "authorization, content-type, idempotency-key, if-none-match, if-range, range, traceparent, tracestate";
/// Response headers an allowed origin may read.
const EXPOSED_HEADERS: &str = "location, etag, content-disposition, content-range, retry-after, traceparent, idempotent-replayed, www-authenticate";
/// How long a browser may cache a preflight answer, in seconds.
const PREFLIGHT_MAX_AGE: &str = "600";

/// The origins, besides the server's own, that may call the API from a
/// browser: `scheme://host[:port]` each, or `*` for any.
#[derive(Clone, Debug, Default)]
pub struct AllowedOrigins {
    origins: Vec<String>,
}

impl AllowedOrigins {
    /// From the comma-separated setting; an entry that is not an origin
    /// (`https://host[:port]`, no path) is refused at start-up.
    pub fn parse(setting: Option<&str>) -> anyhow::Result<AllowedOrigins> {
        let mut origins = Vec::new();
        for entry in setting.unwrap_or("").split(',').map(str::trim) {
            if entry.is_empty() {
                continue;
            }
            let valid = entry == "*"
                || (entry.starts_with("http://") || entry.starts_with("https://"))
                    && !entry
                        .split_once("://")
                        .is_some_and(|(_, rest)| rest.contains('/'));
            if !valid {
                anyhow::bail!(
                    "`{entry}` in PARQUETRY_ALLOWED_ORIGINS is not an origin: write scheme://host[:port], e.g. https://app.example.com"
                );
            }
            origins.push(entry.trim_end_matches('/').to_ascii_lowercase());
        }
        Ok(AllowedOrigins { origins })
    }

    fn allows(&self, origin: &str) -> bool {
        let origin = origin.to_ascii_lowercase();
        self.origins
            .iter()
            .any(|allowed| allowed == "*" || *allowed == origin)
    }
}

/// Refuses cross-origin state-changing requests from origins not allowed,
/// answers preflights, and adds CORS headers for allowed origins.
pub async fn refuse_cross_origin(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let Some(origin) = cross_origin(&request) else {
        return Ok(next.call(request).await?.map_into_left_body());
    };
    let allowed = request
        .app_data::<web::Data<AllowedOrigins>>()
        .is_some_and(|origins| origins.allows(&origin));
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let changes_state = !matches!(*request.method(), Method::GET | Method::HEAD);
    if !allowed && (preflight || changes_state) {
        let error = ApiError::CrossOriginForbidden(format!(
            "requests from {} may not change anything here; the server's operator can allow \
             this origin with PARQUETRY_ALLOWED_ORIGINS",
            shown(&origin)
        ));
        let response = error.error_response();
        return Ok(request.into_response(response).map_into_right_body());
    }
    if preflight {
        let mut response = HttpResponse::build(StatusCode::NO_CONTENT);
        response
            .insert_header((
                header::ACCESS_CONTROL_ALLOW_METHODS,
                "GET, HEAD, POST, DELETE",
            ))
            .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOWED_HEADERS))
            .insert_header((header::ACCESS_CONTROL_MAX_AGE, PREFLIGHT_MAX_AGE));
        let mut response = request.into_response(response.finish());
        add_cors_headers(response.headers_mut(), &origin);
        return Ok(response.map_into_right_body());
    }
    let mut response = next.call(request).await?;
    if allowed {
        add_cors_headers(response.headers_mut(), &origin);
    }
    Ok(response.map_into_left_body())
}

/// The request's `Origin` when it is another origin than this server's.
/// No `Origin` (curl, scripts, same-origin GETs) is not cross-origin.
fn cross_origin(request: &ServiceRequest) -> Option<String> {
    let origin = request
        .headers()
        .get(header::ORIGIN)?
        .to_str()
        .unwrap_or("null");
    let info = request.connection_info();
    let own = format!("{}://{}", info.scheme(), info.host());
    (!origin.eq_ignore_ascii_case(&own)).then(|| origin.to_string())
}

fn add_cors_headers(headers: &mut HeaderMap, origin: &str) {
    if let Ok(value) = HeaderValue::from_str(origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
    }
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSED_HEADERS),
    );
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
}

/// An origin as quoted in a message: bounded and printable.
fn shown(origin: &str) -> String {
    origin
        .chars()
        .take(100)
        .filter(|c| !c.is_control())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_origins_are_origins() {
        let origins =
            AllowedOrigins::parse(Some("https://app.example.com, http://localhost:3000")).unwrap();
        assert!(origins.allows("https://APP.example.com"));
        assert!(origins.allows("http://localhost:3000"));
        assert!(!origins.allows("https://evil.example"));
        assert!(AllowedOrigins::parse(Some("https://app.example.com/path")).is_err());
        assert!(AllowedOrigins::parse(Some("app.example.com")).is_err());
        assert!(AllowedOrigins::parse(Some("*"))
            .unwrap()
            .allows("https://any.example"));
        assert!(!AllowedOrigins::parse(None)
            .unwrap()
            .allows("https://any.example"));
    }
}
