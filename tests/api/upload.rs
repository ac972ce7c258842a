use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::Array;
use arrow_schema::{DataType, TimeUnit};
use serde_json::Value;

use crate::helpers::{expect_problem, read_parquet, spawn_app, spawn_app_with};

const TYPED_CSV: &str = "id,price,active,day,seen_at,note\r\n\
1,10.5,true,2024-01-31,2024-01-31T10:00:00+02:00,\"plain\"\r\n\
2,,false,2024-02-29,2024-02-29T23:30:00Z,\"with, comma\"\r\n\
3,-3.25,,2023-12-01,2023-12-01T00:00:00-03:00,\"two\nlines and \"\"quotes\"\"\"\r\n\
4,0,true,,,\r\n";

#[tokio::test]
async fn raw_upload_is_converted_and_its_parquet_has_the_csv_values() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let response = app.upload_raw(TYPED_CSV, "?filename=typed.csv").await;
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let job: Value = response.json().await.unwrap();
    let id = job["id"].as_str().unwrap();
    assert_eq!(location, format!("/v1/jobs/{id}"));
    // A free worker began converting it as it arrived (a head start).
    assert_eq!(job["status"], "running");
    assert_eq!(job["input"]["filename"], "typed.csv");
    assert_eq!(job["input"]["bytes"], TYPED_CSV.len());
    let job = app.wait_until_finished(id).await;
    let download = app.download(id).await;

    // Assert
    assert_eq!(job["status"], "succeeded", "{job:#}");
    assert_eq!(job["result"]["rows"], 4);
    assert_eq!(job["links"]["result"], format!("/v1/jobs/{id}/result"));
    assert_eq!(download.status(), 200);
    let headers = download.headers().clone();
    assert_eq!(headers["content-type"], "application/vnd.apache.parquet");
    assert!(headers["content-disposition"]
        .to_str()
        .unwrap()
        .contains("typed.parquet"));
    assert!(headers.contains_key("etag"));
    let body = download.bytes().await.unwrap();
    assert_eq!(
        headers["content-length"].to_str().unwrap(),
        body.len().to_string()
    );
    assert_eq!(job["result"]["bytes"].as_u64(), Some(body.len() as u64));

    let batch = read_parquet(body);
    assert_eq!(batch.num_rows(), 4);
    let schema = batch.schema();
    assert_eq!(schema.field(0).data_type(), &DataType::Int64);
    assert_eq!(schema.field(1).data_type(), &DataType::Float64);
    assert_eq!(schema.field(2).data_type(), &DataType::Boolean);
    assert_eq!(schema.field(3).data_type(), &DataType::Date32);
    assert_eq!(
        schema.field(4).data_type(),
        &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
    );
    assert_eq!(schema.field(5).data_type(), &DataType::Utf8);

    let ids = batch.column(0).as_primitive::<Int64Type>();
    assert_eq!(ids.values().to_vec(), vec![1, 2, 3, 4]);
    let prices = batch.column(1).as_primitive::<Float64Type>();
    assert_eq!(prices.value(0), 10.5);
    assert!(prices.is_null(1));
    assert_eq!(prices.value(2), -3.25);
    let active = batch.column(2).as_boolean();
    assert!(active.value(0));
    assert!(!active.value(1));
    assert!(active.is_null(2));
    let days = batch.column(3).as_primitive::<Date32Type>();
    assert_eq!(days.value(0), 19753); // 2024-01-31
    assert!(days.is_null(3));
    let seen = batch.column(4).as_primitive::<TimestampMicrosecondType>();
    assert_eq!(seen.value(0), 1_706_688_000_000_000); // 2024-01-31T08:00:00Z
    assert_eq!(seen.value(2), 1_701_399_600_000_000); // 2023-12-01T03:00:00Z
    let notes = batch.column(5).as_string::<i32>();
    assert_eq!(notes.value(1), "with, comma");
    assert_eq!(notes.value(2), "two\nlines and \"quotes\"");
    assert!(notes.is_null(3));
    app.stop().await;
}

