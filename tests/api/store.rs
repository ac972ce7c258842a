//! The store suite: the same tests against PostgreSQL and SQLite.

use std::collections::HashSet;
use std::time::Duration;

use parquetry::jobs::{
    AttemptReport, Inserted, JobError, JobStatus, JobStore, NewJob, NewKey, Removal, Scope,
};
use uuid::Uuid;

use crate::helpers::{create_database, temp_data_dir, TestDatabase};

/// The store and the database it lives in (dropped after the test).
async fn postgres_store(retention: Duration) -> (JobStore, TestDatabase) {
    let database = create_database().await;
    let store = JobStore::connect(Some(&database.url), &temp_data_dir(), 10, retention)
        .await
        .unwrap();
    (store, database)
}

async fn sqlite_store(retention: Duration) -> JobStore {
    JobStore::connect(None, &temp_data_dir(), 10, retention)
        .await
        .unwrap()
}

/// Expires what is due, polling (with a deadline) until the store's short
/// retention has passed for something, instead of sleeping for it.
async fn expire_once_due(store: &JobStore) -> Vec<Uuid> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let expired = store.expire(Duration::from_secs(3600)).await.unwrap();
        if !expired.is_empty() || std::time::Instant::now() > deadline {
            return expired;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn new_job(key: Option<&str>, max_attempts: i32) -> NewJob {
    NewJob {
        id: Uuid::now_v7(),
        input_filename: "data.csv".into(),
        input_bytes: 10,
        options: serde_json::json!({"delimiter": ";"}),
        traceparent: None,
        tracestate: None,
        trace_id: None,
        idempotency_key: key.map(str::to_string),
        request_digest: None,
        tenant: "default".into(),
        max_attempts,
        received_at: chrono::Utc::now(),
        callback_url: None,
    }
}

async fn enqueue(store: &JobStore, max_attempts: i32) -> Uuid {
    match store.insert(&new_job(None, max_attempts)).await.unwrap() {
        Inserted::Created(job) => job.id,
        Inserted::Existing(_) => unreachable!("no key, no duplicate"),
    }
}

fn transient() -> JobError {
    JobError {
        code: "io-error".into(),
        message: "disk on fire".into(),
        line: None,
        column: None,
    }
}

async fn claims_take_the_oldest_job_once(store: JobStore) {
    let ids = [enqueue(&store, 5).await, enqueue(&store, 5).await];

    let first = store.claim("w1").await.unwrap().unwrap();
    let second = store.claim("w2").await.unwrap().unwrap();
    let none = store.claim("w3").await.unwrap();

    assert_eq!([first.id, second.id], ids);
    assert_eq!(first.status, JobStatus::Running);
    assert_eq!(first.attempts, 1);
    assert_eq!(first.worker_id.as_deref(), Some("w1"));
    assert_eq!(first.options["delimiter"], ";");
    assert!(none.is_none());
}

async fn concurrent_claims_never_share_a_job(store: JobStore) {
    for _ in 0..30 {
        enqueue(&store, 5).await;
    }
    let claimers = (0..6).map(|n| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(job) = store.claim(&format!("w{n}")).await.unwrap() {
                mine.push(job.id);
            }
            mine
        })
    });
    let claimed: Vec<Uuid> = futures_util::future::join_all(claimers)
        .await
        .into_iter()
        .flat_map(|r| r.unwrap())
        .collect();
    let unique: HashSet<&Uuid> = claimed.iter().collect();
    assert_eq!(claimed.len(), 30);
    assert_eq!(unique.len(), 30);
}

async fn a_stale_lease_is_taken_back_and_the_old_worker_cannot_write(store: JobStore) {
    let id = enqueue(&store, 5).await;
    store.claim("old").await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;

    let requeued = store.requeue_stale(Duration::from_millis(1)).await.unwrap();
    let old_heartbeat = store
        .heartbeat(id, "old", &AttemptReport::default())
        .await
        .unwrap();
    let old_success = store
        .succeed(id, "old", &serde_json::json!({}), &serde_json::json!([]))
        .await
        .unwrap();
    let again = store.claim("new").await.unwrap().unwrap();

    assert_eq!(requeued, vec![id]);
    assert!(!old_heartbeat);
    assert!(old_success.is_none());
    assert_eq!(again.attempts, 2);
    assert_eq!(again.attempt_errors[0]["code"], "lease-expired");
    assert!(store
        .heartbeat(id, "new", &AttemptReport::default())
        .await
        .unwrap());
}

async fn a_retry_waits_for_its_backoff_and_attempts_run_out(store: JobStore) {
    let id = enqueue(&store, 2).await;
    store.claim("w").await.unwrap().unwrap();

    let waiting = store
        .retry(id, "w", &transient(), Duration::from_secs(3600))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(waiting.status, JobStatus::Queued);
    assert!(
        store.claim("w").await.unwrap().is_none(),
        "not before its backoff"
    );

    let other = enqueue(&store, 2).await;
    store.claim("w").await.unwrap().unwrap();
    store
        .retry(other, "w", &transient(), Duration::ZERO)
        .await
        .unwrap();
    let second = store.claim("w").await.unwrap().unwrap();
    assert_eq!((second.id, second.attempts), (other, 2));
    let failed = store
        .retry(other, "w", &transient(), Duration::ZERO)
        .await
        .unwrap()
        .unwrap();

    assert_eq!(failed.status, JobStatus::Failed);
    assert_eq!(failed.error.unwrap().code, "io-error");
    assert_eq!(failed.attempt_errors.as_array().unwrap().len(), 2);
    assert_eq!(failed.attempt_errors[1]["attempt"], 2);
    assert!(failed.finished_at.is_some());
}

