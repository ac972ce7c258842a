//! Downloading results: HEAD, and `Range` headers the server must ignore or
//! refuse with a problem document.

use serde_json::Value;

use crate::helpers::{spawn_app, TestApp};

async fn succeeded_job(app: &TestApp) -> (String, bytes::Bytes) {
    let id = app.enqueue("a,b\n1,2\n3,4\n").await;
    assert_eq!(app.wait_until_finished(&id).await["status"], "succeeded");
    let whole = app.download(&id).await.bytes().await.unwrap();
    (id, whole)
}

async fn get_with_range(app: &TestApp, id: &str, range: &str) -> reqwest::Response {
    app.client
        .get(app.url(&format!("/v1/jobs/{id}/result")))
        .header("Range", range)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_range_past_the_end_is_416_as_problem_json() {
    let app = spawn_app().await;
    let (id, whole) = succeeded_job(&app).await;

    let response = get_with_range(&app, &id, "bytes=999999-").await;

    assert_eq!(response.status(), 416);
    assert_eq!(
        response.headers()["content-range"],
        format!("bytes */{}", whole.len()).as_str()
    );
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "range-not-satisfiable");
    assert_eq!(problem["instance"], format!("/v1/jobs/{id}/result"));
    app.stop().await;
}

#[tokio::test]
async fn unusable_ranges_are_ignored_and_the_whole_file_is_sent() {
    let app = spawn_app().await;
    let (id, whole) = succeeded_job(&app).await;

    for range in ["items=0-5", "bytes=abc", "bytes=5-4", "bytes=0-1,4-5"] {
        let response = get_with_range(&app, &id, range).await;

        assert_eq!(response.status(), 200, "{range}");
        assert_eq!(response.bytes().await.unwrap(), whole, "{range}");
    }
    app.stop().await;
}

#[tokio::test]
async fn head_of_a_result_answers_its_headers() {
    let app = spawn_app().await;
    let (id, whole) = succeeded_job(&app).await;

    let response = app
        .client
        .head(app.url(&format!("/v1/jobs/{id}/result")))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(
        headers["content-length"].to_str().unwrap(),
        whole.len().to_string()
    );
    assert!(headers.contains_key("etag"));
    assert_eq!(headers["content-type"], "application/vnd.apache.parquet");
    assert!(response.bytes().await.unwrap().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn if_range_honours_the_range_only_for_the_current_representation() {
    let app = spawn_app().await;
    let (id, whole) = succeeded_job(&app).await;
    let head = app.download(&id).await;
    let etag = head.headers()["etag"].to_str().unwrap().to_string();
    let modified = head.headers()["last-modified"]
        .to_str()
        .unwrap()
        .to_string();
    let ranged = |condition: String| {
        app.client
            .get(app.url(&format!("/v1/jobs/{id}/result")))
            .header("Range", "bytes=0-3")
            .header("If-Range", condition)
            .send()
    };

    let current = ranged(etag.clone()).await.unwrap();
    let by_date = ranged(modified).await.unwrap();
    let stale = ranged("\"not-the-etag\"".into()).await.unwrap();
    let weak = ranged(format!("W/{etag}")).await.unwrap();
    let not_modified = app
        .client
        .get(app.url(&format!("/v1/jobs/{id}/result")))
        .header("If-None-Match", etag.as_str())
        .send()
        .await
        .unwrap();

    assert_eq!(current.status(), 206);
    assert_eq!(current.bytes().await.unwrap(), whole.slice(0..4));
    assert_eq!(by_date.status(), 206);
    assert_eq!(stale.status(), 200);
    assert_eq!(stale.bytes().await.unwrap(), whole);
    // A weak validator never matches If-Range (RFC 9110 §13.1.5).
    assert_eq!(weak.status(), 200);
    assert_eq!(not_modified.status(), 304);
    app.stop().await;
}
