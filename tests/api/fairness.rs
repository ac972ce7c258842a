//! Fair claiming across tenants (issue 14): one tenant's 200 queued jobs do
//! not starve another tenant's single job. Measured on positions and the
//! jobs' own `started_at`, never on sleeps.

use std::time::{Duration, Instant};

use parquetry::jobs::{Inserted, JobStore, NewJob};
use uuid::Uuid;

use crate::helpers::{create_database, temp_data_dir};

pub fn job_of(tenant: &str) -> NewJob {
    NewJob {
        id: Uuid::now_v7(),
        input_filename: "data.csv".into(),
        input_bytes: 10,
        options: serde_json::json!({}),
        traceparent: None,
        tracestate: None,
        trace_id: None,
        idempotency_key: None,
        request_digest: None,
        tenant: tenant.into(),
        max_attempts: 3,
        received_at: chrono::Utc::now(),
        callback_url: None,
    }
}

async fn enqueue(store: &JobStore, tenant: &str) -> Uuid {
    match store.insert(&job_of(tenant)).await.unwrap() {
        Inserted::Created(job) => job.id,
        Inserted::Existing(_) => unreachable!("no key, no duplicate"),
    }
}

/// One worker runs jobs one after another: the single job of `small`, queued
/// after all 200 of `big`, is the second one claimed, so it starts once one
/// job of `big` has run (FIFO would start it 201st). Returns the claim
/// order's position of the small job and the mean time of a claim.
async fn one_worker_serves_the_small_tenant_next(store: JobStore) -> (usize, f64) {
    for _ in 0..200 {
        enqueue(&store, "big").await;
    }
    let single = enqueue(&store, "small").await;

    let mut order = Vec::new();
    let started = Instant::now();
    while let Some(job) = store.claim("w").await.unwrap() {
        order.push(job.clone());
        let done = store
            .succeed(job.id, "w", &serde_json::json!({}), &serde_json::json!([]))
            .await
            .unwrap();
        assert!(done.is_some(), "the worker holds the job it claimed");
    }
    let per_claim_ms = started.elapsed().as_secs_f64() * 1000.0 / order.len() as f64;

    assert_eq!(order.len(), 201, "every job runs once");
    let position = order.iter().position(|job| job.id == single).unwrap();
    assert_eq!(
        position, 1,
        "the single job is claimed second, right after one job of big"
    );
    // On the jobs' own clocks: nothing of `big` but the first started before it.
    let small_start = order[position].started_at.unwrap();
    let started_before = order
        .iter()
        .filter(|job| job.tenant == "big" && job.started_at.unwrap() < small_start)
        .count();
    assert_eq!(started_before, 1);
    // The big tenant's own jobs still run oldest first.
    let big: Vec<_> = order.iter().filter(|job| job.tenant == "big").collect();
    assert!(big.windows(2).all(|w| w[0].created_at <= w[1].created_at));
    (position, per_claim_ms)
}

/// Two workers, one busy with a job of `big`: the free worker's claim takes
/// the tenant with no running job.
async fn a_busy_tenant_yields_to_an_idle_one(store: JobStore) {
    for _ in 0..200 {
        enqueue(&store, "big").await;
    }
    let first = store.claim("w1").await.unwrap().unwrap();
    assert_eq!(first.tenant, "big");
    let single = enqueue(&store, "small").await;

    let next = store.claim("w2").await.unwrap().unwrap();
    assert_eq!(
        next.id, single,
        "the idle tenant's job goes before 199 of big"
    );
}

async fn postgres_store(database: &crate::helpers::TestDatabase) -> JobStore {
    JobStore::connect(Some(&database.url), &temp_data_dir(), 10, Duration::ZERO)
        .await
        .unwrap()
}

async fn sqlite_store() -> JobStore {
    JobStore::connect(None, &temp_data_dir(), 10, Duration::ZERO)
        .await
        .unwrap()
}

#[tokio::test]
async fn fair_claims_on_postgres() {
    let database = create_database().await;
    let (position, per_claim_ms) =
        one_worker_serves_the_small_tenant_next(postgres_store(&database).await).await;
    eprintln!(
        "postgres: the single job was claimed {} of 201; {per_claim_ms:.2} ms per claim and finish",
        position + 1
    );
    let database = create_database().await;
    a_busy_tenant_yields_to_an_idle_one(postgres_store(&database).await).await;
}

#[tokio::test]
async fn fair_claims_on_sqlite() {
    let (position, per_claim_ms) =
        one_worker_serves_the_small_tenant_next(sqlite_store().await).await;
    eprintln!(
        "sqlite: the single job was claimed {} of 201; {per_claim_ms:.2} ms per claim and finish",
        position + 1
    );
    a_busy_tenant_yields_to_an_idle_one(sqlite_store().await).await;
}
