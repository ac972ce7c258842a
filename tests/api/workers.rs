use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{spawn_app_with, ChildGuard};

/// A `parquetry worker` process sharing the test's database and files.
fn spawn_worker_process(database_url: &str, data_dir: &std::path::Path) -> ChildGuard {
    let child = Command::new(env!("CARGO_BIN_EXE_parquetry"))
        .arg("worker")
        .env("DATABASE_URL", database_url)
        .env("PARQUETRY_DATA_DIR", data_dir)
        .env("PARQUETRY_WORKERS", "2")
        .env("PARQUETRY_POLL_INTERVAL_MS", "200")
        .env("OTEL_SDK_DISABLED", "true")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start parquetry worker");
    ChildGuard::new(child)
}

#[tokio::test]
async fn two_worker_processes_never_run_a_job_twice() {
    // Arrange: an API-only server and two worker processes on one database.
    let app = spawn_app_with(|s| s.worker.workers = Some(0)).await;
    let first = spawn_worker_process(&app.database_url, &app.data_dir);
    let second = spawn_worker_process(&app.database_url, &app.data_dir);

    // Act
    let mut ids = Vec::new();
    for n in 0..100 {
        ids.push(app.enqueue(&format!("n,label\n{n},job {n}\n")).await);
    }
    let mut jobs = Vec::new();
    for id in &ids {
        jobs.push(
            app.wait_for_status(id, &["succeeded", "failed"], Duration::from_secs(60))
                .await,
        );
    }
    let pids = [first.id(), second.id()];
    // SIGTERM: the graceful path.
    first.terminate();
    second.terminate();

    // Assert: each converted exactly once.
    for job in &jobs {
        assert_eq!(job["status"], "succeeded", "{job:#}");
        assert_eq!(job["attempts"], 1, "{job:#}");
    }
    // The API runs no workers: every job ran in one of the two processes,
    // whose worker ids are `host-pid-n`.
    let workers: Vec<Option<String>> = sqlx::query_scalar("SELECT worker_id FROM jobs")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(workers.len(), 100);
    for worker in &workers {
        let worker = worker.as_deref().expect("every job names its worker");
        assert!(
            pids.iter().any(|pid| worker.contains(&format!("-{pid}-"))),
            "{worker} is not one of the worker processes {pids:?}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn metrics_count_the_uploads_and_finished_jobs() {
    let app = spawn_app_with(|_| {}).await;
    for n in 0..3 {
        let id = app.enqueue(&format!("n\n{n}\n")).await;
        app.wait_until_finished(&id).await;
    }
    let failed = app.enqueue("a,b\n1\n").await;
    let failed: Value = app.wait_until_finished(&failed).await;
    assert_eq!(failed["status"], "failed");

    let text = app.get_text("/metrics").await;

    let value_of = |prefix: &str| -> f64 {
        text.lines()
            .filter(|line| line.starts_with(prefix))
            .map(|line| line.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
            .sum()
    };
    assert_eq!(value_of("parquetry_jobs_created_total"), 4.0, "{text}");
    assert_eq!(
        value_of("parquetry_jobs_finished_total{error_code=\"ragged-row\""),
        1.0,
        "{text}"
    );
    assert!(
        text.contains("http_server_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(text.contains("parquetry_jobs_queued"), "{text}");
    app.stop().await;
}