async fn a_failure_is_recorded_with_its_line(store: JobStore) {
    let id = enqueue(&store, 5).await;
    store.claim("w").await.unwrap().unwrap();
    let error = JobError {
        code: "ragged-row".into(),
        message: "3 fields, expected 2".into(),
        line: Some(7),
        column: None,
    };

    let failed = store
        .fail(id, "w", &error, &serde_json::json!([]))
        .await
        .unwrap()
        .unwrap();

    assert_eq!(failed.status, JobStatus::Failed);
    assert_eq!(failed.error, Some(error));
    assert_eq!(failed.attempt_errors[0]["code"], "ragged-row");
    assert!(failed.expires_at.is_some());
}

async fn giving_a_job_back_does_not_spend_an_attempt(store: JobStore) {
    let id = enqueue(&store, 5).await;
    store.claim("w").await.unwrap().unwrap();

    assert!(store.requeue(id, "w").await.unwrap());
    let again = store.claim("w").await.unwrap().unwrap();

    assert_eq!(again.attempts, 1);
}

async fn an_idempotency_key_names_one_job(store: JobStore) {
    let first = store.insert(&new_job(Some("k-1"), 5)).await.unwrap();
    let second = store.insert(&new_job(Some("k-1"), 5)).await.unwrap();

    let (Inserted::Created(first), Inserted::Existing(second)) = (first, second) else {
        panic!("expected created then existing");
    };
    assert_eq!(first.id, second.id);
    assert_eq!(store.count_queued().await.unwrap(), 1);
}

async fn removal_cancels_then_deletes(store: JobStore) {
    let id = enqueue(&store, 5).await;

    // A job enqueued without a trace context links the cancel to none.
    assert_eq!(
        store.remove(&Scope::All, id).await.unwrap(),
        Removal::Canceled {
            traceparent: None,
            tracestate: None
        }
    );
    assert_eq!(
        store.get(id).await.unwrap().unwrap().status,
        JobStatus::Canceled
    );
    assert_eq!(
        store.remove(&Scope::All, id).await.unwrap(),
        Removal::Deleted
    );
    assert_eq!(
        store.remove(&Scope::All, id).await.unwrap(),
        Removal::NotFound
    );
}

async fn expired_jobs_leave_a_tombstone(store: JobStore) {
    let id = enqueue(&store, 5).await;
    store.claim("w").await.unwrap().unwrap();
    store
        .succeed(
            id,
            "w",
            &serde_json::json!({"rows": 1}),
            &serde_json::json!([]),
        )
        .await
        .unwrap()
        .unwrap();
    let expired = expire_once_due(&store).await;

    assert_eq!(expired, vec![id]);
    assert!(store.get(id).await.unwrap().is_none());
    assert!(store.is_expired(&Scope::All, id).await.unwrap());
    assert!(!store.is_expired(&Scope::All, Uuid::new_v4()).await.unwrap());
    assert!(store.job_states(&[id]).await.unwrap().is_empty());
}

async fn job_states_tell_which_attempt_runs_in_one_statement(store: JobStore) {
    let running = enqueue(&store, 5).await;
    let queued = enqueue(&store, 5).await;
    store.claim("w").await.unwrap().unwrap();
    let unknown = Uuid::now_v7();

    let mut states = store.job_states(&[running, queued, unknown]).await.unwrap();
    states.sort_by_key(|(id, _, _)| *id);

    assert_eq!(
        states,
        vec![
            (running, JobStatus::Running, 1),
            (queued, JobStatus::Queued, 0)
        ]
    );
}

async fn the_list_pages_newest_first(store: JobStore) {
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(enqueue(&store, 5).await);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }

    let first = store.list(&Scope::All, None, 2, None).await.unwrap();
    let cursor = parquetry::jobs::ListCursor {
        created_at: first[1].created_at,
        id: first[1].id,
    };
    let rest = store
        .list(&Scope::All, None, 2, Some(&cursor))
        .await
        .unwrap();
    let queued = store
        .list(&Scope::All, Some(JobStatus::Queued), 10, None)
        .await
        .unwrap();
    let (queued_now, running_now) = store.count_active().await.unwrap();

    assert_eq!(
        [first[0].id, first[1].id, rest[0].id],
        [ids[2], ids[1], ids[0]]
    );
    assert_eq!(rest.len(), 1);
    assert_eq!(queued.len(), 3);
    assert_eq!((queued_now, running_now), (3, 0));
}

fn tenant_job(tenant: &str, key: Option<&str>) -> NewJob {
    NewJob {
        tenant: tenant.into(),
        ..new_job(key, 5)
    }
}

