//! Issue 14: share links. A signed URL downloads one result with no key
//! (Range, ETag, HEAD), and stops working at expiry, on deletion, and when
//! the link secret changes; an altered link is refused.

use std::time::Duration;

use parquetry::startup::Application;
use serde_json::Value;

use crate::helpers::{eventually, expect_problem, make_key, settings, spawn_app_with, TestApp};

const CSV: &str = "id,name\n1,alpha\n2,beta\n3,gamma\n";
const SECRET_A: &str = "link secret A, at least thirty-two characters";
const SECRET_B: &str = "link secret B, at least thirty-two characters";

/// Uploads as `key` and waits (no polling) for the job to succeed.
async fn succeeded_job(app: &TestApp, key: Option<&str>) -> String {
    let mut request = app
        .client
        .post(app.url("/v1/jobs?filename=data.csv&wait=30"))
        .header("Content-Type", "text/csv")
        .body(CSV);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let job: Value = request.send().await.unwrap().json().await.unwrap();
    assert_eq!(job["status"], "succeeded", "{job:#}");
    job["id"].as_str().unwrap().to_string()
}

async fn share(app: &TestApp, key: Option<&str>, id: &str, query: &str) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url(&format!("/v1/jobs/{id}/links{query}")));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    request.send().await.unwrap()
}

/// The link's URL, checked to be this server's and to expire when asked.
async fn link(app: &TestApp, key: Option<&str>, id: &str, query: &str) -> String {
    let response = share(app, key, id, query).await;
    assert_eq!(response.status(), 201);
    let link: Value = response.json().await.unwrap();
    let url = link["url"].as_str().unwrap().to_string();
    assert!(url.starts_with(&app.url("/v1/shared/")), "{url}");
    let expires_at =
        chrono::DateTime::parse_from_rfc3339(link["expires_at"].as_str().unwrap()).unwrap();
    assert!(expires_at > chrono::Utc::now());
    url
}

async fn get(app: &TestApp, url: &str) -> reqwest::Response {
    app.client.get(url).send().await.unwrap()
}

/// The body of an answer, checked for what must never leave the server.
async fn body_of(app: &TestApp, response: reqwest::Response) -> String {
    let body = response.text().await.unwrap();
    assert!(
        !body.contains(&app.data_dir.display().to_string()),
        "{body}"
    );
    assert!(
        !body.contains("/tmp/") && !body.to_lowercase().contains("sql"),
        "{body}"
    );
    body
}

#[tokio::test]
async fn a_link_downloads_one_result_with_no_key_and_range_etag_head() {
    let app = spawn_app_with(|s| s.worker.workers = Some(1)).await;
    let acme = make_key(&app, "acme", "acme", false).await;
    let other = make_key(&app, "other", "other", false).await;
    let id = succeeded_job(&app, Some(&acme)).await;
    let whole = app
        .client
        .get(app.url(&format!("/v1/jobs/{id}/result")))
        .bearer_auth(&acme)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let url = link(&app, Some(&acme), &id, "").await;

    // No key, auth on: the whole file, its ETag, a range, HEAD, 304.
    let response = get(&app, &url).await;
    assert_eq!(response.status(), 200);
    let etag = response.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(response.bytes().await.unwrap(), whole);
    let range = app
        .client
        .get(&url)
        .header("Range", "bytes=0-3")
        .send()
        .await
        .unwrap();
    assert_eq!(range.status(), 206);
    assert_eq!(
        range.headers()["content-range"],
        format!("bytes 0-3/{}", whole.len())
    );
    assert_eq!(&range.bytes().await.unwrap()[..], b"PAR1");
    let head = app.client.head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], whole.len().to_string());
    let cached = app
        .client
        .get(&url)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);

    // The job's other routes still need the key.
    let keyless = get(&app, &app.url(&format!("/v1/jobs/{id}/result"))).await;
    expect_problem(keyless, 401, "unauthorized").await;
    // Another tenant cannot share it: 404, as for a missing job.
    let foreign = share(&app, Some(&other), &id, "").await;
    expect_problem(foreign, 404, "not-found").await;
    // Nor with no key, nor past the job's expiry, nor for zero seconds.
    expect_problem(share(&app, None, &id, "").await, 401, "unauthorized").await;
    let too_long = share(&app, Some(&acme), &id, "?expires_in=99999999").await;
    let problem = expect_problem(too_long, 400, "invalid-query").await;
    assert!(problem["detail"].as_str().unwrap().contains("expires"));
    expect_problem(
        share(&app, Some(&acme), &id, "?expires_in=0").await,
        400,
        "invalid-query",
    )
    .await;
}

