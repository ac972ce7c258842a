//! Issue 15: the command-line client (`parquetry upload`, `jobs`,
//! `inspect --server`) against the real server, as the built binary.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::{eventually, read_parquet, spawn_app, spawn_app_with, temp_data_dir, TestApp};

const BIN: &str = env!("CARGO_BIN_EXE_parquetry");

/// Runs the client against `server`, in `dir`, with no key unless given
/// (in a blocking task: the server under test runs on this runtime).
async fn client_at(server: &str, dir: &Path, args: &[&str], key: Option<&str>) -> Output {
    let mut command = std::process::Command::new(BIN);
    command
        .args(args)
        .current_dir(dir)
        .env("PARQUETRY_URL", server)
        .env_remove("PARQUETRY_API_KEY")
        .env("OTEL_SDK_DISABLED", "true");
    if let Some(key) = key {
        command.env("PARQUETRY_API_KEY", key);
    }
    tokio::task::spawn_blocking(move || command.output().expect("run parquetry"))
        .await
        .unwrap()
}

async fn client(app: &TestApp, dir: &Path, args: &[&str]) -> Output {
    client_at(&app.address, dir, args, None).await
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn rows_in(path: &Path) -> usize {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    read_parquet(bytes::Bytes::from(bytes)).num_rows()
}

/// A directory holding `name` files of `rows` rows each.
fn csv_files(names: &[(&str, usize)]) -> PathBuf {
    let dir = temp_data_dir();
    for (name, rows) in names {
        let body: String = std::iter::once("id,name\n".to_string())
            .chain((0..*rows).map(|i| format!("{i},row {i}\n")))
            .collect();
        std::fs::write(dir.join(name), body).unwrap();
    }
    dir
}

#[tokio::test]
async fn upload_of_several_files_with_wait_writes_each_parquet_into_the_directory() {
    let app = spawn_app().await;
    let dir = csv_files(&[("a.csv", 10), ("b.csv", 200), ("c.csv", 3)]);

    let out = client(
        &app,
        &dir,
        &["upload", "a.csv", "b.csv", "c.csv", "--wait", "-o", "out"],
    )
    .await;

    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(rows_in(&dir.join("out/a.parquet")), 10);
    assert_eq!(rows_in(&dir.join("out/b.parquet")), 200);
    assert_eq!(rows_in(&dir.join("out/c.parquet")), 3);
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 3, "one summary per file: {stdout}");
    assert!(
        stdout.contains("b.csv: 200 rows") && stdout.contains("out/b.parquet"),
        "{stdout}"
    );
    assert!(
        !text(&out.stderr).contains('['),
        "no bars when stderr is not a terminal"
    );
    assert_eq!(app.job_count().await, 3);
}

#[tokio::test]
async fn a_failing_file_exits_1_with_its_code_line_and_message() {
    let app = spawn_app().await;
    let dir = csv_files(&[("good.csv", 5)]);
    std::fs::write(dir.join("bad.csv"), "a,b\n1,x\n2,y,z\n").unwrap();

    let out = client(&app, &dir, &["upload", "good.csv", "bad.csv", "--wait"]).await;

    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("bad.csv: failed: ragged-row, line 3: 3 fields"),
        "{stderr}"
    );
    assert_eq!(
        rows_in(&dir.join("good.parquet")),
        5,
        "the others still convert"
    );
    assert!(!dir.join("bad.parquet").exists());
}

#[tokio::test]
async fn usage_and_connection_errors_exit_2() {
    let dir = csv_files(&[("a.csv", 1)]);
    let unreachable = client_at("http://127.0.0.1:1", &dir, &["upload", "a.csv"], None).await;
    assert_eq!(unreachable.status.code(), Some(2));
    assert!(text(&unreachable.stderr).contains("a.csv:"));

    let missing = client_at("http://127.0.0.1:1", &dir, &["upload"], None).await;
    assert_eq!(missing.status.code(), Some(2), "clap's usage error");
}