async fn created(store: &JobStore, job: NewJob) -> Uuid {
    match store.insert(&job).await.unwrap() {
        Inserted::Created(job) => job.id,
        Inserted::Existing(job) => panic!("expected a new job, got {}", job.id),
    }
}

/// Every scoped read and removal sees its tenant's jobs only; idempotency
/// keys are per tenant; tombstones too.
async fn tenants_never_see_each_other(store: JobStore) {
    let a = Scope::Tenant("a".into());
    let b = Scope::Tenant("b".into());
    let of_a = created(&store, tenant_job("a", Some("same-key"))).await;
    // The same key in another tenant is another job, not a replay.
    let of_b = created(&store, tenant_job("b", Some("same-key"))).await;
    assert_ne!(of_a, of_b);
    let again = store
        .insert(&tenant_job("a", Some("same-key")))
        .await
        .unwrap();
    assert!(matches!(again, Inserted::Existing(job) if job.id == of_a));
    let found = store
        .find_by_idempotency_key("b", "same-key")
        .await
        .unwrap();
    assert_eq!(found.unwrap().id, of_b);

    assert_eq!(store.find(&a, of_a).await.unwrap().unwrap().tenant, "a");
    assert!(store.find(&b, of_a).await.unwrap().is_none());
    assert!(store.find(&Scope::All, of_a).await.unwrap().is_some());
    let listed: Vec<Uuid> = store
        .list(&b, None, 10, None)
        .await
        .unwrap()
        .iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(listed, vec![of_b]);
    assert_eq!(
        store.list(&Scope::All, None, 10, None).await.unwrap().len(),
        2
    );

    assert_eq!(store.remove(&b, of_a).await.unwrap(), Removal::NotFound);
    assert_eq!(
        store.find(&a, of_a).await.unwrap().unwrap().status,
        JobStatus::Queued
    );
    assert!(matches!(
        store.remove(&a, of_a).await.unwrap(),
        Removal::Canceled { .. }
    ));
    assert_eq!(store.remove(&a, of_a).await.unwrap(), Removal::Deleted);

    store.remove(&b, of_b).await.unwrap();
    assert_eq!(expire_once_due(&store).await, vec![of_b]);
    assert!(store.is_expired(&b, of_b).await.unwrap());
    assert!(!store.is_expired(&a, of_b).await.unwrap());
}

/// A key is found by its id and proven by its secret; a revoked one is
/// told apart only with its right secret.
async fn keys_are_checked_and_revoked(store: JobStore) {
    use parquetry::jobs::KeyCheck;
    assert_eq!(store.key_count().await.unwrap(), 0);
    let new = NewKey {
        name: "ci".into(),
        tenant: "acme".into(),
        admin: false,
    };
    let (key, secret) = store.create_key(&new).await.unwrap().unwrap();
    assert_eq!((key.name.as_str(), key.tenant.as_str()), ("ci", "acme"));
    assert!(
        store.create_key(&new).await.unwrap().is_none(),
        "names are unique"
    );
    assert!(
        matches!(store.check_key(&secret).await.unwrap(), KeyCheck::Valid(k) if k.tenant == "acme")
    );
    let listed = store.list_keys().await.unwrap();
    assert!(listed[0].last_used_at.is_some(), "{listed:?}");
    let mut wrong = secret.clone();
    wrong.pop();
    assert!(matches!(
        store.check_key(&wrong).await.unwrap(),
        KeyCheck::Invalid
    ));
    assert!(matches!(
        store.check_key("pqt_nope").await.unwrap(),
        KeyCheck::Invalid
    ));
    store.revoke_key("ci").await.unwrap().unwrap();
    assert!(matches!(
        store.check_key(&secret).await.unwrap(),
        KeyCheck::Revoked
    ));
    assert!(matches!(
        store.check_key(&wrong).await.unwrap(),
        KeyCheck::Invalid
    ));
    assert!(store.revoke_key("other").await.unwrap().is_none());
    assert_eq!(
        store.key_count().await.unwrap(),
        1,
        "revoked keys still count"
    );
}

/// Runs each test against both stores.
macro_rules! store_suite {
    ($($test:ident),* $(,)?) => {
        mod on_postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    let (store, _database) = super::postgres_store(std::time::Duration::ZERO).await;
                    super::$test(store).await;
                }
            )*
        }
        mod on_sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(super::sqlite_store(std::time::Duration::ZERO).await).await;
                }
            )*
        }
    };
}

store_suite!(
    job_states_tell_which_attempt_runs_in_one_statement,
    claims_take_the_oldest_job_once,
    concurrent_claims_never_share_a_job,
    a_stale_lease_is_taken_back_and_the_old_worker_cannot_write,
    a_retry_waits_for_its_backoff_and_attempts_run_out,
    a_failure_is_recorded_with_its_line,
    giving_a_job_back_does_not_spend_an_attempt,
    an_idempotency_key_names_one_job,
    removal_cancels_then_deletes,
    expired_jobs_leave_a_tombstone,
    the_list_pages_newest_first,
    tenants_never_see_each_other,
    keys_are_checked_and_revoked,
);
