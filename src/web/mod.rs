//! The web page (issue 15): a single page at `/` whose few files are built
//! into the binary, so the page works offline and makes no request to any
//! other site. It is a client of the public API only: everything it shows
//! comes from `/v1/...` with the key the user types, kept in the browser's
//! session storage. Neither the page nor its files hold any job data, so
//! they are served without a key.

use std::sync::OnceLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

use crate::http::ApiError;

/// One file of the page, embedded at build time.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $content_type:literal) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_bytes!(concat!("assets/", $name)),
        }
    };
}

const INDEX: Asset = asset!("index.html", "text/html; charset=utf-8");

/// The files under `/ui/`.
const ASSETS: &[Asset] = &[
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("main.js", "text/javascript; charset=utf-8"),
    asset!("api.js", "text/javascript; charset=utf-8"),
    asset!("dom.js", "text/javascript; charset=utf-8"),
    asset!("convert.js", "text/javascript; charset=utf-8"),
    asset!("inspect.js", "text/javascript; charset=utf-8"),
    asset!("jobs.js", "text/javascript; charset=utf-8"),
    asset!("job.js", "text/javascript; charset=utf-8"),
    asset!("icon.svg", "image/svg+xml"),
];

/// Only the page's own files and the API of this server: no script, style,
/// font or image from anywhere else, and no framing by other sites.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";

/// Registers `GET /` and `GET /ui/{asset}`.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(
            web::resource("/")
                .route(web::get().to(index))
                .default_service(web::to(crate::http::method_not_allowed)),
        )
        .service(
            web::resource("/ui/{asset}")
                .route(web::get().to(asset))
                .default_service(web::to(crate::http::method_not_allowed)),
        );
}

/// Whether a path is one of the page's (served without a key).
pub fn is_page_path(path: &str) -> bool {
    path == "/" || path.starts_with("/ui/")
}

async fn index(request: HttpRequest) -> HttpResponse {
    serve(&request, &INDEX, 0)
}

async fn asset(request: HttpRequest, name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let (position, asset) = ASSETS
        .iter()
        .enumerate()
        .find(|(_, asset)| asset.name == name.as_str())
        .ok_or(ApiError::NoSuchRoute)?;
    Ok(serve(&request, asset, position + 1))
}

/// The asset, or 304 when the browser's copy is current. `no-cache` makes
/// the browser ask every time, so a new binary's page is never mixed with
/// an old one's scripts; the ETag keeps those questions cheap.
fn serve(request: &HttpRequest, asset: &Asset, position: usize) -> HttpResponse {
    let etag = &etags()[position];
    let current = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag));
    let mut response = if current {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag.as_str()))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ));
    if current {
        return response.finish();
    }
    response.content_type(asset.content_type).body(asset.body)
}

/// Strong ETags from the files' contents: the index first, then `ASSETS`.
fn etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        std::iter::once(&INDEX)
            .chain(ASSETS)
            .map(|asset| {
                let digest = Sha256::digest(asset.body);
                let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
                format!("\"{hex}\"")
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_the_page_refers_to_is_served() {
        for source in std::iter::once(&INDEX).chain(ASSETS) {
            let text = std::str::from_utf8(source.body).expect("assets are UTF-8");
            for (start, _) in text.match_indices("/ui/") {
                let name: String = text[start + 4..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
                    .collect();
                assert!(
                    ASSETS.iter().any(|asset| asset.name == name),
                    "{} refers to /ui/{name}, which is not served",
                    source.name
                );
            }
        }
    }

    #[test]
    fn no_asset_refers_to_another_site() {
        for asset in std::iter::once(&INDEX).chain(ASSETS) {
            let text = std::str::from_utf8(asset.body).expect("assets are UTF-8");
            for scheme in ["http://", "https://", "//cdn", "@import"] {
                let allowed = asset.name == "icon.svg" && scheme == "http://";
                assert!(
                    allowed || !text.contains(scheme),
                    "{} mentions {scheme}: the page must make no request elsewhere",
                    asset.name
                );
            }
        }
    }
}