#[tokio::test]
async fn json_results_parse_and_the_jobs_commands_reach_the_same_jobs() {
    let app = spawn_app().await;
    let dir = csv_files(&[("sales.csv", 42)]);
    let mut csv = std::fs::read_to_string(dir.join("sales.csv")).unwrap();
    csv.push_str("42,too,many\n");
    std::fs::write(dir.join("sales.csv"), csv).unwrap();

    let args = [
        "upload",
        "sales.csv",
        "--wait",
        "--json",
        "--option",
        "on_error=skip",
    ];
    let out = client(&app, &dir, &args).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let results: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let result = &results[0];
    assert_eq!(result["status"], "succeeded");
    assert_eq!(result["rows"], 42);
    assert_eq!(result["output"], "sales.parquet");
    let id = result["job_id"].as_str().unwrap().to_string();

    let list = client(&app, &dir, &["jobs", "list", "--json"]).await;
    let list: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list["jobs"][0]["id"], id.as_str());
    let table = text(&client(&app, &dir, &["jobs", "list"]).await.stdout);
    assert!(table.starts_with("ID") && table.contains(&id), "{table}");

    let show = client(&app, &dir, &["jobs", "show", &id, "--json"]).await;
    let job: Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(job["result"]["rows"], 42);

    let download = client(&app, &dir, &["jobs", "download", &id, "-o", "copy.parquet"]).await;
    assert_eq!(
        download.status.code(),
        Some(0),
        "{}",
        text(&download.stderr)
    );
    assert_eq!(rows_in(&dir.join("copy.parquet")), 42);

    let rejects = client(&app, &dir, &["jobs", "rejects", &id]).await;
    assert_eq!(rejects.status.code(), Some(0), "{}", text(&rejects.stderr));
    let rejects = text(&rejects.stdout);
    assert!(
        rejects.starts_with("line,column,code,message,raw"),
        "{rejects}"
    );
    assert!(rejects.contains("44,,ragged-row"), "{rejects}");
    let rejects = client(&app, &dir, &["jobs", "rejects", &id, "--json"]).await;
    let rejects: Value = serde_json::from_slice(&rejects.stdout).unwrap();
    assert_eq!(rejects[0]["line"], 44);
    assert_eq!(rejects[0]["code"], "ragged-row");
    assert_eq!(rejects[0]["column"], Value::Null);

    // A finished job is deleted by a cancel: its id then answers 404.
    let cancel = client(&app, &dir, &["jobs", "cancel", &id]).await;
    assert_eq!(cancel.status.code(), Some(0), "{}", text(&cancel.stderr));
    let gone = client(&app, &dir, &["jobs", "show", &id]).await;
    assert_eq!(gone.status.code(), Some(2));
    assert!(
        text(&gone.stderr).contains("HTTP 404"),
        "{}",
        text(&gone.stderr)
    );
}

#[tokio::test]
async fn a_queued_job_is_canceled_and_an_upload_without_wait_only_queues() {
    let app = spawn_app_with(|s| s.worker.workers = Some(0)).await;
    let dir = csv_files(&[("q.csv", 4)]);

    let out = client(&app, &dir, &["upload", "q.csv", "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let results: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(results[0]["status"], "queued");
    assert!(!dir.join("q.parquet").exists());
    let id = results[0]["job_id"].as_str().unwrap();

    let cancel = client(&app, &dir, &["jobs", "cancel", id, "--json"]).await;
    assert_eq!(cancel.status.code(), Some(0), "{}", text(&cancel.stderr));
    let show = text(&client(&app, &dir, &["jobs", "show", id]).await.stdout);
    assert!(show.contains("status:   canceled"), "{show}");
}

#[tokio::test]
async fn inspect_with_a_server_asks_it_and_without_one_runs_locally() {
    let app = spawn_app_with(|s| s.worker.workers = Some(0)).await;
    let dir = temp_data_dir();
    std::fs::write(dir.join("br.csv"), "id;price\n1;1.234,56\n2;7,5\n").unwrap();

    let remote = client(&app, &dir, &["inspect", "br.csv", "--server", &app.address]).await;
    assert_eq!(remote.status.code(), Some(0), "{}", text(&remote.stderr));
    let remote: Value = serde_json::from_slice(&remote.stdout).unwrap();
    let local = client(&app, &dir, &["inspect", "br.csv"]).await;
    let local: Value = serde_json::from_slice(&local.stdout).unwrap();
    assert_eq!(remote["options"], local["options"]);
    assert_eq!(remote["columns"], local["columns"]);

    let down = client(
        &app,
        &dir,
        &["inspect", "br.csv", "--server", "http://127.0.0.1:1"],
    )
    .await;
    assert_eq!(
        down.status.code(),
        Some(2),
        "the server, not the engine, was asked"
    );
}

#[tokio::test]
async fn the_api_key_comes_from_the_environment_and_is_never_printed() {
    // `on`: `auto` would notice the key made below only at its next count.
    let app = spawn_app_with(|s| s.auth.auth = parquetry::config::AuthMode::On).await;
    let dir = csv_files(&[("k.csv", 2)]);
    let created = std::process::Command::new(BIN)
        .args(["keys", "create", "--name", "cli"])
        .env("DATABASE_URL", &app.database_url)
        .env("PARQUETRY_DATA_DIR", &app.data_dir)
        .env("OTEL_SDK_DISABLED", "true")
        .output()
        .unwrap();
    let key = text(&created.stdout).trim().to_string();
    assert!(key.starts_with("pqt_"), "{}", text(&created.stderr));

    let keyless = client(&app, &dir, &["upload", "k.csv"]).await;
    assert_eq!(keyless.status.code(), Some(2));
    assert!(text(&keyless.stderr).contains("HTTP 401"));

    let args = ["upload", "k.csv", "--wait"];
    let out = client_at(&app.address, &dir, &args, Some(&key)).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let wrong = format!("{key}x");
    let refused = client_at(&app.address, &dir, &["jobs", "list"], Some(&wrong)).await;
    assert_eq!(refused.status.code(), Some(2));
    let said = text(&refused.stdout) + &text(&refused.stderr);
    assert!(!said.contains(&key), "{said}");
}

/// A proxy to `target` that loses the server's first answer: the first
/// connection's request reaches the server whole, then the connection drops
/// as the answer begins. Later connections pass through.
async fn proxy_losing_the_first_answer(target: String) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let mut outbound = TcpStream::connect(&target).await.unwrap();
            if counted.fetch_add(1, Ordering::SeqCst) > 0 {
                tokio::spawn(async move {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                });
                continue;
            }
            tokio::spawn(async move {
                let (mut from_client, _to_client) = inbound.into_split();
                let (mut from_server, mut to_server) = outbound.into_split();
                let upstream = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut from_client, &mut to_server).await;
                });
                let mut first = [0u8; 1];
                let _ = from_server.read(&mut first).await;
                // Dropping both halves closes the client's connection unanswered.
                upstream.abort();
            });
        }
    });
    (address, connections)
}

