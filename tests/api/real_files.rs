//! Real files through the API: title lines and a `Fonte:` footer reported,
//! `on_error=skip` with its rejects file, a zip archive with several members,
//! and the errors that name the option that gets past them.

use std::io::Write;

use serde_json::Value;

use crate::helpers::{expect_problem, spawn_app, TestApp};

/// Uploads `csv` raw with the query `query`; waits for the job to finish.
async fn finished(app: &TestApp, body: Vec<u8>, query: &str) -> Value {
    let response = app.upload_raw(body, query).await;
    assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
    let job: Value = response.json().await.unwrap();
    app.wait_until_finished(job["id"].as_str().unwrap()).await
}

async fn rejects(app: &TestApp, id: &str) -> (u16, String) {
    let response = app
        .client
        .get(app.url(&format!("/v1/jobs/{id}/rejects")))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

const PUBLISHED: &[u8] = "Relatório gerado em 01/02/2024\nFonte: CVM\n\n\
CNPJ;NOME;VALOR\n00.000.000/0001-91;Banco;1.234,56\n60.746.948/0001-12;Bradesco;10,5\n\
Fonte: CVM, dados abertos\n"
    .as_bytes();

#[tokio::test]
async fn title_lines_and_a_footer_are_skipped_and_reported() {
    let app = spawn_app().await;
    let job = finished(&app, PUBLISHED.to_vec(), "?filename=cvm.csv").await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let result = &job["result"];
    assert_eq!(result["rows"], 2);
    assert_eq!(result["skipped"]["before_table"], 3);
    assert_eq!(
        result["skipped"]["first_before_table"],
        "Relatório gerado em 01/02/2024"
    );
    assert_eq!(result["skipped"]["footer"], 1);
    assert_eq!(result["columns"][2]["arrow_type"], "Float64");
    // A finished job without rejects answers the header line alone.
    let id = job["id"].as_str().unwrap();
    assert_eq!(
        rejects(&app, id).await,
        (200, "line,column,code,message,raw\n".to_string())
    );
    app.stop().await;
}

#[tokio::test]
async fn skip_returns_every_good_row_and_the_rejects_file_lists_the_others() {
    let app = spawn_app().await;
    let csv = b"id,name,qty\n1,a,10\n2,b\n3,c,30\n".to_vec();
    let failed = finished(&app, csv.clone(), "?filename=r.csv").await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"]["code"], "ragged-row");
    assert_eq!(failed["error"]["line"], 3);
    let message = failed["error"]["message"].as_str().unwrap();
    assert!(message.contains("on_error=skip"), "{message}");

    let job = finished(&app, csv, "?filename=r.csv&on_error=skip").await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["result"]["rows"], 2);
    assert_eq!(job["result"]["rows_rejected"], 1);
    let id = job["id"].as_str().unwrap();
    let (status, body) = rejects(&app, id).await;
    assert_eq!(status, 200);
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 1);
    assert_eq!(&records[0][0], "3");
    assert_eq!(&records[0][2], "ragged-row");
    assert_eq!(&records[0][4], "2,b");
    let batch = crate::helpers::read_parquet(app.download(id).await.bytes().await.unwrap());
    assert_eq!(batch.num_rows(), 2);
    app.stop().await;
}

#[tokio::test]
async fn too_many_rejects_fail_the_job_and_keep_the_rejects() {
    let app = spawn_app().await;
    let csv = b"id,name,qty\n1,a,10\n2,b\n3\n4,d,40\n".to_vec();
    let job = finished(&app, csv, "?filename=r.csv&on_error=skip&max_errors=1").await;
    assert_eq!(job["status"], "failed");
    assert_eq!(job["error"]["code"], "too-many-errors");
    let (status, body) = rejects(&app, job["id"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert!(body.lines().count() >= 3, "{body}");
    app.stop().await;
}

#[tokio::test]
async fn rejects_of_an_unfinished_or_unknown_job_are_problems() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/v1/jobs/0193a5f2-7c1e-7b3a-9d2e-4f5a6b7c8d9e/rejects"))
        .send()
        .await
        .unwrap();
    expect_problem(response, 404, "not-found").await;
    app.stop().await;
}

fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in members {
        writer.start_file(*name, options).unwrap();
        writer.write_all(bytes).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

#[tokio::test]
async fn a_zip_of_several_csvs_needs_a_member_and_converts_the_one_named() {
    let app = spawn_app().await;
    let archive = zip_of(&[
        ("dados/2023.csv", b"a;b\n1;2\n"),
        ("dados/2024.csv", b"a;b\n3;4\n5;6\n"),
        ("LEIAME.pdf", b"%PDF-1.4"),
    ]);
    let job = finished(&app, archive.clone(), "?filename=cvm.zip").await;
    assert_eq!(job["status"], "failed");
    assert_eq!(job["error"]["code"], "zip-member-required");
    let message = job["error"]["message"].as_str().unwrap();
    assert!(message.contains("dados/2024.csv"), "{message}");

    let job = finished(&app, archive, "?filename=cvm.zip&member=2024.csv").await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["result"]["rows"], 2);
    assert_eq!(job["result"]["dialect"]["input_compression"], "zip");
    app.stop().await;
}

#[tokio::test]
async fn the_new_options_are_checked_at_upload() {
    let app = spawn_app().await;
    for query in [
        "?on_error=maybe",
        "?max_errors=lots",
        "?ragged=stretch",
        "?skip_rows=-1",
        "?comment=ab",
    ] {
        let response = app.upload_raw(b"a\n1\n".to_vec(), query).await;
        expect_problem(response, 400, "invalid-option").await;
    }
    app.stop().await;
}
