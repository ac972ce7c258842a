//! The queue's promises: retries, no retry for bad CSV, idempotent uploads,
//! retention, back-pressure, and jobs that survive their worker.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::{eventually, large_csv, read_parquet, spawn_app_with, spawn_worker};

#[tokio::test]
async fn a_transient_failure_is_retried_and_then_succeeds() {
    let app = spawn_app_with(|_| {}).await;
    // The scratch directory replaced by a file: writing the result fails
    // with an I/O error, as a full or broken disk would.
    let results = app.data_dir.join("work");
    std::fs::remove_dir_all(&results).unwrap();
    std::fs::write(&results, b"in the way").unwrap();

    let id = app.enqueue("a,b\n1,2\n").await;
    eventually("a failed attempt", Duration::from_secs(20), async || {
        !app.get_job(&id).await["attempt_errors"]
            .as_array()
            .unwrap()
            .is_empty()
    })
    .await;
    std::fs::remove_file(&results).unwrap();
    std::fs::create_dir(&results).unwrap();
    let job = app.wait_until_finished(&id).await;

    assert_eq!(job["status"], "succeeded", "{job:#}");
    assert!(job["attempts"].as_i64().unwrap() >= 2, "{job:#}");
    assert_eq!(job["attempt_errors"][0]["code"], "io-error");
    assert_eq!(job["attempt_errors"][0]["attempt"], 1);
    // The answer speaks of the failure, not of the server's paths.
    let message = job["attempt_errors"][0]["message"].as_str().unwrap();
    let data_dir = app.data_dir.to_string_lossy().to_string();
    assert!(
        !message.contains(&data_dir) && !message.contains('/'),
        "{message}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_csv_that_cannot_be_converted_is_not_retried() {
    let app = spawn_app_with(|_| {}).await;

    let id = app.enqueue("a,b\n1,2\n3\n").await;
    let job = app.wait_until_finished(&id).await;

    // `failed` is final (no statement moves a failed row back to the queue),
    // so one attempt now is one attempt for good.
    assert_eq!(job["status"], "failed");
    assert_eq!(job["attempts"], 1);
    assert_eq!(job["attempt_errors"].as_array().unwrap().len(), 1);
    assert_eq!(job["attempt_errors"][0]["code"], "ragged-row");
    app.stop().await;
}

#[tokio::test]
async fn an_upload_retried_with_the_same_idempotency_key_returns_the_same_job() {
    let app = spawn_app_with(|s| s.worker.workers = Some(0)).await;
    let post = || {
        app.client
            .post(app.url("/v1/jobs"))
            .header("Idempotency-Key", "upload-42")
            .body("a\n1\n")
            .send()
    };

    let first = post().await.unwrap();
    let second = post().await.unwrap();

    assert_eq!(first.status(), 202);
    assert_eq!(second.status(), 200);
    let first: Value = first.json().await.unwrap();
    let second: Value = second.json().await.unwrap();
    assert_eq!(first["id"], second["id"]);
    assert_eq!(app.job_count().await, 1);
    assert_eq!(app.stored_files().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn an_expired_job_answers_410_and_its_files_are_gone() {
    let app = spawn_app_with(|s| {
        s.worker.retention_secs = 0;
        s.worker.lease_timeout_secs = 2;
    })
    .await;
    let id = app.enqueue("a\n1\n").await;

    // With no retention the job may expire before a poll sees it succeed, so
    // only the 410 is awaited: a job expires only once it has finished.
    eventually("the job to expire", Duration::from_secs(15), async || {
        app.client
            .get(app.url(&format!("/v1/jobs/{id}")))
            .send()
            .await
            .unwrap()
            .status()
            == 410
    })
    .await;

    let result = app.download(&id).await;
    assert_eq!(result.status(), 410);
    let problem: Value = result.json().await.unwrap();
    assert_eq!(problem["code"], "gone");
    // The row goes first, then its files.
    eventually("the files to go", Duration::from_secs(5), async || {
        app.stored_files().is_empty()
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn files_that_belong_to_no_job_are_swept() {
    let app = spawn_app_with(|s| {
        s.worker.orphan_grace_secs = 0;
        s.worker.lease_timeout_secs = 2;
    })
    .await;
    let orphan = app
        .data_dir
        .join("uploads")
        .join(format!("{}.csv.part", uuid::Uuid::new_v4()));
    std::fs::write(&orphan, "left behind by a crash").unwrap();
    // A multipart upload's staging file, left by a process killed mid-upload.
    let staged = app
        .data_dir
        .join("uploads")
        .join(format!("{}.csv#1", uuid::Uuid::new_v4()));
    std::fs::write(&staged, "half an upload").unwrap();

    eventually("the orphans to go", Duration::from_secs(15), async || {
        !orphan.exists() && !staged.exists()
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn uploads_get_503_with_retry_after_when_the_queue_is_full() {
    let app = spawn_app_with(|s| {
        s.worker.workers = Some(0);
        s.max_queued_jobs = 2;
    })
    .await;
    app.enqueue("a\n1\n").await;
    app.enqueue("a\n2\n").await;

    let refused = app.upload_raw("a\n3\n", "").await;

    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "30");
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["code"], "queue-full");
    assert_eq!(app.stored_files().len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn uploads_get_507_below_the_free_disk_floor() {
    let app = spawn_app_with(|s| s.min_free_disk_bytes = u64::MAX).await;

    let refused = app.upload_raw("a\n1\n", "").await;

    assert_eq!(refused.status(), 507);
    assert!(refused.headers().contains_key("retry-after"));
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["code"], "insufficient-storage");
    assert!(app.stored_files().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_job_whose_worker_is_killed_finishes_elsewhere_with_a_correct_result() {
    let app = spawn_app_with(|s| s.worker.workers = Some(0)).await;
    let rows = 2_000_000;
    let doomed = spawn_worker(&app, &[]);
    let id = app.enqueue(&large_csv(rows)).await;
    app.wait_for_status(&id, &["running"], Duration::from_secs(30))
        .await;

    doomed.kill(); // SIGKILL: no chance to clean up
    let rescuer = spawn_worker(&app, &[]);
    let job = app
        .wait_for_status(&id, &["succeeded", "failed"], Duration::from_secs(90))
        .await;
    rescuer.kill();

    assert_eq!(job["status"], "succeeded", "{job:#}");
    assert_eq!(job["attempts"], 2);
    assert_eq!(job["attempt_errors"][0]["code"], "lease-expired");
    assert_eq!(job["result"]["rows"], rows);
    let batch = read_parquet(app.download(&id).await.bytes().await.unwrap());
    assert_eq!(batch.num_rows(), rows);
    app.stop().await;
}

#[tokio::test]
async fn sigterm_gives_a_running_job_back_and_another_worker_finishes_it() {
    let app = spawn_app_with(|s| s.worker.workers = Some(0)).await;
    let leaving = spawn_worker(&app, &[("PARQUETRY_SHUTDOWN_GRACE_SECS", "0")]);
    let id = app.enqueue(&large_csv(2_000_000)).await;
    app.wait_for_status(&id, &["running"], Duration::from_secs(30))
        .await;

    let status = leaving.terminate();
    assert!(status.success(), "{status}");
    let job = app.get_job(&id).await;
    assert!(
        job["status"] == "queued" || job["status"] == "succeeded",
        "never lost: {job:#}"
    );
    let next = spawn_worker(&app, &[]);
    let job = app
        .wait_for_status(&id, &["succeeded", "failed"], Duration::from_secs(90))
        .await;
    next.kill();

    assert_eq!(job["status"], "succeeded", "{job:#}");
    // Giving a job back on shutdown does not spend one of its attempts.
    assert_eq!(job["attempts"], 1);
    app.stop().await;
}