#[tokio::test]
async fn a_dropped_upload_is_retried_with_its_key_and_makes_one_job() {
    let app = spawn_app().await;
    let target = app.address.trim_start_matches("http://").to_string();
    let (proxy, connections) = proxy_losing_the_first_answer(target).await;
    let dir = csv_files(&[("r.csv", 1000)]);

    let out = client_at(&proxy, &dir, &["upload", "r.csv", "--wait", "--json"], None).await;

    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        connections.load(Ordering::SeqCst) >= 2,
        "a second connection"
    );
    assert_eq!(app.job_count().await, 1, "the retry got the first job back");
    assert_eq!(rows_in(&dir.join("r.parquet")), 1000);
}

/// Installs tmux (Debian's package) through `scripts/ensure-tmux` when it
/// is missing, as `scripts/test` does before the tests.
fn ensure_tmux() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/ensure-tmux");
    let status = std::process::Command::new(script)
        .status()
        .expect("run scripts/ensure-tmux");
    assert!(status.success(), "scripts/ensure-tmux failed: {status}");
}

/// `tmux` on a private socket, for one test.
fn tmux(socket: &str, args: &[&str]) -> Output {
    std::process::Command::new("tmux")
        .arg("-L")
        .arg(socket)
        .args(args)
        .output()
        .expect("run tmux")
}

#[tokio::test]
async fn on_a_terminal_each_file_has_a_progress_bar() {
    let app = spawn_app().await;
    let dir = csv_files(&[("one.csv", 50_000), ("two.csv", 20)]);
    ensure_tmux();
    let socket = format!("parquetry-{}", uuid::Uuid::new_v4().simple());
    let script = format!(
        "cd '{}' && PARQUETRY_URL='{}' OTEL_SDK_DISABLED=true '{BIN}' upload one.csv two.csv \
         --wait; echo \"exit=$?\"; exec sleep 120",
        dir.display(),
        app.address
    );
    let started = tmux(
        &socket,
        &["new-session", "-d", "-x", "160", "-y", "30", &script],
    );
    assert!(started.status.success(), "{}", text(&started.stderr));

    let capture = || text(&tmux(&socket, &["capture-pane", "-p"]).stdout);
    eventually("the upload to end", Duration::from_secs(60), async || {
        capture().contains("exit=")
    })
    .await;
    let pane = capture();
    tmux(&socket, &["kill-server"]);

    assert!(pane.contains("exit=0"), "{pane}");
    let bars: Vec<&str> = pane.lines().filter(|l| l.contains("100%")).collect();
    assert_eq!(bars.len(), 2, "a finished bar per file:\n{pane}");
    assert!(
        bars.iter()
            .all(|bar| bar.contains("succeeded") && bar.contains("[=====")),
        "{pane}"
    );
    assert!(pane.contains("one.csv: 50000 rows"), "{pane}");
}