#[tokio::test]
async fn multipart_upload_takes_its_options_from_the_other_parts() {
    let app = spawn_app().await;
    let csv = "name;amount\nana;1\nbruno;2\n".as_bytes().to_vec();

    let response = app
        .upload_multipart(
            csv,
            "semicolons.csv",
            &[("delimiter", ";"), ("compression", "zstd")],
        )
        .await;

    assert_eq!(response.status(), 202);
    let job: Value = response.json().await.unwrap();
    assert_eq!(job["input"]["filename"], "semicolons.csv");
    assert_eq!(job["options"]["delimiter"], ";");
    let id = job["id"].as_str().unwrap();
    let job = app.wait_until_finished(id).await;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    let columns: Vec<&str> = job["result"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(columns, ["name", "amount"]);
    let batch = read_parquet(app.download(id).await.bytes().await.unwrap());
    assert_eq!(batch.num_rows(), 2);
    app.stop().await;
}

#[tokio::test]
async fn an_invalid_option_is_refused_with_400_and_nothing_is_stored() {
    let app = spawn_app().await;

    let response = app.upload_raw("a\n1\n", "?compression=bzip9").await;

    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "invalid-option");
    assert_eq!(problem["status"], 400);
    assert!(app.stored_files().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_file_sent_under_another_part_name_is_missing_file_naming_that_part() {
    let app = spawn_app().await;
    // Windows-1252 bytes: once read as an option, they made `not UTF-8`.
    let part = reqwest::multipart::Part::bytes(b"cidade\nS\xe3o Paulo\n".to_vec())
        .file_name("cidades.csv");
    let form = reqwest::multipart::Form::new().part("data", part);

    let response = app.post_form(form).await;

    let problem = expect_problem(response, 400, "missing-file").await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("`data`"), "{detail}");
    assert!(app.stored_files().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_multipart_upload_without_a_file_part_is_refused() {
    let app = spawn_app().await;
    let form = reqwest::multipart::Form::new().text("delimiter", ";");

    let response = app.post_form(form).await;

    expect_problem(response, 400, "missing-file").await;
    assert!(app.stored_files().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn an_upload_over_the_limit_gets_413_and_leaves_nothing_on_disk() {
    let app = spawn_app_with(|settings| settings.max_upload_bytes = 1_000).await;
    let big = "x\n".repeat(2_000);

    // With a Content-Length: refused before the body is read.
    let declared = app.upload_raw(big.clone(), "").await;
    // Streamed without a length: refused when the limit is crossed.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..40).map(|_| Ok("y\n".repeat(50).into_bytes())).collect();
    let streamed = app
        .upload_raw(
            reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)),
            "",
        )
        .await;
    let multipart = app.upload_multipart(big.into_bytes(), "big.csv", &[]).await;

    for response in [declared, streamed, multipart] {
        expect_problem(response, 413, "payload-too-large").await;
    }
    // The partial upload is removed before the refusal is answered.
    assert!(app.stored_files().is_empty(), "{:?}", app.stored_files());
    assert_eq!(app.job_count().await, 0);
    app.stop().await;
}

#[tokio::test]
async fn curl_style_form_encoded_body_is_taken_as_the_csv() {
    let app = spawn_app().await;

    let response = app
        .client
        .post(app.url("/v1/jobs"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("a,b\n1,2\n")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 202);
    let job: Value = response.json().await.unwrap();
    let job = app.wait_until_finished(job["id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "succeeded");
    assert_eq!(job["input"]["filename"], "upload.csv");
    app.stop().await;
}

#[tokio::test]
async fn a_json_body_is_refused_with_415() {
    let app = spawn_app().await;

    let response = app
        .client
        .post(app.url("/v1/jobs"))
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();

    expect_problem(response, 415, "unsupported-media-type").await;
    assert!(app.stored_files().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn twenty_uploads_at_once_all_succeed() {
    let app = spawn_app().await;
    let csv: String = std::iter::once("n,square\n".to_string())
        .chain((0..500).map(|n| format!("{n},{}\n", n * n)))
        .collect();

    let uploads = (0..20).map(|_| app.enqueue(&csv));
    let ids = futures_util::future::join_all(uploads).await;

    for id in &ids {
        let job = app.wait_until_finished(id).await;
        assert_eq!(job["status"], "succeeded", "{job:#}");
        assert_eq!(job["result"]["rows"], 500);
        assert_eq!(job["attempts"], 1);
    }
    app.stop().await;
}

#[tokio::test]
async fn without_a_database_url_the_job_table_is_an_embedded_sqlite_file() {
    let app = spawn_app_with(|settings| settings.database.database_url = None).await;

    let id = app.enqueue("a;b\n1,5;x\n").await;
    let job = app.wait_until_finished(&id).await;

    assert_eq!(job["status"], "succeeded", "{job:#}");
    assert!(app.data_dir.join(parquetry::jobs::SQLITE_FILE).exists());
    let batch = read_parquet(app.download(&id).await.bytes().await.unwrap());
    assert_eq!(batch.num_rows(), 1);
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    app.stop().await;
}
