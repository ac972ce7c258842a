//! Head starts: an upload is converted while it arrives, when a worker is
//! free; the job still exists only once the upload is stored, and an upload
//! cut off mid-way leaves neither a job nor a file, and frees its worker. A
//! form's conversion begins with the options sent before its file; fields
//! after the file that change them send the job through the queue.

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::helpers::*;

/// A request body the test sends piece by piece.
fn piecewise_body() -> (mpsc::Sender<Result<Bytes, std::io::Error>>, reqwest::Body) {
    let (sender, receiver) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|piece| (piece, receiver))
    });
    (sender, reqwest::Body::wrap_stream(stream))
}

/// Whether a worker's scratch space holds a file: a conversion has begun.
fn converting(app: &TestApp) -> bool {
    std::fs::read_dir(app.data_dir.join("work")).is_ok_and(|mut entries| entries.next().is_some())
}

type Upload = tokio::task::JoinHandle<reqwest::Result<reqwest::Response>>;

/// Starts `POST path` of a `content_type` body whose pieces the test sends
/// through the returned sender.
fn upload_in_pieces(
    app: &TestApp,
    path: &str,
    content_type: &str,
) -> (mpsc::Sender<Result<Bytes, std::io::Error>>, Upload) {
    let (sender, body) = piecewise_body();
    let request = app.client.post(app.url(path));
    let request = request.header("Content-Type", content_type).body(body);
    (sender, tokio::spawn(request.send()))
}

/// Waits for the upload's conversion to begin, and checks that its job does
/// not exist yet.
async fn wait_for_conversion_before_its_job(app: &TestApp) {
    eventually(
        "the conversion to begin before the upload ends",
        Duration::from_secs(30),
        async || converting(app),
    )
    .await;
    assert_eq!(
        app.job_count().await,
        0,
        "no job before the upload is stored"
    );
}

/// The job an upload answered with `?wait=`, finished.
async fn succeeded_job(upload: Upload) -> serde_json::Value {
    let answer = upload.await.unwrap().unwrap();
    assert_eq!(answer.status(), 200);
    let job: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(job["status"], "succeeded", "{job:#}");
    job
}

#[tokio::test]
async fn a_raw_upload_is_converted_while_it_arrives() {
    let app = spawn_app_with(|s| s.worker.workers = Some(1)).await;
    let csv = large_csv(120_000).into_bytes();
    let (first, rest) = csv.split_at(csv.len() * 2 / 3);
    let (sender, upload) = upload_in_pieces(&app, "/v1/jobs?wait=60", "text/csv");
    sender
        .send(Ok(Bytes::copy_from_slice(first)))
        .await
        .unwrap();
    wait_for_conversion_before_its_job(&app).await;
    sender.send(Ok(Bytes::copy_from_slice(rest))).await.unwrap();
    drop(sender);

    let job = succeeded_job(upload).await;
    assert_eq!(job["attempts"], 1, "{job:#}");
    assert_eq!(job["input"]["bytes"], csv.len());
    // It never waited in the queue: its conversion began while it was received.
    let steps: Vec<&str> = job["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| step["stage"].as_str().unwrap())
        .collect();
    assert_eq!(steps[..2], ["received", "detecting"], "{job:#}");
    assert!(!steps.contains(&"queued") && !steps.contains(&"claimed"));
    assert_eq!(steps.last(), Some(&"succeeded"));
    let detecting = job["timeline"][1]["started_at"].as_str().unwrap();
    let created = job["created_at"].as_str().unwrap();
    let at = |t: &str| t.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    assert!(at(detecting) < at(created), "{job:#}");
    let id = job["id"].as_str().unwrap();
    let parquet = app.download(id).await.bytes().await.unwrap();
    let batch = read_parquet(parquet);
    assert_eq!(batch.num_rows(), 120_000);
    assert_eq!(batch.schema().field(1).data_type().to_string(), "Float64");
    assert_eq!(head_starts(&app, "handed_over").await, 1.0);
    assert_eq!(head_starts(&app, "abandoned").await, 0.0);
    app.stop().await;
}

#[tokio::test]
async fn an_upload_cut_off_while_converting_leaves_nothing_and_frees_its_worker() {
    let app = spawn_app_with(|s| s.worker.workers = Some(1)).await;
    let csv = large_csv(120_000).into_bytes();
    let (sender, upload) = upload_in_pieces(&app, "/v1/jobs", "text/csv");
    let half = Bytes::copy_from_slice(&csv[..csv.len() / 2]);
    sender.send(Ok(half)).await.unwrap();
    eventually(
        "the conversion to begin",
        Duration::from_secs(30),
        async || converting(&app),
    )
    .await;
    // The client fails mid-body: the connection closes without the rest.
    let failure = std::io::Error::other("the client gave up");
    sender.send(Err(failure)).await.unwrap();
    assert!(upload.await.unwrap().is_err());

    eventually(
        "the partial upload and its conversion's files to go",
        Duration::from_secs(30),
        async || app.stored_files().is_empty(),
    )
    .await;
    assert_eq!(app.job_count().await, 0);
    assert_eq!(head_starts(&app, "abandoned").await, 1.0);
    // The one worker is free again: the next upload converts.
    let next = app.upload_raw("a,b\n1,2\n", "?wait=60").await;
    assert_eq!(next.status(), 200);
    let job: serde_json::Value = next.json().await.unwrap();
    assert_eq!(job["status"], "succeeded", "{job:#}");
    app.stop().await;
}

const BOUNDARY: &str = "head-start-boundary";

/// A form's text field, as it goes on the wire.
fn form_field(name: &str, value: &str) -> String {
    format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
}

/// The `file` part's headers, then its bytes.
fn form_file(csv: &[u8]) -> Vec<u8> {
    let head = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n\
         Content-Type: text/csv\r\n\r\n"
    );
    let mut part = head.into_bytes();
    part.extend_from_slice(csv);
    part
}

