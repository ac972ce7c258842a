//! `openapi.yaml` must describe exactly the routes the server has.

use std::collections::BTreeSet;

use crate::helpers::spawn_app_with;

/// `(method, path)` pairs under `paths:` of the spec, read from its layout:
/// paths are indented two spaces, methods four.
fn spec_routes() -> BTreeSet<(String, String)> {
    let spec =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml")).unwrap();
    let mut routes = BTreeSet::new();
    let mut in_paths = false;
    let mut path = None;
    for line in spec.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() {
            in_paths = line.trim_end() == "paths:";
            continue;
        }
        if !in_paths {
            continue;
        }
        if let Some(p) = line.strip_prefix("  /") {
            path = Some(format!(
                "/{}",
                p.trim_end()
                    .trim_end_matches(':')
                    .trim_matches('\'')
                    .trim_matches('"')
            ));
        } else if let Some(method) = line.strip_prefix("    ") {
            let method = method.trim_end().trim_end_matches(':');
            if ["get", "head", "post", "put", "patch", "delete"].contains(&method) {
                routes.insert((method.to_string(), path.clone().unwrap()));
            }
        }
    }
    routes
}

#[tokio::test]
async fn openapi_describes_exactly_the_routes_the_server_serves() {
    let app = spawn_app_with(|s| s.worker.workers = Some(0)).await;
    let server: BTreeSet<(String, String)> = parquetry::http::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();

    assert_eq!(
        spec_routes(),
        server,
        "openapi.yaml and the server disagree"
    );

    // Every listed route is really routed (not the fallback's 404 / 405).
    for (method, path) in &server {
        let url = app.url(
            &path
                .replace("{id}", &uuid::Uuid::new_v4().to_string())
                .replace("{asset}", "main.js"),
        );
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let response = app
            .client
            .request(method.clone(), url)
            .send()
            .await
            .unwrap();
        assert_ne!(response.status(), 405, "{method} {path}");
        let body = response.text().await.unwrap();
        assert!(
            !body.contains("no-such-route"),
            "{method} {path} is not routed"
        );
    }
    let wrong_method = app.client.put(app.url("/v1/jobs")).send().await.unwrap();
    assert_eq!(wrong_method.status(), 405);
    assert_eq!(
        wrong_method.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(wrong_method.headers()["allow"], "POST, GET");
    let result = app.url("/v1/jobs/00000000-0000-0000-0000-000000000000/result");
    let wrong_method = app.client.post(result).send().await.unwrap();
    assert_eq!(wrong_method.status(), 405);
    assert_eq!(wrong_method.headers()["allow"], "GET, HEAD");
    let unknown = app.client.get(app.url("/v2/nothing")).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
    assert!(unknown.text().await.unwrap().contains("no-such-route"));
    app.stop().await;
}
