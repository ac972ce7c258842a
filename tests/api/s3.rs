//! Job files in S3-compatible object storage, for real: moto's S3 server on
//! 127.0.0.1 (installed into `.venv-moto` by `scripts/ensure-moto`, which
//! `scripts/test` runs), one bucket per test, and `parquetry` processes that
//! share nothing but the bucket and PostgreSQL.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use futures_util::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{create_database, expect_problem, large_csv, read_parquet, temp_data_dir};
use crate::otlp_receiver::{OtlpReceiver, SpanKind};
use crate::telemetry::Service;

const PREFIX: &str = "jobs";

/// A `moto_server` child process, killed on drop.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Moto {
    async fn start() -> Moto {
        // reqwest (below and in the tests) needs the process's TLS provider.
        parquetry::tls::install_crypto_provider();
        let binary = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv-moto/bin/moto_server");
        assert!(
            binary.exists(),
            "{} is missing: run scripts/ensure-moto (scripts/test runs it) to install moto's S3 server",
            binary.display()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while reqwest::get(&moto.endpoint).await.is_err() {
            assert!(Instant::now() < deadline, "moto_server never answered");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        moto
    }

    /// A fresh bucket: object_store cannot create one, but moto takes an
    /// unsigned `PUT /bucket`.
    async fn create_bucket(&self) -> Bucket {
        let name = format!("parquetry-test-{}", Uuid::new_v4().simple());
        let response = reqwest::Client::new()
            .put(format!("{}/{name}", self.endpoint))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{response:?}");
        let store = AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_access_key_id("test")
            .with_secret_access_key("test")
            .with_bucket_name(&name)
            .build()
            .unwrap();
        Bucket {
            name,
            endpoint: self.endpoint.clone(),
            store: Arc::new(store),
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Bucket {
    name: String,
    endpoint: String,
    store: Arc<AmazonS3>,
}

impl Bucket {
    /// The variables a `parquetry` process needs to use this bucket.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("PARQUETRY_S3_BUCKET", self.name.clone()),
            ("PARQUETRY_S3_PREFIX", PREFIX.into()),
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ]
    }

    /// Every key in the bucket.
    async fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .store
            .list(None)
            .map_ok(|meta| meta.location.to_string())
            .try_collect()
            .await
            .unwrap();
        keys.sort();
        keys
    }

    /// Multipart uploads started and neither completed nor aborted.
    async fn pending_multipart_uploads(&self) -> String {
        let listing = reqwest::get(format!("{}/{}?uploads", self.endpoint, self.name))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(listing.contains("ListMultipartUploadsResult"), "{listing}");
        listing
    }
}

/// The environment shared by every process of a test.
fn common_env(database_url: &str, bucket: &Bucket) -> Vec<(&'static str, String)> {
    let mut env = bucket.env();
    env.push(("DATABASE_URL", database_url.to_string()));
    // Each process its own data directory: the bucket is all they share.
    env.push(("PARQUETRY_DATA_DIR", temp_data_dir().display().to_string()));
    env.push(("PARQUETRY_HEARTBEAT_INTERVAL_MS", "200".into()));
    env
}

fn with(
    mut env: Vec<(&'static str, String)>,
    more: &[(&'static str, &str)],
) -> Vec<(&'static str, String)> {
    env.extend(more.iter().map(|(name, value)| (*name, value.to_string())));
    env
}

fn data_dir_of(env: &[(&str, String)]) -> PathBuf {
    PathBuf::from(
        &env.iter()
            .find(|(n, _)| *n == "PARQUETRY_DATA_DIR")
            .unwrap()
            .1,
    )
}

async fn upload(client: &reqwest::Client, api: &Service, csv: String) -> Value {
    let response = client
        .post(api.url("/v1/jobs?filename=data.csv"))
        .header("Content-Type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    response.json().await.unwrap()
}

async fn wait_for(client: &reqwest::Client, api: &Service, id: &str, statuses: &[&str]) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let job: Value = client
            .get(api.url(&format!("/v1/jobs/{id}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if statuses.contains(&job["status"].as_str().unwrap_or("")) {
            return job;
        }
        assert!(Instant::now() < deadline, "{job:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn local_files(data_dir: &std::path::Path) -> Vec<PathBuf> {
    ["uploads", "results"]
        .iter()
        .filter_map(|sub| std::fs::read_dir(data_dir.join(sub)).ok())
        .flat_map(|entries| entries.filter_map(|e| e.ok()).map(|e| e.path()))
        .collect()
}

#[tokio::test]
async fn an_api_and_two_workers_share_jobs_through_the_bucket() {
    // Arrange: moto, a bucket, PostgreSQL, an OTLP receiver, the API and
    // two worker processes.
    let receiver = OtlpReceiver::start().await;
    let moto = Moto::start().await;
    let bucket = moto.create_bucket().await;
    let database = create_database().await;
    let database_url = database.url.clone();
    let telemetry = |instance: &str| {
        vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.grpc_endpoint()),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                format!("service.name=parquetry,service.instance.id={instance}"),
            ),
        ]
    };
    let mut api_env = with(
        common_env(&database_url, &bucket),
        &[("PARQUETRY_WORKERS", "0")],
    );
    api_env.extend(telemetry("api"));
    let api = Service::start("serve", &api_env);
    let mut workers = Vec::new();
    let mut worker_dirs = Vec::new();
    for name in ["worker-1", "worker-2"] {
        let mut env = with(
            common_env(&database_url, &bucket),
            &[("PARQUETRY_WORKERS", "2")],
        );
        env.extend(telemetry(name));
        worker_dirs.push(data_dir_of(&env));
        workers.push(Service::start("worker", &env));
    }
    let client = reqwest::Client::new();

    // Act: 20 small jobs and one over the 5 MiB part size, so its input
    // and result travel as several parts.
    const JOBS: usize = 20;
    let mut jobs = Vec::new();
    for n in 0..JOBS {
        jobs.push(upload(&client, &api, format!("n,label\n{n},job {n}\n")).await);
    }
    let big_rows = 200_000;
    let big = upload(&client, &api, large_csv(big_rows)).await;
    let mut finished = Vec::new();
    for job in jobs.iter().chain([&big]) {
        let id = job["id"].as_str().unwrap();
        finished.push(wait_for(&client, &api, id, &["succeeded", "failed"]).await);
    }

    // Assert: every job converted exactly once, and its result served by
    // the API from the bucket.
    for job in &finished {
        assert_eq!(job["status"], "succeeded", "{job:#}");
        assert_eq!(job["attempts"], 1, "{job:#}");
    }
    for (n, job) in jobs.iter().enumerate() {
        let id = job["id"].as_str().unwrap();
        let response = client
            .get(api.url(&format!("/v1/jobs/{id}/result")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let batch = read_parquet(response.bytes().await.unwrap());
        assert_eq!(batch.num_rows(), 1);
        assert_eq!(
            batch.column(0).as_primitive::<Int64Type>().value(0),
            n as i64
        );
        assert_eq!(
            batch.column(1).as_string::<i32>().value(0),
            format!("job {n}")
        );
    }
    let big_id = big["id"].as_str().unwrap();
    // A preview reads the footer and first pages of the result in the bucket.
    let preview: Value = client
        .get(api.url(&format!("/v1/jobs/{big_id}/preview?limit=3")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(preview["rows_total"], big_rows, "{preview:#}");
    assert_eq!(
        preview["rows"][2],
        serde_json::json!([2, 2.02, "label number 2"])
    );
    let key = Path::from(format!("{PREFIX}/results/{big_id}.parquet"));
    let stored = bucket.store.get(&key).await.unwrap().bytes().await.unwrap();
    let url = api.url(&format!("/v1/jobs/{big_id}/result"));
    let whole = client.get(&url).send().await.unwrap();
    assert_eq!(whole.status(), 200);
    let headers = whole.headers().clone();
    assert_eq!(headers["content-type"], "application/vnd.apache.parquet");
    assert_eq!(headers["content-length"], stored.len().to_string().as_str());
    assert!(headers["content-disposition"]
        .to_str()
        .unwrap()
        .contains("data.parquet"));
    let etag = headers["etag"].to_str().unwrap().to_string();
    let body = whole.bytes().await.unwrap();
    assert_eq!(body, stored);
    assert_eq!(read_parquet(body).num_rows(), big_rows);

    let range = client
        .get(&url)
        .header("Range", "bytes=4-11")
        .send()
        .await
        .unwrap();
    assert_eq!(range.status(), 206);
    assert_eq!(
        range.headers()["content-range"],
        format!("bytes 4-11/{}", stored.len()).as_str()
    );
    assert_eq!(range.bytes().await.unwrap(), stored.slice(4..12));
    let tail = client
        .get(&url)
        .header("Range", "bytes=-4")
        .send()
        .await
        .unwrap();
    assert_eq!(tail.status(), 206);
    assert_eq!(tail.bytes().await.unwrap(), "PAR1");
    let beyond = client
        .get(&url)
        .header("Range", format!("bytes={}-", stored.len()))
        .send()
        .await
        .unwrap();
    assert_eq!(beyond.status(), 416);
    assert_eq!(
        beyond.headers()["content-range"],
        format!("bytes */{}", stored.len()).as_str()
    );
    let cached = client
        .get(&url)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);

    // The files are objects in the bucket, and the workers kept no copies.
    let keys = bucket.keys().await;
    for job in jobs.iter().chain([&big]) {
        let id = job["id"].as_str().unwrap();
        assert!(
            keys.contains(&format!("{PREFIX}/uploads/{id}.csv")),
            "{keys:?}"
        );
        assert!(
            keys.contains(&format!("{PREFIX}/results/{id}.parquet")),
            "{keys:?}"
        );
    }
    assert_eq!(keys.len(), 2 * (JOBS + 1), "{keys:?}");
    for dir in &worker_dirs {
        assert!(local_files(dir).is_empty(), "{:?}", local_files(dir));
    }

    for worker in workers {
        worker.terminate();
    }
    api.terminate();

    // One consumer span per job, in the uploader's trace, from a worker.
    let spans = receiver
        .wait_for_spans(Duration::from_secs(15), |spans| {
            spans.iter().filter(|s| s.name == "store result").count() > JOBS
        })
        .await;
    for job in jobs.iter().chain([&big]) {
        let trace_id = job["trace_id"].as_str().unwrap();
        let in_trace: Vec<_> = spans.iter().filter(|s| s.trace_id == trace_id).collect();
        let consumers: Vec<_> = in_trace
            .iter()
            .filter(|s| s.kind == SpanKind::Consumer)
            .collect();
        assert_eq!(consumers.len(), 1, "{job:#}");
        let producer = in_trace
            .iter()
            .find(|s| s.kind == SpanKind::Producer)
            .expect("the producer span");
        assert_eq!(
            consumers[0].parent_span_id.as_ref(),
            Some(&producer.span_id)
        );
        assert_eq!(producer.resource["service.instance.id"], "api");
        assert!(consumers[0].resource["service.instance.id"].starts_with("worker-"));
        for name in ["S3.GetObject", "S3.UploadPart"] {
            assert!(
                in_trace
                    .iter()
                    .any(|s| s.name == name && s.kind == SpanKind::Client),
                "no {name} span in {:?}",
                in_trace.iter().map(|s| &s.name).collect::<Vec<_>>()
            );
        }
    }
}

#[tokio::test]
async fn an_upload_over_the_limit_gets_413_and_leaves_nothing_in_the_bucket() {
    let moto = Moto::start().await;
    let bucket = moto.create_bucket().await;
    let database = create_database().await;
    let database_url = database.url.clone();
    // The limit is past the first 5 MiB part, so a part is already stored
    // when the limit is crossed and the multipart upload must be aborted.
    let env = with(
        common_env(&database_url, &bucket),
        &[
            ("PARQUETRY_WORKERS", "0"),
            ("PARQUETRY_MAX_UPLOAD_BYTES", "6000000"),
        ],
    );
    let api = Service::start("serve", &env);

    // Not much past the limit: the rest of the body still fits in the
    // socket buffers, so the client reads the answer rather than a reset.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..65)
        .map(|_| Ok("y\n".repeat(50_000).into_bytes()))
        .collect();
    let response = reqwest::Client::new()
        .post(api.url("/v1/jobs"))
        .header("Content-Type", "text/csv")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();

    expect_problem(response, 413, "payload-too-large").await;
    assert!(bucket.keys().await.is_empty());
    let pending = bucket.pending_multipart_uploads().await;
    assert!(!pending.contains("<Upload>"), "{pending}");
    api.terminate();
}

#[tokio::test]
async fn deleted_expired_and_orphan_files_leave_the_bucket() {
    let moto = Moto::start().await;
    let bucket = moto.create_bucket().await;
    let database = create_database().await;
    let database_url = database.url.clone();
    // One worker in the API process; a short lease makes housekeeping run
    // every second, and the retention and orphan grace are short too.
    let env = with(
        common_env(&database_url, &bucket),
        &[
            ("PARQUETRY_WORKERS", "1"),
            ("PARQUETRY_LEASE_TIMEOUT_SECS", "2"),
            ("PARQUETRY_RETENTION_SECS", "3"),
            ("PARQUETRY_ORPHAN_GRACE_SECS", "1"),
        ],
    );
    let api = Service::start("serve", &env);
    let client = reqwest::Client::new();
    let orphan = Path::from(format!("{PREFIX}/uploads/{}.csv", Uuid::now_v7()));
    bucket
        .store
        .put(&orphan, PutPayload::from_static(b"a\n1\n"))
        .await
        .unwrap();

    let deleted = upload(&client, &api, "a\n1\n".into()).await;
    let expiring = upload(&client, &api, "a\n2\n".into()).await;
    let deleted = deleted["id"].as_str().unwrap();
    let expiring = expiring["id"].as_str().unwrap();
    wait_for(&client, &api, deleted, &["succeeded"]).await;
    wait_for(&client, &api, expiring, &["succeeded"]).await;
    let response = client
        .delete(api.url(&format!("/v1/jobs/{deleted}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let keys = bucket.keys().await;
    assert!(!keys.iter().any(|k| k.contains(deleted)), "{keys:?}");

    // Expiry and the orphan sweep empty the bucket.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let keys = bucket.keys().await;
        if keys.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "still in the bucket: {keys:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let gone = client
        .get(api.url(&format!("/v1/jobs/{expiring}")))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 410);
    api.terminate();
}
