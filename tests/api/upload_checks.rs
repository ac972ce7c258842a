//! What an upload is refused for before a job exists: empty files, stalled
//! bodies, repeated options, bad headers; and what problem documents carry.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{expect_problem, spawn_app, spawn_app_with};

#[tokio::test]
async fn an_empty_raw_body_is_refused_with_400_and_nothing_is_stored() {
    let app = spawn_app().await;

    let response = app.upload_raw("", "?filename=empty.csv").await;

    let problem = expect_problem(response, 400, "empty-file").await;
    assert_eq!(problem["instance"], "/v1/jobs");
    assert!(app.stored_files().is_empty());
    assert_eq!(app.job_count().await, 0);
    app.stop().await;
}

#[tokio::test]
async fn an_empty_file_part_is_refused_with_400_and_nothing_is_stored() {
    let app = spawn_app().await;

    let response = app.upload_multipart(Vec::new(), "empty.csv", &[]).await;

    expect_problem(response, 400, "empty-file").await;
    assert!(app.stored_files().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_repeated_single_valued_option_is_refused_with_400() {
    let app = spawn_app().await;

    let multipart = app
        .upload_multipart(
            b"a,b\n1,2\n".to_vec(),
            "t.csv",
            &[("delimiter", ","), ("delimiter", "|")],
        )
        .await;
    let query = app.upload_raw("a\n1\n", "?header=true&HEADER=false").await;
    let aliases = app.upload_raw("a\n1\n", "?delimiter=,&sep=;").await;

    for response in [multipart, query, aliases] {
        expect_problem(response, 400, "invalid-option").await;
    }
    assert!(app.stored_files().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn options_that_contradict_each_other_are_refused_before_the_body_is_stored() {
    let app = spawn_app().await;

    for (query, field) in [
        ("?delimiter=%3B&quote=%3B", "quote"),
        ("?schema=a:int64,a:string", "schema"),
        ("?schema=a:decimal(40,2)", "schema"),
    ] {
        let response = app.upload_raw("a;b\n1;2\n", query).await;
        assert_eq!(response.status(), 400, "{query}");
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["code"], "invalid-option", "{problem:#}");
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains(field), "{query}: {detail}");
    }
    assert!(app.stored_files().is_empty());
    assert_eq!(app.job_count().await, 0);
    app.stop().await;
}

#[tokio::test]
async fn formats_repeat_and_enumerated_values_ignore_case() {
    let app = spawn_app().await;

    let response = app
        .upload_raw(
            "day\n24/11/2026\n",
            "?date_format=%25Y-%25m-%25d&date_format=%25d/%25m/%25Y\
             &header=TRUE&encoding=UTF-8&compression=%20ZSTD%20",
        )
        .await;

    assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
    app.stop().await;
}

#[tokio::test]
async fn an_invalid_idempotency_key_is_an_invalid_header() {
    let app = spawn_app().await;

    let response = app
        .client
        .post(app.url("/v1/jobs"))
        .header("Content-Type", "text/csv")
        .header("Idempotency-Key", "x".repeat(300))
        .body("a\n1\n")
        .send()
        .await
        .unwrap();

    expect_problem(response, 400, "invalid-header").await;
    app.stop().await;
}

#[tokio::test]
async fn a_stalled_upload_gets_408_and_its_partial_file_is_removed() {
    let app = spawn_app_with(|s| s.upload_idle_timeout_secs = 1).await;
    let address = app.address.trim_start_matches("http://").to_string();

    // Arrange: announce 1000 bytes, send 8, then nothing.
    let started = Instant::now();
    let response = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream
            .write_all(
                b"POST /v1/jobs HTTP/1.1\r\nHost: test\r\nContent-Type: text/csv\r\n\
                  Content-Length: 1000\r\n\r\na,b\n1,2\n",
            )
            .unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut answer = Vec::new();
        let mut buffer = [0u8; 4096];
        // Read until the whole problem document has arrived.
        while !String::from_utf8_lossy(&answer).contains("upload-timeout\"") {
            match stream.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            }
        }
        String::from_utf8_lossy(&answer).to_string()
    })
    .await
    .unwrap();

    // Assert
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(response.contains("application/problem+json"), "{response}");
    assert!(response.contains("\"upload-timeout\""), "{response}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(app.stored_files().is_empty(), "{:?}", app.stored_files());
    app.stop().await;
}

#[tokio::test]
async fn readiness_is_503_below_the_free_disk_floor() {
    let app = spawn_app_with(|s| {
        s.worker.workers = Some(0);
        s.min_free_disk_bytes = u64::MAX;
    })
    .await;

    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();

    assert_eq!(ready.status(), 503);
    assert!(ready.headers().contains_key("retry-after"));
    let problem: Value = ready.json().await.unwrap();
    assert_eq!(problem["code"], "insufficient-storage");
    assert_eq!(problem["instance"], "/readyz");
    app.stop().await;
}
