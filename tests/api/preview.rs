//! `GET /v1/jobs/{id}/preview`: the first rows of a result as typed JSON, and
//! the column profile of the job's report.

use serde_json::{json, Value};

use crate::helpers::{expect_problem, spawn_app, spawn_app_with, TestApp};

const CSV: &str = "id,day,price,label\n\
                   1,2024-01-31,2.50,apple\n\
                   ,,,\n\
                   3,2024-02-01,-1.25,pear\n\
                   4,2023-12-24,10,fig\n";

async fn succeeded_job(app: &TestApp, csv: &str) -> (String, Value) {
    let id = app.enqueue(csv).await;
    let job = app.wait_until_finished(&id).await;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    (id, job)
}

async fn preview(app: &TestApp, id: &str, query: &str) -> reqwest::Response {
    app.client
        .get(app.url(&format!("/v1/jobs/{id}/preview{query}")))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_preview_answers_the_first_rows_with_typed_values() {
    let app = spawn_app().await;
    let (id, _) = succeeded_job(&app, CSV).await;

    let response = preview(&app, &id, "?limit=2").await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["job_id"], id);
    assert_eq!(body["rows_total"], 4);
    assert_eq!(
        body["columns"],
        json!([
            {"name": "id", "arrow_type": "Int64"},
            {"name": "day", "arrow_type": "Date32"},
            {"name": "price", "arrow_type": "Float64"},
            {"name": "label", "arrow_type": "Utf8"}
        ])
    );
    assert_eq!(
        body["rows"],
        json!([[1, "2024-01-31", 2.5, "apple"], [null, null, null, null]])
    );
    app.stop().await;
}

#[tokio::test]
async fn without_a_limit_a_preview_has_up_to_twenty_rows() {
    let app = spawn_app().await;
    let (id, _) = succeeded_job(&app, &crate::helpers::large_csv(50)).await;

    let body: Value = preview(&app, &id, "").await.json().await.unwrap();

    assert_eq!(body["rows_total"], 50);
    assert_eq!(body["rows"].as_array().unwrap().len(), 20);
    assert_eq!(body["rows"][19][0], 19);
    app.stop().await;
}

#[tokio::test]
async fn a_limit_outside_1_to_1000_is_an_invalid_query() {
    let app = spawn_app().await;
    let (id, _) = succeeded_job(&app, CSV).await;

    for query in [
        "?limit=0",
        "?limit=1001",
        "?limit=",
        "?limit=ten",
        "?limit=-1",
    ] {
        let response = preview(&app, &id, query).await;

        let problem = expect_problem(response, 400, "invalid-query").await;
        assert_eq!(problem["instance"], format!("/v1/jobs/{id}/preview"));
    }
    let response = preview(&app, &id, "?limit=1000").await;
    assert_eq!(response.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_job_or_an_id_that_is_no_uuid_is_404() {
    let app = spawn_app().await;

    for id in [uuid::Uuid::new_v4().to_string(), "not-a-uuid".to_string()] {
        let response = preview(&app, &id, "").await;

        expect_problem(response, 404, "not-found").await;
    }
    app.stop().await;
}

#[tokio::test]
async fn an_expired_job_is_410() {
    let app = spawn_app_with(|s| s.worker.workers = Some(0)).await;
    let id = uuid::Uuid::new_v4();
    sqlx::query("INSERT INTO expired_jobs (id) VALUES ($1)")
        .bind(id)
        .execute(&app.pool)
        .await
        .unwrap();

    let response = preview(&app, &id.to_string(), "").await;

    expect_problem(response, 410, "gone").await;
    app.stop().await;
}

#[tokio::test]
async fn a_queued_or_failed_job_has_no_preview() {
    let app = spawn_app_with(|s| s.worker.workers = Some(0)).await;
    let queued = app.enqueue("a\n1\n").await;

    let response = preview(&app, &queued, "").await;

    expect_problem(response, 409, "job-not-succeeded").await;
    app.stop().await;

    let app = spawn_app().await;
    let failed = app.enqueue("a,b\n1,2\n3,4\n5\n6,7\n").await;
    assert_eq!(app.wait_until_finished(&failed).await["status"], "failed");

    let response = preview(&app, &failed, "").await;

    expect_problem(response, 409, "job-not-succeeded").await;
    app.stop().await;
}

#[tokio::test]
async fn the_report_profiles_each_column() {
    let app = spawn_app().await;

    let (_, job) = succeeded_job(&app, CSV).await;

    let columns = &job["result"]["columns"];
    assert_eq!(
        columns[0]["profile"],
        json!({"null_count": 1, "min": 1, "max": 4})
    );
    assert_eq!(
        columns[1]["profile"],
        json!({"null_count": 1, "min": "2023-12-24", "max": "2024-02-01"})
    );
    assert_eq!(
        columns[2]["profile"],
        json!({"null_count": 1, "min": -1.25, "max": 10.0})
    );
    assert_eq!(
        columns[3]["profile"],
        json!({"null_count": 1, "min": "apple", "max": "pear"})
    );
    app.stop().await;
}
