//! A 202 means the job and its input are stored: a full disk or a database
//! outage is a clear 5xx that leaves nothing behind, never a 202 for a job
//! that then does not exist, and the service recovers by itself.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{eventually, expect_problem, spawn_app_with, temp_data_dir};

/// A small tmpfs, so a test can fill a disk: unmounted when dropped. The
/// tests run as root on their machine (see README); a machine where mounting
/// is not allowed fails here with the reason, rather than skipping.
struct SmallDisk {
    path: PathBuf,
}

impl SmallDisk {
    fn mount(megabytes: u64) -> SmallDisk {
        let path = temp_data_dir();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(&path)
            .status()
            .expect("run mount");
        assert!(status.success(), "mounting a tmpfs needs root: {status}");
        SmallDisk { path }
    }

    /// Writes a file until the disk is full, then frees `keep` bytes of it.
    fn fill_leaving(&self, keep: u64) -> PathBuf {
        let filler = self.path.join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 64 * 1024];
        let mut written = 0u64;
        loop {
            match file.write(&block) {
                Ok(0) | Err(_) => break,
                Ok(n) => written += n as u64,
            }
        }
        drop(file);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&filler)
            .unwrap();
        file.set_len(written.saturating_sub(keep)).unwrap();
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[tokio::test]
async fn a_disk_that_fills_during_an_upload_answers_507_and_keeps_nothing() {
    let disk = SmallDisk::mount(8);
    let data_dir = disk.path.clone();
    let app = spawn_app_with(|s| {
        s.worker.workers = Some(0);
        s.storage.data_dir = data_dir;
    })
    .await;
    let body = "a,b\n".to_string() + &"1234567,abcdefgh\n".repeat(1_000_000);

    let refused = app.upload_raw(body, "").await;

    let problem = expect_problem(refused, 507, "insufficient-storage").await;
    assert!(problem["detail"].as_str().unwrap().contains("disk"));
    assert!(app.stored_files().is_empty(), "{:?}", app.stored_files());
    assert_eq!(app.job_count().await, 0);
    app.stop().await;
}

#[tokio::test]
async fn a_chunked_upload_is_stopped_when_it_brings_the_disk_below_its_floor() {
    let disk = SmallDisk::mount(64);
    let data_dir = disk.path.clone();
    let app = spawn_app_with(|s| {
        s.worker.workers = Some(0);
        s.storage.data_dir = data_dir;
        s.min_free_disk_bytes = 40 * 1024 * 1024;
    })
    .await;
    // No Content-Length: a stream of 40 MB in 1 MB chunks.
    let chunks = (0..40).map(|_| Ok::<_, std::io::Error>(vec![b'7'; 1024 * 1024]));
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));

    let refused = app.upload_raw(body, "").await;

    expect_problem(refused, 507, "insufficient-storage").await;
    assert!(app.stored_files().is_empty(), "{:?}", app.stored_files());
    app.stop().await;
}

#[tokio::test]
async fn a_job_row_that_cannot_be_committed_is_never_acknowledged() {
    // The SQLite job table on a disk with room for the upload but not for
    // the row: the insert's commit fails after its RETURNING row was read.
    let disk = SmallDisk::mount(4);
    let data_dir = disk.path.clone();
    let app = spawn_app_with(|s| {
        s.worker.workers = Some(0);
        s.storage.data_dir = data_dir;
        s.database.database_url = None;
    })
    .await;
    let filler = disk.fill_leaving(4096);

    let refused = app.upload_raw("a\n1\n", "?filename=full.csv").await;
    let status = refused.status();
    let answer: Value = refused.json().await.unwrap();
    std::fs::remove_file(&filler).unwrap();
    let listed = app.get_json("/v1/jobs").await;
    let accepted = app.upload_raw("a\n1\n", "?filename=room.csv").await;

    assert_eq!(status, 507, "{answer:#}");
    assert_eq!(answer["code"], "insufficient-storage");
    assert_eq!(listed["jobs"].as_array().unwrap().len(), 0, "{listed:#}");
    assert_eq!(accepted.status(), 202);
    let job: Value = accepted.json().await.unwrap();
    let id = job["id"].as_str().unwrap();
    assert_eq!(app.get_job(id).await["input"]["filename"], "room.csv");
    assert_eq!(app.stored_files().len(), 1, "{:?}", app.stored_files());
    app.stop().await;
}

/// Refuses new connections to the database and closes the open ones, as a
/// restarting server would; `restore` lets them in again.
async fn cut_off(app: &crate::helpers::TestApp, allow: bool) {
    let name = app.database_url.rsplit('/').next().unwrap().to_string();
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&format!(
        "{}/postgres",
        crate::helpers::server_url()
    ))
    .await
    .unwrap();
    let statement = format!(r#"ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {allow}"#);
    sqlx::Executor::execute(&mut admin, sqlx::raw_sql(sqlx::AssertSqlSafe(statement)))
        .await
        .unwrap();
    if !allow {
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
            .bind(&name)
            .execute(&mut admin)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_database_outage_answers_503_at_once_and_jobs_resume_after_it() {
    let app = spawn_app_with(|s| s.worker.workers = Some(1)).await;
    cut_off(&app, false).await;

    let started = Instant::now();
    let listed = app.client.get(app.url("/v1/jobs")).send().await.unwrap();
    let listed_after = started.elapsed();
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    let upload = app.upload_raw("a\n1\n", "").await;

    assert!(listed.headers().contains_key("retry-after"), "{listed:?}");
    expect_problem(listed, 503, "database-unavailable").await;
    // The pool's acquire timeout (2 s), not the 10 s it used to wait.
    assert!(listed_after < Duration::from_secs(6), "{listed_after:?}");
    expect_problem(ready, 503, "database-unavailable").await;
    expect_problem(upload, 503, "database-unavailable").await;
    assert!(app.stored_files().is_empty());

    cut_off(&app, true).await;
    eventually(
        "the service to be ready again",
        Duration::from_secs(20),
        async || {
            app.client
                .get(app.url("/readyz"))
                .send()
                .await
                .unwrap()
                .status()
                == 200
        },
    )
    .await;
    let id = app.enqueue("a\n1\n").await;
    let job = app.wait_until_finished(&id).await;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    app.stop().await;
}
