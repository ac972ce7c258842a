//! The `parquetry` binary as a user runs it: a converter in a pipe, help that
//! names each variable once, and start-up that says which database it uses.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::helpers::{
    create_database, eventually, large_csv, read_parquet, server_url, temp_data_dir,
};

fn parquetry() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_parquetry"));
    // The tests' own environment must not configure the commands under test.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().to_string();
        if name.starts_with("PARQUETRY_") || name == "DATABASE_URL" {
            command.env_remove(name);
        }
    }
    command.env("OTEL_SDK_DISABLED", "true");
    command
}

fn help(args: &[&str]) -> String {
    let output = parquetry().args(args).arg("--help").output().unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The peak resident memory of a running process, in bytes (Linux).
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

#[test]
fn convert_reads_standard_input_and_writes_standard_output_in_bounded_memory() {
    // 80 MB and more of CSV through `parquetry convert - -`, as `zcat big.csv.gz | …` would send it.
    let csv = large_csv(2_500_000);
    assert!(csv.len() > 80_000_000);
    let mut child = parquetry()
        .args(["convert", "-", "-", "--row-group-size", "50000"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || stdin.write_all(csv.as_bytes()));

    // The Parquet file is sent only once it is complete, so its first byte
    // comes after the conversion: the peak memory is known then, while the
    // process waits for this end of the pipe.
    let mut stdout = child.stdout.take().unwrap();
    let mut parquet = vec![0u8; 1];
    stdout.read_exact(&mut parquet).unwrap();
    let peak = peak_rss(child.id());
    stdout.read_to_end(&mut parquet).unwrap();
    let mut summary = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut summary)
        .unwrap();
    assert!(child.wait().unwrap().success(), "{summary}");
    feeder.join().unwrap().unwrap();

    assert!(
        peak < 48_000_000,
        "peak memory {peak} bytes: the input was held"
    );
    assert!(parquet.starts_with(b"PAR1") && parquet.ends_with(b"PAR1"));
    assert_eq!(read_parquet(parquet.into()).num_rows(), 2_500_000);
    // The summary went to standard error, as the help says.
    let summary: serde_json::Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(summary["rows"], 2_500_000);
    let help = help(&["convert"]);
    assert!(help.contains("standard error when OUTPUT is `-`"), "{help}");
}

#[test]
fn convert_writes_a_file_from_standard_input_and_the_summary_to_standard_output() {
    let dir = temp_data_dir();
    let out = dir.join("out.parquet");
    let mut child = parquetry()
        .args(["convert", "-"])
        .arg(&out)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"id;name\n1;ana\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();

    assert!(output.status.success());
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["rows"], 1);
    assert_eq!(
        read_parquet(std::fs::read(&out).unwrap().into()).num_rows(),
        1
    );
}