/// Sends a form in two pieces, its file cut at two thirds, the second only
/// once a conversion has begun; returns the job it made, finished.
async fn send_form_in_two(
    app: &TestApp,
    before: &str,
    csv: &[u8],
    after: &str,
) -> serde_json::Value {
    let kind = format!("multipart/form-data; boundary={BOUNDARY}");
    let (sender, upload) = upload_in_pieces(app, "/v1/jobs?wait=60", &kind);
    let file = form_file(csv);
    let cut = file.len() - csv.len() / 3;
    let mut first = before.as_bytes().to_vec();
    first.extend_from_slice(&file[..cut]);
    sender.send(Ok(first.into())).await.unwrap();
    wait_for_conversion_before_its_job(app).await;
    let mut rest = file[cut..].to_vec();
    rest.extend_from_slice(b"\r\n");
    rest.extend_from_slice(after.as_bytes());
    rest.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    sender.send(Ok(rest.into())).await.unwrap();
    drop(sender);
    succeeded_job(upload).await
}

async fn rows_of_result(app: &TestApp, job: &serde_json::Value) -> usize {
    let result = app.download(job["id"].as_str().unwrap()).await;
    read_parquet(result.bytes().await.unwrap()).num_rows()
}

fn stages(job: &serde_json::Value) -> Vec<String> {
    let timeline = job["timeline"].as_array().unwrap();
    timeline
        .iter()
        .map(|step| step["stage"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_form_is_converted_while_it_arrives_with_the_options_before_its_file() {
    let app = spawn_app_with(|s| s.worker.workers = Some(1)).await;
    let csv = large_csv(120_000).into_bytes();
    let job = send_form_in_two(&app, &form_field("header", "false"), &csv, "").await;
    assert_eq!(job["options"]["header"], "false", "{job:#}");
    let stages = stages(&job);
    assert!(!stages.contains(&"queued".to_string()), "{job:#}");
    assert_eq!(job["input"]["filename"], "big.csv");
    // Without a header the names line is a row of its own.
    assert_eq!(rows_of_result(&app, &job).await, 120_001);
    assert_eq!(head_starts(&app, "handed_over").await, 1.0);
    app.stop().await;
}

#[tokio::test]
async fn a_field_after_the_file_that_changes_the_options_sends_the_job_through_the_queue() {
    let app = spawn_app_with(|s| s.worker.workers = Some(1)).await;
    let csv = large_csv(120_000).into_bytes();
    let job = send_form_in_two(&app, "", &csv, &form_field("header", "false")).await;
    assert_eq!(job["options"]["header"], "false", "{job:#}");
    assert_eq!(job["attempts"], 1, "{job:#}");
    let stages = stages(&job);
    assert!(stages.contains(&"queued".to_string()), "{job:#}");
    assert_eq!(rows_of_result(&app, &job).await, 120_001);
    assert_eq!(
        app.stored_files()
            .iter()
            .filter(|f| f.starts_with(app.data_dir.join("work")))
            .count(),
        0
    );
    assert_eq!(head_starts(&app, "abandoned").await, 1.0);
    assert_eq!(head_starts(&app, "handed_over").await, 0.0);
    app.stop().await;
}

#[tokio::test]
async fn fields_after_the_file_that_convert_the_same_keep_the_head_start() {
    let app = spawn_app_with(|s| s.worker.workers = Some(1)).await;
    let csv = large_csv(120_000).into_bytes();
    // The default codec restated, and the job's file name: neither changes
    // what the conversion writes.
    let after = form_field("compression", "snappy") + &form_field("filename", "renamed.csv");
    let job = send_form_in_two(&app, "", &csv, &after).await;
    assert_eq!(job["options"]["compression"], "snappy", "{job:#}");
    assert_eq!(job["input"]["filename"], "renamed.csv", "{job:#}");
    assert!(!stages(&job).contains(&"queued".to_string()), "{job:#}");
    assert_eq!(rows_of_result(&app, &job).await, 120_000);
    assert_eq!(head_starts(&app, "handed_over").await, 1.0);
    app.stop().await;
}

/// `parquetry_head_starts_total` of one outcome, from `/metrics`.
async fn head_starts(app: &TestApp, outcome: &str) -> f64 {
    let text = app.get_text("/metrics").await;
    value_of(
        &text,
        &format!("parquetry_head_starts_total{{outcome=\"{outcome}\""),
    )
}
