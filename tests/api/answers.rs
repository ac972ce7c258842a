//! Answers that point at the real mistake: options echoed as understood, one
//! time format in a job, a misnamed file part, and the 415 that lists what is
//! accepted.

use serde_json::{json, Value};

use crate::helpers::{expect_problem, spawn_app_with, TestApp};

/// `2026-11-30T12:00:00.123456Z`: RFC 3339, UTC, `Z`, six fractional digits.
fn is_api_time(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| b[range].iter().all(u8::is_ascii_digit);
    b.len() == 27
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'.'
        && digits(20..26)
        && b[26] == b'Z'
}

/// Every time of a job that has failed once, in the API's one form.
async fn assert_every_time_in_one_format(app: &TestApp) {
    let id = app.enqueue("a,b\n1,2\n3\n").await;
    let job = app.wait_until_finished(&id).await;
    assert_eq!(job["status"], "failed", "{job:#}");

    let mut times: Vec<&Value> = ["created_at", "started_at", "finished_at", "expires_at"]
        .iter()
        .map(|field| &job[field])
        .collect();
    times.push(&job["attempt_errors"][0]["at"]);
    let timeline = job["timeline"].as_array().unwrap();
    assert!(!timeline.is_empty(), "{job:#}");
    times.extend(timeline.iter().map(|step| &step["started_at"]));
    for time in times {
        let text = time.as_str().unwrap_or_else(|| panic!("{job:#}"));
        assert!(is_api_time(text), "{text} in {job:#}");
    }
    // A list shows jobs the same way.
    let listed = app.get_json("/v1/jobs").await;
    let at = listed["jobs"][0]["attempt_errors"][0]["at"]
        .as_str()
        .unwrap();
    assert!(is_api_time(at), "{at}");
}

#[tokio::test]
async fn a_job_on_postgresql_shows_every_time_in_one_format() {
    let app = spawn_app_with(|_| {}).await;
    assert_every_time_in_one_format(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn a_job_on_sqlite_shows_every_time_in_one_format() {
    let app = spawn_app_with(|s| s.database.database_url = None).await;
    assert_every_time_in_one_format(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn a_job_echoes_its_options_as_the_engine_understood_them() {
    let app = spawn_app_with(|s| s.worker.workers = Some(0)).await;

    // `{" Delimiter ":" ;"}` and friends, as a query string types them.
    let query = "?%20Delimiter%20=%20%3B&charset=Latin1&HEADER=Yes&codec=ZSTD%3A9\
                 &schema=%20a%20%3A%20INT%20";
    let response = app.upload_raw("a;b\n1;2\n", query).await;

    let job: Value = response.json().await.unwrap();
    assert_eq!(job["status"], "queued", "{job:#}");
    let expected = json!({
        "delimiter": ";",
        "encoding": "windows-1252",
        "header": "true",
        "compression": "zstd:9",
        "schema": "a:int64",
    });
    assert_eq!(job["options"], expected);
    let id = job["id"].as_str().unwrap();
    assert_eq!(app.get_job(id).await["options"], expected);

    // Multipart fields are echoed the same way.
    let response = app
        .upload_multipart(
            b"a\tb\n1\t2\n".to_vec(),
            "tabs.tsv",
            &[("Delimiter", "TAB")],
        )
        .await;
    let job: Value = response.json().await.unwrap();
    assert_eq!(job["options"], json!({"delimiter": "tab"}), "{job:#}");
    app.stop().await;
}

#[tokio::test]
async fn a_csv_under_another_part_name_is_missing_file_naming_that_part() {
    let app = spawn_app_with(|s| s.worker.workers = Some(0)).await;
    let utf8 = "cidade\nSão Paulo\n".as_bytes().to_vec();
    let windows_1252 = b"cidade\nS\xe3o Paulo\n".to_vec();

    // `-F data=@file.csv`, UTF-8: a part with a file name.
    let form = reqwest::multipart::Form::new().part(
        "data",
        reqwest::multipart::Part::bytes(utf8.clone()).file_name("cidades.csv"),
    );
    let problem = expect_problem(app.post_form(form).await, 400, "missing-file").await;
    assert!(problem["detail"].as_str().unwrap().contains("`data`"));

    // `-F data=<file.csv`: no file name, so it arrives as a text field.
    for body in [utf8, windows_1252.clone()] {
        let form = reqwest::multipart::Form::new()
            .text("delimiter", ";")
            .part("data", reqwest::multipart::Part::bytes(body));
        let problem = expect_problem(app.post_form(form).await, 400, "missing-file").await;
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            detail.contains("`data`") && !detail.contains("UTF-8"),
            "{detail}"
        );
    }

    // A real option with a value that is not text is still that option's mistake.
    let form = reqwest::multipart::Form::new()
        .part("delimiter", reqwest::multipart::Part::bytes(windows_1252))
        .part("file", reqwest::multipart::Part::bytes(b"a\n1\n".to_vec()));
    expect_problem(app.post_form(form).await, 400, "invalid-option").await;
    assert!(app.stored_files().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn the_415_answer_lists_every_accepted_media_type() {
    let app = spawn_app_with(|s| s.worker.workers = Some(0)).await;

    let response = app
        .client
        .post(app.url("/v1/jobs"))
        .header("Content-Type", "application/json")
        .body("a\n1\n")
        .send()
        .await
        .unwrap();

    let problem = expect_problem(response, 415, "unsupported-media-type").await;
    let detail = problem["detail"].as_str().unwrap();
    for kind in [
        "multipart/form-data",
        "text/csv",
        "text/*",
        "application/csv",
        "application/octet-stream",
        "application/gzip",
        "application/zstd",
        "application/x-www-form-urlencoded",
    ] {
        assert!(detail.contains(kind), "{kind} missing from: {detail}");
    }
    app.stop().await;
}