#[tokio::test]
async fn an_interrupted_pipe_leaves_no_spool_behind() {
    let tmp = temp_data_dir();
    let mut child = crate::helpers::ChildGuard::new(
        parquetry()
            .args(["convert", "-", "-"])
            .env("TMPDIR", &tmp)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // Standard input stays open: the copy to the spool is under way.
    let mut stdin = child.0.as_mut().unwrap().stdin.take().unwrap();
    stdin.write_all(b"a,b\n1,2\n").unwrap();
    let spooled = async || std::fs::read_dir(&tmp).unwrap().count() > 0;
    eventually("the spool directory", Duration::from_secs(20), spooled).await;

    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let status = child.0.take().unwrap().wait().unwrap();

    assert_eq!(status.code(), Some(130));
    let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    drop(stdin);
    std::fs::remove_dir(&tmp).unwrap();
}

#[test]
fn a_failed_conversion_names_its_line_once() {
    let mut child = parquetry()
        .args(["convert", "-", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a,b\n1,2\n3,4\n5\n")
        .unwrap();
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().unwrap();

    assert!(!status.success());
    assert!(stdout.is_empty(), "no half Parquet file in the pipe");
    let message = text(&stderr);
    assert_eq!(message.matches("line 4").count(), 1, "{message}");
    assert!(message.contains("ragged-row"), "{message}");
}

#[test]
fn help_names_each_variable_once() {
    for command in ["serve", "worker", "migrate"] {
        let help = help(&[command]);
        assert!(!help.contains("[env:"), "{help}");
        let mut names: Vec<&str> = help
            .split(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .filter(|w| w.starts_with("PARQUETRY_") || *w == "DATABASE_URL")
            .collect();
        assert!(names.contains(&"DATABASE_URL"), "{help}");
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(
            before,
            names.len(),
            "a variable named twice in {command}: {help}"
        );
    }
}

#[test]
fn worker_and_migrate_help_offer_only_what_they_use() {
    let worker = help(&["worker"]);
    assert!(worker.contains("--workers"), "{worker}");
    assert!(!worker.contains("API only"), "{worker}");
    let refused = parquetry()
        .args(["worker", "--workers", "0"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(text(&refused.stderr).contains("serve --workers 0"));

    let migrate = help(&["migrate"]);
    for used in ["--database-url", "--data-dir"] {
        assert!(migrate.contains(used), "{migrate}");
    }
    for unused in ["--s3-bucket", "--s3-prefix", "--database-max-connections"] {
        assert!(!migrate.contains(unused), "{migrate}");
    }
}

#[test]
fn migrate_without_a_database_url_says_so_and_creates_no_file() {
    let dir = temp_data_dir();

    let output = parquetry()
        .arg("migrate")
        .env("PARQUETRY_DATA_DIR", &dir)
        .output()
        .unwrap();

    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("DATABASE_URL is not set"));
    assert!(!dir.join(parquetry::jobs::SQLITE_FILE).exists());
}

#[tokio::test]
async fn migrate_names_the_database_it_migrated_and_its_errors_carry_no_source_line() {
    let database = create_database().await;
    let name = database.url.rsplit('/').next().unwrap().to_string();

    let output = parquetry()
        .arg("migrate")
        .env("DATABASE_URL", &database.url)
        .output()
        .unwrap();

    assert!(output.status.success(), "{output:?}");
    let said = text(&output.stdout);
    assert!(
        said.contains(&format!("PostgreSQL database {name} on 127.0.0.1:5432")),
        "{said}"
    );

    let missing = format!("{}/parquetry_no_such_database", server_url());
    let output = parquetry()
        .arg("migrate")
        .env("DATABASE_URL", missing)
        .output()
        .unwrap();
    let message = text(&output.stderr);
    assert!(!output.status.success());
    assert!(
        message.contains("does not exist") && !message.contains(" at line "),
        "{message}"
    );
}

#[tokio::test]
async fn start_up_logs_name_the_postgresql_database_without_its_password() {
    let database = create_database().await;
    let name = database.url.rsplit('/').next().unwrap().to_string();
    // Trust authentication ignores the password; it must not reach the log.
    let url = database.url.replacen("postgres@", "postgres:s3cret-pw@", 1);
    assert!(url.contains("s3cret-pw"), "{url}");
    let mut child = crate::helpers::ChildGuard::new(
        parquetry()
            .arg("worker")
            .env("DATABASE_URL", &url)
            .env("PARQUETRY_DATA_DIR", temp_data_dir())
            .env("PARQUETRY_WORKERS", "1")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.as_mut().unwrap().stdout.take().unwrap();
    let (lines, seen) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });

    let line = loop {
        let line = seen
            .recv_timeout(Duration::from_secs(30))
            .expect("a start-up line naming the job table");
        assert!(!line.contains("s3cret-pw"), "{line}");
        if line.contains("keeping the job table") {
            break line;
        }
    };

    assert!(
        line.contains(&format!("PostgreSQL database {name} on 127.0.0.1:5432")),
        "{line}"
    );
    let log: serde_json::Value = serde_json::from_str(&line).unwrap();
    let text = log.to_string();
    assert!(text.contains("5432") && text.contains(&name), "{text}");
    child.kill();
}
