//! Issue 14: per-tenant quotas, checked before an upload's body is stored.
//! A refusal is 429 with `Retry-After` and a code per quota, and leaves
//! neither a job row nor a file behind.

use std::time::Duration;

use parquetry::jobs::{JobStore, KeyQuotas, NewKey};
use reqwest::header::RETRY_AFTER;

use crate::helpers::{expect_problem, spawn_app_with, TestApp};

const CSV: &str = "id,name\n1,a\n2,b\n";

async fn store_of(app: &TestApp) -> JobStore {
    JobStore::connect(
        Some(&app.database_url),
        &app.data_dir,
        2,
        Duration::from_secs(60),
    )
    .await
    .unwrap()
}

/// A key of `tenant`, with its own limits when some are given.
async fn key_with(app: &TestApp, name: &str, tenant: &str, quotas: KeyQuotas) -> String {
    let store = store_of(app).await;
    let new = NewKey {
        name: name.into(),
        tenant: tenant.into(),
        admin: false,
    };
    let key = store.create_key(&new).await.unwrap().unwrap().1;
    assert!(store.set_key_quotas(name, &quotas).await.unwrap());
    key
}

async fn upload(app: &TestApp, key: Option<&str>, body: reqwest::Body) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/v1/jobs?filename=data.csv"))
        .header("Content-Type", "text/csv")
        .body(body);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    request.send().await.unwrap()
}

/// A body sent chunked: no `Content-Length` to judge it by.
fn streamed(bytes: usize) -> reqwest::Body {
    let mut csv = String::from("id,name\n");
    while csv.len() < bytes {
        csv.push_str("12345,abcdefgh\n");
    }
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = csv
        .into_bytes()
        .chunks(64)
        .map(|chunk| Ok(chunk.to_vec()))
        .collect();
    reqwest::Body::wrap_stream(futures_util::stream::iter(chunks))
}

/// A refusal: 429, the code, a `Retry-After` of whole seconds, nothing
/// stored, and a detail with no server path.
async fn expect_quota(
    app: &TestApp,
    response: reqwest::Response,
    code: &str,
    before: (i64, usize),
) {
    let retry_after: u64 = response
        .headers()
        .get(RETRY_AFTER)
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let problem = expect_problem(response, 429, code).await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        !detail.contains(&app.data_dir.display().to_string()),
        "{detail}"
    );
    assert_eq!((app.job_count().await, app.stored_files().len()), before);
}

async fn holdings(app: &TestApp) -> (i64, usize) {
    (app.job_count().await, app.stored_files().len())
}

#[tokio::test]
async fn active_jobs_over_the_quota_are_429_and_nothing_is_stored() {
    let app = spawn_app_with(|s| {
        s.worker.workers = Some(0);
        s.quotas.quota_active_jobs = 2;
    })
    .await;
    for _ in 0..2 {
        assert_eq!(upload(&app, None, CSV.into()).await.status(), 202);
    }
    let before = holdings(&app).await;

    let refused = upload(&app, None, CSV.into()).await;

    expect_quota(&app, refused, "quota-active-jobs", before).await;
}

#[tokio::test]
async fn the_retry_of_an_upload_made_is_answered_at_the_quota() {
    let app = spawn_app_with(|s| {
        s.worker.workers = Some(0);
        s.quotas.quota_active_jobs = 1;
    })
    .await;
    let send = || {
        app.client
            .post(app.url("/v1/jobs?filename=data.csv"))
            .header("Content-Type", "text/csv")
            .header("Idempotency-Key", "nightly-1")
            .body(CSV)
            .send()
    };
    let first: serde_json::Value = send().await.unwrap().json().await.unwrap();
    assert_eq!(first["status"], "queued", "{first}");
    let before = holdings(&app).await;

    // The answer to the first was lost: the retry gets the same job, not a 429.
    let retried = send().await.unwrap();
    let status = retried.status();
    let retried: serde_json::Value = retried.json().await.unwrap();
    assert!(status.is_success(), "{status} {retried}");
    assert_eq!(retried["id"], first["id"]);
    assert_eq!(holdings(&app).await, before);
    let other = upload(&app, None, CSV.into()).await;
    expect_quota(&app, other, "quota-active-jobs", before).await;
}

