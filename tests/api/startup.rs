//! Start-up errors say what is wrong, once, and quickly.

use std::time::{Duration, Instant};

use parquetry::jobs::JobStore;

use crate::helpers::{server_url, temp_data_dir};

async fn connect(url: &str) -> String {
    let error = JobStore::connect(Some(url), &temp_data_dir(), 2, Duration::from_secs(60))
        .await
        .expect_err("the connection must fail");
    format!("{error:#}")
}

#[tokio::test]
async fn a_database_url_that_is_not_postgresql_is_refused() {
    let message = connect("mysql://root@127.0.0.1:3306/parquetry").await;

    assert!(message.contains("PostgreSQL URL"), "{message}");
}

#[tokio::test]
async fn a_refused_connection_is_reported_at_once_with_its_cause() {
    let started = Instant::now();

    // Port 1: nothing listens there.
    let message = connect("postgres://postgres@127.0.0.1:1/parquetry").await;

    assert!(started.elapsed() < Duration::from_secs(6), "{message}");
    assert!(!message.contains("pool timed out"), "{message}");
    assert!(message.to_lowercase().contains("refused"), "{message}");
}

#[tokio::test]
async fn a_database_error_is_printed_once() {
    let message = connect(&format!("{}/parquetry_no_such_database", server_url())).await;

    assert_eq!(
        message.matches("parquetry_no_such_database").count(),
        1,
        "{message}"
    );
    // sqlx's suffix names a line of PostgreSQL's own source, not of anything of ours.
    assert!(!message.contains(" at line "), "{message}");
}