#[tokio::test]
async fn an_altered_link_is_refused() {
    let app = spawn_app_with(|s| s.worker.workers = Some(1)).await;
    let id = succeeded_job(&app, None).await;
    let other = succeeded_job(&app, None).await;
    let url = link(&app, None, &id, "?expires_in=600").await;
    let (base, token) = url.rsplit_once('/').unwrap();
    let parts: Vec<&str> = token.split('.').collect();

    let mut signature = parts[2].to_string();
    let last = signature.pop().unwrap();
    signature.push(if last == 'A' { 'B' } else { 'A' });
    let flipped = format!("{base}/{}.{}.{signature}", parts[0], parts[1]);
    let later = format!(
        "{base}/{}.{}.{}",
        parts[0],
        parts[1].parse::<i64>().unwrap() + 3600,
        parts[2]
    );
    let other_job = format!(
        "{base}/{}.{}.{}",
        other.replace('-', ""),
        parts[1],
        parts[2]
    );
    for altered in [
        flipped,
        later,
        other_job,
        format!("{base}/garbage"),
        format!("{url}.x"),
    ] {
        let response = get(&app, &altered).await;
        assert_eq!(response.status(), 403, "{altered}");
        let body = body_of(&app, response).await;
        assert!(body.contains("invalid-link"), "{body}");
    }
    assert_eq!(get(&app, &url).await.status(), 200);
}

#[tokio::test]
async fn a_link_stops_at_its_expiry_and_when_its_job_is_deleted() {
    let app = spawn_app_with(|s| s.worker.workers = Some(1)).await;
    let id = succeeded_job(&app, None).await;
    let short = link(&app, None, &id, "?expires_in=2").await;
    let long = link(&app, None, &id, "?expires_in=3600").await;

    // At least a second is left on a two-second link.
    assert_eq!(get(&app, &short).await.status(), 200);
    eventually("the link expires", Duration::from_secs(10), async || {
        get(&app, &short).await.status() == 410
    })
    .await;
    expect_problem(get(&app, &short).await, 410, "link-expired").await;

    // Deleted: the job's row is gone, so is the link.
    assert_eq!(get(&app, &long).await.status(), 200);
    let deleted = app
        .client
        .delete(app.url(&format!("/v1/jobs/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let response = get(&app, &long).await;
    assert_eq!(response.status(), 404);
    body_of(&app, response).await;
}

/// Another process of the same database, with its own link secret setting.
async fn second_app(
    app: &TestApp,
    secret: Option<&str>,
) -> (String, tokio::sync::oneshot::Sender<()>) {
    let mut settings = settings(&app.database_url, &app.data_dir, 0);
    settings.links.link_secret = secret.map(str::to_string);
    let second = Application::build(settings).await.expect("build the app");
    let address = format!("http://127.0.0.1:{}", second.port());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(second.run_until(async {
        let _ = stopped.await;
    }));
    (address, stop)
}

#[tokio::test]
async fn a_link_stops_when_the_secret_changes_and_the_stored_secret_is_shared() {
    // No secret set: the one kept in the database, the same in every process.
    let app = spawn_app_with(|s| s.worker.workers = Some(1)).await;
    let id = succeeded_job(&app, None).await;
    let url = link(&app, None, &id, "").await;
    let path = &url[url.find("/v1/shared/").unwrap()..];
    let (twin, _stop_twin) = second_app(&app, None).await;
    assert_eq!(get(&app, &format!("{twin}{path}")).await.status(), 200);

    // Secret A set: links of the stored secret stop; A's work.
    let (with_a, stop_a) = second_app(&app, Some(SECRET_A)).await;
    expect_problem(
        get(&app, &format!("{with_a}{path}")).await,
        403,
        "invalid-link",
    )
    .await;
    let a_link: Value = app
        .client
        .post(format!("{with_a}/v1/jobs/{id}/links"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let a_path = {
        let a_url = a_link["url"].as_str().unwrap();
        a_url[a_url.find("/v1/shared/").unwrap()..].to_string()
    };
    assert_eq!(get(&app, &format!("{with_a}{a_path}")).await.status(), 200);
    let _ = stop_a.send(());

    // Rotated to B (a restart with another setting): A's link is refused.
    let (with_b, _stop_b) = second_app(&app, Some(SECRET_B)).await;
    expect_problem(
        get(&app, &format!("{with_b}{a_path}")).await,
        403,
        "invalid-link",
    )
    .await;
}