#[tokio::test]
async fn stored_bytes_count_a_declared_length_and_stop_an_undeclared_body() {
    let app = spawn_app_with(|s| {
        s.worker.workers = Some(0);
        s.quotas.quota_stored_bytes = 4096;
    })
    .await;
    let first = "id,name\n".to_string() + &"1,a\n".repeat(700);
    assert_eq!(upload(&app, None, first.into()).await.status(), 202);
    let before = holdings(&app).await;

    // Declared: refused before a byte is read.
    let declared = "id,name\n".to_string() + &"1,a\n".repeat(400);
    let refused = upload(&app, None, declared.into()).await;
    expect_quota(&app, refused, "quota-stored-bytes", before).await;

    // Undeclared: stopped once it passes the room left, its file removed.
    let refused = upload(&app, None, streamed(4000)).await;
    expect_quota(&app, refused, "quota-stored-bytes", before).await;

    // What fits still goes in.
    assert_eq!(upload(&app, None, streamed(500)).await.status(), 202);
}

#[tokio::test]
async fn uploads_per_minute_are_counted_in_the_database_across_processes() {
    let app = spawn_app_with(|s| {
        s.worker.workers = Some(0);
        s.quotas.quota_uploads_per_minute = 3;
    })
    .await;
    assert_eq!(upload(&app, None, CSV.into()).await.status(), 202);
    // Two uploads another process made for the same (open: `default`) tenant.
    let other_process = store_of(&app).await;
    for _ in 0..2 {
        let job = crate::fairness::job_of("default");
        other_process.insert(&job).await.unwrap();
    }
    let before = holdings(&app).await;

    let refused = upload(&app, None, CSV.into()).await;

    expect_quota(&app, refused, "quota-uploads-per-minute", before).await;
}

#[tokio::test]
async fn a_keys_own_limits_replace_the_defaults_for_its_tenant_only() {
    let app = spawn_app_with(|s| {
        s.worker.workers = Some(0);
        s.quotas.quota_uploads_per_minute = 2;
    })
    .await;
    let one_at_a_time = KeyQuotas {
        max_active_jobs: Some(1),
        ..KeyQuotas::default()
    };
    let unlimited = KeyQuotas {
        uploads_per_minute: Some(0),
        ..KeyQuotas::default()
    };
    let small = key_with(&app, "small", "small", one_at_a_time).await;
    let big = key_with(&app, "big", "big", unlimited).await;

    // `big`'s 0 is unlimited where the default allows two a minute.
    for _ in 0..4 {
        assert_eq!(upload(&app, Some(&big), CSV.into()).await.status(), 202);
    }
    // `small`'s own limit of one active job, though the default has none.
    assert_eq!(upload(&app, Some(&small), CSV.into()).await.status(), 202);
    let before = holdings(&app).await;
    let refused = upload(&app, Some(&small), CSV.into()).await;
    expect_quota(&app, refused, "quota-active-jobs", before).await;
}

#[tokio::test]
async fn keys_create_sets_a_keys_own_limits() {
    let app = spawn_app_with(|s| s.worker.workers = Some(0)).await;
    let created = std::process::Command::new(env!("CARGO_BIN_EXE_parquetry"))
        .args(["keys", "create", "--name", "ci", "--tenant", "acme"])
        .args(["--max-active-jobs", "1", "--uploads-per-minute", "0"])
        .env("DATABASE_URL", &app.database_url)
        .env("PARQUETRY_DATA_DIR", &app.data_dir)
        .env("OTEL_SDK_DISABLED", "true")
        .output()
        .expect("run parquetry");
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let key = String::from_utf8(created.stdout)
        .unwrap()
        .trim()
        .to_string();
    let quotas = store_of(&app).await.key_quotas("ci").await.unwrap();
    let expected = KeyQuotas {
        max_active_jobs: Some(1),
        max_stored_bytes: None,
        uploads_per_minute: Some(0),
    };
    assert_eq!(quotas, expected);

    assert_eq!(upload(&app, Some(&key), CSV.into()).await.status(), 202);
    let before = holdings(&app).await;
    let refused = upload(&app, Some(&key), CSV.into()).await;
    expect_quota(&app, refused, "quota-active-jobs", before).await;
}
