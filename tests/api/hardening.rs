//! What an adversarial user found, each pinned by a test: input that made a
//! 500, options that amplified memory, files a killed attempt left, an
//! idempotency key reused for another request, cross-origin uploads.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::{eventually, expect_problem, spawn_app_with, TestApp};

/// The same checks on both stores: PostgreSQL refuses NUL bytes and far
/// timestamps that SQLite would take.
async fn spawn_on(store: &str) -> TestApp {
    let sqlite = store == "sqlite";
    spawn_app_with(|s| {
        s.worker.workers = Some(0);
        if sqlite {
            s.database.database_url = None;
        }
    })
    .await
}

#[tokio::test]
async fn nul_bytes_and_forged_cursors_are_400s_on_both_stores() {
    for store in ["postgres", "sqlite"] {
        let app = spawn_on(store).await;

        let filename = app.upload_raw("a\n1\n", "?filename=a%00b.csv").await;
        let delimiter = app.upload_raw("a\n1\n", "?delimiter=%00").await;
        let field = app
            .upload_multipart(b"a\n1\n".to_vec(), "x.csv", &[("null_values", "NA\0")])
            .await;
        let name_field = app
            .upload_multipart(b"a\n1\n".to_vec(), "x.csv", &[("filename", "a\0b.csv")])
            .await;
        // About 93,000 BC: before what PostgreSQL's timestamptz holds.
        let forged = base64_url(&format!(
            "{}|{}",
            -3_000_000_000_000_000_000i64,
            uuid::Uuid::nil()
        ));
        let cursor = app
            .client
            .get(app.url(&format!("/v1/jobs?cursor={forged}")))
            .send()
            .await
            .unwrap();

        expect_problem(filename, 400, "invalid-filename").await;
        expect_problem(delimiter, 400, "invalid-option").await;
        expect_problem(field, 400, "invalid-option").await;
        expect_problem(name_field, 400, "invalid-filename").await;
        expect_problem(cursor, 400, "invalid-cursor").await;
        assert!(app.stored_files().is_empty(), "{store}");
        app.stop().await;
    }
}

