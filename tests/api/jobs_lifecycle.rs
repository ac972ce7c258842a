use std::time::Duration;

use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{eventually, expect_problem, spawn_app, spawn_app_with, spawn_worker};

#[tokio::test]
async fn an_unknown_job_is_404_as_problem_json() {
    let app = spawn_app_with(|s| s.worker.workers = Some(0)).await;

    for path in [
        format!("/v1/jobs/{}", Uuid::new_v4()),
        format!("/v1/jobs/{}/result", Uuid::new_v4()),
        "/v1/jobs/not-a-uuid".to_string(),
    ] {
        let response = app.client.get(app.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["code"], "not-found");
    }
    let delete = app
        .client
        .delete(app.url(&format!("/v1/jobs/{}", Uuid::new_v4())))
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn the_result_of_a_queued_job_is_409() {
    let app = spawn_app_with(|s| s.worker.workers = Some(0)).await;
    let id = app.enqueue("a\n1\n").await;

    let response = app.download(&id).await;

    expect_problem(response, 409, "job-not-succeeded").await;
    app.stop().await;
}

#[tokio::test]
async fn a_ragged_csv_fails_with_its_code_and_line_and_has_no_result() {
    let app = spawn_app().await;
    let id = app.enqueue("a,b\n1,2\n3,4\n5\n6,7\n").await;

    let job = app.wait_until_finished(&id).await;

    assert_eq!(job["status"], "failed", "{job:#}");
    assert_eq!(job["error"]["code"], "ragged-row");
    assert_eq!(job["error"]["line"], 4);
    assert!(!job["error"]["message"].as_str().unwrap().is_empty());
    assert!(job.get("result").is_none());
    let download = app.download(&id).await;
    assert_eq!(download.status(), 409);
    let results: Vec<_> = app
        .stored_files()
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("results"))
        .collect();
    assert!(
        results.is_empty(),
        "no half-written result may remain: {results:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_unterminated_quote_fails_with_the_line_where_the_record_starts() {
    let app = spawn_app().await;
    let id = app.enqueue("a,b\n1,2\n3,\"never closed\n4,5\n").await;

    let job = app.wait_until_finished(&id).await;

    assert_eq!(job["status"], "failed", "{job:#}");
    assert_eq!(job["error"]["code"], "unterminated-quote");
    assert_eq!(job["error"]["line"], 3);
    app.stop().await;
}

#[tokio::test]
async fn deleting_a_queued_job_cancels_it_and_removes_its_files() {
    let app = spawn_app_with(|s| s.worker.workers = Some(0)).await;
    let id = app.enqueue("a\n1\n").await;
    assert_eq!(app.stored_files().len(), 1);

    let response = app
        .client
        .delete(app.url(&format!("/v1/jobs/{id}")))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 204);
    let job = app.get_job(&id).await;
    assert_eq!(job["status"], "canceled");
    assert!(job["finished_at"].is_string());
    assert!(app.stored_files().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_second_delete_of_a_canceled_job_deletes_it() {
    let app = spawn_app_with(|s| s.worker.workers = Some(0)).await;
    let id = app.enqueue("a\n1\n").await;
    let url = app.url(&format!("/v1/jobs/{id}"));

    let first = app.client.delete(&url).send().await.unwrap();
    let listed = app.get_json("/v1/jobs?status=canceled").await;
    let second = app.client.delete(&url).send().await.unwrap();
    let after = app.client.get(&url).send().await.unwrap();

    assert_eq!(first.status(), 204);
    assert_eq!(listed["jobs"][0]["id"], id.as_str());
    assert_eq!(second.status(), 204);
    assert_eq!(after.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn deleting_an_expired_job_is_410() {
    let app = spawn_app_with(|s| s.worker.workers = Some(0)).await;
    let id = Uuid::new_v4();
    sqlx::query("INSERT INTO expired_jobs (id) VALUES ($1)")
        .bind(id)
        .execute(&app.pool)
        .await
        .unwrap();

    let response = app
        .client
        .delete(app.url(&format!("/v1/jobs/{id}")))
        .send()
        .await
        .unwrap();

    expect_problem(response, 410, "gone").await;
    app.stop().await;
}

#[tokio::test]
async fn deleting_a_running_job_stops_its_worker_and_removes_its_files() {
    // Arrange: the job's input is a named pipe nobody writes to yet, so its
    // conversion is running, and stays so, whatever the machine's speed.
    let app = spawn_app_with(|s| s.worker.workers = Some(0)).await;
    let id = app.enqueue("a,b\n1,2\n").await;
    let upload = app.data_dir.join("uploads").join(format!("{id}.csv"));
    std::fs::remove_file(&upload).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&upload)
        .status()
        .unwrap();
    assert!(made.success());
    // Held open for writing (read-write never blocks on a pipe): the
    // worker's open succeeds, its reads wait for data.
    let mut pipe = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&upload)
        .unwrap();
    let worker = spawn_worker(&app, &[]);
    app.wait_for_status(&id, &["running"], Duration::from_secs(30))
        .await;

    // Act
    let response = app
        .client
        .delete(app.url(&format!("/v1/jobs/{id}")))
        .send()
        .await
        .unwrap();
    std::io::Write::write_all(&mut pipe, b"a,b\n1,2\n3,4\n").unwrap();
    drop(pipe);

    // Assert: canceled, the worker gave the job up and cleaned up.
    assert_eq!(response.status(), 204);
    eventually(
        "the worker to let the job go",
        Duration::from_secs(10),
        async || {
            let running: i64 =
                sqlx::query_scalar("SELECT count(*) FROM jobs WHERE status = 'running'")
                    .fetch_one(&app.pool)
                    .await
                    .unwrap();
            running == 0 && app.stored_files().is_empty()
        },
    )
    .await;
    let job = app.get_job(&id).await;
    assert_eq!(job["status"], "canceled", "{job:#}");
    assert!(job.get("result").is_none(), "{job:#}");
    // The worker is free again.
    let next = app.enqueue("a\n1\n").await;
    assert_eq!(app.wait_until_finished(&next).await["status"], "succeeded");
    worker.terminate();
    app.stop().await;
}

#[tokio::test]
async fn deleting_a_finished_job_removes_it() {
    let app = spawn_app().await;
    let id = app.enqueue("a\n1\n").await;
    app.wait_until_finished(&id).await;

    let response = app
        .client
        .delete(app.url(&format!("/v1/jobs/{id}")))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 204);
    let gone = app
        .client
        .get(app.url(&format!("/v1/jobs/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
    assert!(app.stored_files().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn the_job_list_pages_newest_first_and_filters_by_status() {
    let app = spawn_app_with(|s| s.worker.workers = Some(0)).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(app.enqueue(&format!("a\n{n}\n")).await);
    }
    let canceled = ids[0].clone();
    app.client
        .delete(app.url(&format!("/v1/jobs/{canceled}")))
        .send()
        .await
        .unwrap();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &cursor {
            Some(c) => format!("/v1/jobs?limit=2&cursor={c}"),
            None => "/v1/jobs?limit=2".to_string(),
        };
        let page = app.get_json(&query).await;
        pages += 1;
        for job in page["jobs"].as_array().unwrap() {
            seen.push(job["id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);
    assert_eq!(pages, 3);

    let queued = app.get_json("/v1/jobs?status=queued").await;
    assert_eq!(queued["jobs"].as_array().unwrap().len(), 4);
    let only_canceled = app.get_json("/v1/jobs?status=canceled").await;
    assert_eq!(only_canceled["jobs"][0]["id"], canceled.as_str());

    for bad in [
        "/v1/jobs?status=done",
        "/v1/jobs?limit=0",
        "/v1/jobs?limit=1000",
        "/v1/jobs?cursor=xyz",
    ] {
        let response = app.client.get(app.url(bad)).send().await.unwrap();
        assert_eq!(response.status(), 400, "{bad}");
    }
    app.stop().await;
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = spawn_app_with(|s| s.worker.workers = Some(0)).await;

    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();

    assert_eq!(health.status(), 200);
    assert_eq!(ready.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn a_byte_range_of_the_result_is_served_with_206() {
    let app = spawn_app().await;
    let id = app.enqueue("a,b\n1,2\n").await;
    app.wait_until_finished(&id).await;
    let whole = app.download(&id).await.bytes().await.unwrap();

    let response = app
        .client
        .get(app.url(&format!("/v1/jobs/{id}/result")))
        .header("Range", "bytes=0-3")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 206);
    assert_eq!(response.bytes().await.unwrap(), whole.slice(0..4));
    assert_eq!(&whole[0..4], b"PAR1");
    app.stop().await;
}
