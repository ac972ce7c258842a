//! `POST /v1/inspect`: a look at a file before converting it, from its first
//! bytes, that stores nothing and creates no job; its `options` convert the
//! file the way it was inspected.

use serde_json::Value;

use crate::helpers::{expect_problem, spawn_app, TestApp};

const PUBLISHED: &str = "Relatório gerado em 01/02/2024\nFonte: CVM\n\n\
CNPJ;NOME;VALOR;DATA\n00.000.000/0001-91;Banco;1.234,56;27/09/2022\n\
60.746.948/0001-12;Bradesco;10,5;01/02/2023\n";

async fn inspect(app: &TestApp, body: Vec<u8>, query: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/v1/inspect{query}")))
        .header("Content-Type", "text/csv")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_published_file_is_described_without_a_job_or_a_stored_file() {
    let app = spawn_app().await;
    let response = inspect(&app, PUBLISHED.as_bytes().to_vec(), "").await;
    assert_eq!(response.status(), 200);
    let seen: Value = response.json().await.unwrap();
    assert_eq!(seen["complete"], true);
    assert_eq!(seen["dialect"]["delimiter"], ";");
    assert_eq!(seen["skipped"]["before_table"], 3);
    let types: Vec<&str> = seen["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["arrow_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["Utf8", "Utf8", "Float64", "Date32"]);
    assert_eq!(seen["preview"]["rows"][0][2], 1234.56);
    assert_eq!(seen["preview"]["rows"][1][3], "2023-02-01");
    assert_eq!(seen["options"]["skip_rows"], "3");
    assert_eq!(seen["options"]["decimal_separator"], ",");
    assert_eq!(app.job_count().await, 0);
    assert!(app.stored_files().is_empty(), "{:?}", app.stored_files());
    app.stop().await;
}

#[tokio::test]
async fn the_options_it_answers_convert_the_file_as_inspected() {
    let app = spawn_app().await;
    let seen: Value = inspect(&app, PUBLISHED.as_bytes().to_vec(), "")
        .await
        .json()
        .await
        .unwrap();
    let mut form = reqwest::multipart::Form::new();
    for (name, value) in seen["options"].as_object().unwrap() {
        match value {
            Value::Array(values) => {
                for v in values {
                    form = form.text(name.clone(), v.as_str().unwrap().to_string());
                }
            }
            other => form = form.text(name.clone(), other.as_str().unwrap().to_string()),
        }
    }
    let part = reqwest::multipart::Part::bytes(PUBLISHED.as_bytes().to_vec()).file_name("cvm.csv");
    let response = app.post_form(form.part("file", part)).await;
    assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
    let job: Value = response.json().await.unwrap();
    let job = app.wait_until_finished(job["id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let columns = job["result"]["columns"].as_array().unwrap();
    for (inspected, converted) in seen["columns"].as_array().unwrap().iter().zip(columns) {
        assert_eq!(inspected["arrow_type"], converted["arrow_type"]);
    }
    app.stop().await;
}

#[tokio::test]
async fn only_the_head_is_read() {
    let app = spawn_app().await;
    let mut body = b"id,amount\n".to_vec();
    for i in 0..50_000 {
        body.extend_from_slice(format!("{i},{}.5\n", i * 3).as_bytes());
    }
    let response = inspect(&app, body, "?bytes=4096&rows=5").await;
    assert_eq!(response.status(), 200);
    let seen: Value = response.json().await.unwrap();
    assert_eq!(seen["complete"], false);
    assert_eq!(seen["bytes_read"], 4096);
    assert_eq!(seen["preview"]["rows"].as_array().unwrap().len(), 5);
    assert_eq!(seen["columns"][1]["arrow_type"], "Float64");
    app.stop().await;
}

#[tokio::test]
async fn a_head_that_cannot_be_read_is_422_with_its_line() {
    let app = spawn_app().await;
    let response = inspect(&app, b"a,b,c\n1,2,3\n4,5,6\n7,8\n9,10,11\n".to_vec(), "").await;
    let problem = expect_problem(response, 422, "ragged-row").await;
    assert_eq!(problem["line"], 4);
    let response = inspect(&app, b"%PDF-1.4 binary".to_vec(), "").await;
    expect_problem(response, 422, "not-csv").await;
    for query in ["?rows=0", "?rows=101", "?bytes=0", "?bytes=x"] {
        let response = inspect(&app, b"a\n1\n".to_vec(), query).await;
        expect_problem(response, 400, "invalid-query").await;
    }
    let response = inspect(&app, b"a\n1\n".to_vec(), "?on_error=maybe").await;
    expect_problem(response, 400, "invalid-option").await;
    app.stop().await;
}