fn base64_url(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

#[tokio::test]
async fn options_are_bounded_in_number_and_size() {
    let app = spawn_app_with(|s| s.worker.workers = Some(0)).await;
    let many: String = (0..300).map(|_| "&date_format=%25d").collect();
    let long = format!("?date_format={}", "%25Y".repeat(5000));

    let too_many = app.upload_raw("a\n1\n", &format!("?x=1{many}")).await;
    let too_long = app.upload_raw("a\n1\n", &long).await;
    let fields: Vec<(&str, &str)> = vec![("date_format", "%d"); 300];
    let too_many_fields = app
        .upload_multipart(b"a\n1\n".to_vec(), "a.csv", &fields)
        .await;

    expect_problem(too_many, 400, "options-too-large").await;
    expect_problem(too_long, 400, "options-too-large").await;
    expect_problem(too_many_fields, 400, "options-too-large").await;
    assert!(app.stored_files().is_empty());
    assert_eq!(app.job_count().await, 0);
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn a_page_of_jobs_is_bounded_in_bytes_and_the_cursor_reaches_the_rest() {
    let app = spawn_app_with(|s| s.worker.workers = Some(0)).await;
    // 60 KB schemas: 30 jobs weigh about 1.8 MB, more than one page may.
    let schema: String = (0..5000)
        .map(|n| format!("c{n}:int64"))
        .collect::<Vec<_>>()
        .join(",");
    for _ in 0..30 {
        let response = app
            .upload_multipart(b"a\n1\n".to_vec(), "a.csv", &[("schema", &schema)])
            .await;
        assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
    }

    let mut seen = 0;
    let mut pages = 0;
    let mut cursor = String::new();
    loop {
        let response = app
            .client
            .get(app.url(&format!("/v1/jobs?limit=100{cursor}")))
            .send()
            .await
            .unwrap();
        let body = response.bytes().await.unwrap();
        assert!(body.len() < 1_200_000, "a page of {} bytes", body.len());
        let page: Value = serde_json::from_slice(&body).unwrap();
        seen += page["jobs"].as_array().unwrap().len();
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }

    assert_eq!(seen, 30);
    assert!(pages >= 2, "one page carried every job");
    app.stop().await;
}

#[tokio::test]
async fn a_codec_level_the_writer_refuses_is_refused_at_upload() {
    let app = spawn_app_with(|s| s.worker.workers = Some(0)).await;

    let gzip = app.upload_raw("a\n1\n", "?compression=gzip:10").await;
    let zstd = app
        .upload_raw("a\n1\n", "?compression=zstd&compression_level=23")
        .await;
    let fine = app.upload_raw("a\n1\n", "?compression=gzip:9").await;

    expect_problem(gzip, 400, "invalid-option").await;
    expect_problem(zstd, 400, "invalid-option").await;
    assert_eq!(fine.status(), 202);
    app.stop().await;
}

#[tokio::test]
async fn an_idempotency_key_reused_for_another_request_is_422() {
    let app = spawn_app_with(|s| s.worker.workers = Some(0)).await;
    let post = |body: &'static str, query: &'static str| {
        app.client
            .post(app.url(&format!("/v1/jobs{query}")))
            .header("Idempotency-Key", "upload-7")
            .body(body)
            .send()
    };

    let first = post("a\n1\n", "").await.unwrap();
    let same = post("a\n1\n", "").await.unwrap();
    let other_body = post("a\n2\n", "").await.unwrap();
    let other_options = post("a\n1\n", "?delimiter=;").await.unwrap();

    assert_eq!(first.status(), 202);
    assert_eq!(same.status(), 200);
    expect_problem(other_body, 422, "idempotency-key-reused").await;
    expect_problem(other_options, 422, "idempotency-key-reused").await;
    assert_eq!(app.job_count().await, 1);
    assert_eq!(app.stored_files().len(), 1);
    app.stop().await;
}

/// A job marked running (attempt 2) by a worker that is not this process's,
/// and a failed job: made through the job table, so nothing races.
async fn running_and_failed_jobs(app: &TestApp) -> (String, String) {
    let running = app.enqueue("a\n1\n").await;
    let failed = app.enqueue("a\n2\n").await;
    sqlx::query(
        "UPDATE jobs SET status = 'running', attempts = 2, worker_id = 'elsewhere', \
         heartbeat_at = now() + interval '1 hour', started_at = now() WHERE id = $1::uuid",
    )
    .bind(&running)
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query("UPDATE jobs SET status = 'failed', finished_at = now() WHERE id = $1::uuid")
        .bind(&failed)
        .execute(&app.pool)
        .await
        .unwrap();
    (running, failed)
}

fn scratch_file(app: &TestApp, job: &str, attempt: i32) -> std::path::PathBuf {
    let path = app
        .data_dir
        .join("work")
        .join(format!("{job}.{attempt}.parquet.part"));
    std::fs::write(&path, b"a partial result").unwrap();
    path
}

#[tokio::test]
async fn partial_results_of_attempts_that_no_longer_run_are_swept() {
    let app = spawn_app_with(|s| {
        s.worker.workers = Some(1);
        s.worker.lease_timeout_secs = 2;
    })
    .await;
    let (running, failed) = running_and_failed_jobs(&app).await;
    let live = scratch_file(&app, &running, 2);
    let killed_attempt = scratch_file(&app, &running, 1);
    let finished_job = scratch_file(&app, &failed, 1);
    // A job with no row yet: a conversion begun while its upload arrives.
    let head_start = scratch_file(&app, &uuid::Uuid::now_v7().to_string(), 1);

    eventually(
        "the dead attempts' files to go",
        Duration::from_secs(15),
        async || !killed_attempt.exists() && !finished_job.exists(),
    )
    .await;

    assert!(
        live.exists(),
        "the running attempt's partial result was removed"
    );
    assert!(
        head_start.exists(),
        "a head start's partial result was removed before the orphan grace"
    );
    app.stop().await;
}

#[tokio::test]
async fn deleting_a_job_removes_every_file_it_has() {
    let app = spawn_app_with(|s| s.worker.workers = Some(0)).await;
    let (_, failed) = running_and_failed_jobs(&app).await;
    scratch_file(&app, &failed, 1);
    scratch_file(&app, &failed, 3);

    let deleted = app
        .client
        .delete(app.url(&format!("/v1/jobs/{failed}")))
        .send()
        .await
        .unwrap();

    assert_eq!(deleted.status(), 204);
    let left: Vec<_> = app
        .stored_files()
        .into_iter()
        .filter(|path| path.to_string_lossy().contains(&failed))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_cross_origin_upload_is_refused_unless_its_origin_is_allowed() {
    let app = spawn_app_with(|s| {
        s.worker.workers = Some(0);
        s.allowed_origins = Some("https://app.example.com".into());
    })
    .await;
    let upload = |origin: &str| {
        app.client
            .post(app.url("/v1/jobs"))
            .header("Origin", origin)
            .header("Content-Type", "text/plain")
            .body("a\n1\n")
            .send()
    };

    let evil = upload("https://evil.example").await.unwrap();
    let allowed = upload("https://app.example.com").await.unwrap();
    let same_origin = upload(&app.address).await.unwrap();
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/v1/jobs"))
        .header("Origin", "https://app.example.com")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "idempotency-key")
        .send()
        .await
        .unwrap();
    let evil_preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/v1/jobs"))
        .header("Origin", "https://evil.example")
        .header("Access-Control-Request-Method", "DELETE")
        .send()
        .await
        .unwrap();

    expect_problem(evil, 403, "cross-origin-forbidden").await;
    assert_eq!(allowed.status(), 202);
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(same_origin.status(), 202);
    assert_eq!(preflight.status(), 204);
    let methods = preflight.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap();
    assert!(methods.contains("POST"), "{methods}");
    expect_problem(evil_preflight, 403, "cross-origin-forbidden").await;
    assert_eq!(app.job_count().await, 2);
    app.stop().await;
}

#[tokio::test]
async fn unsupported_methods_on_probes_are_405_with_allow() {
    let app = spawn_app_with(|s| s.worker.workers = Some(0)).await;
    for path in ["/healthz", "/readyz", "/metrics"] {
        let trace = app
            .client
            .request(reqwest::Method::TRACE, app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(trace.headers()["allow"], "GET", "{path}");
        expect_problem(trace, 405, "method-not-allowed").await;
    }
    app.stop().await;
}

#[tokio::test]
async fn empty_values_the_schema_forbids_are_refused() {
    let app = spawn_app_with(|s| s.worker.workers = Some(0)).await;

    for query in ["?status=", "?limit=", "?cursor="] {
        let response = app
            .client
            .get(app.url(&format!("/v1/jobs{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{query}");
    }
    for query in ["?compression_level=", "?row_group_size=", "?header="] {
        let response = app.upload_raw("a\n1\n", query).await;
        expect_problem(response, 400, "invalid-option").await;
    }
    assert!(app.stored_files().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_malformed_chunked_body_is_refused_and_keeps_nothing() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app_with(|s| s.worker.workers = Some(0)).await;
    let address = app.address.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();

    // A chunk size that is not hexadecimal.
    let request = format!(
        "POST /v1/jobs HTTP/1.1\r\nHost: {address}\r\nContent-Type: text/csv\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n4\r\na,b\n\r\nZZ\r\n1,2\n\r\n0\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);

    // actix's HTTP/1 dispatcher answers a malformed chunk itself (a bare 400,
    // or closing the connection) before our handler can answer; what it
    // must never be is a 5xx, or a partial upload left behind.
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
        "{answer}"
    );
    eventually(
        "the partial upload to go",
        Duration::from_secs(5),
        async || app.stored_files().is_empty(),
    )
    .await;
    assert_eq!(app.job_count().await, 0);
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    app.stop().await;
}
