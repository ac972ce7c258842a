//! Issue 14 from the command line: `parquetry keys`, and the refusal to
//! start open on an address other machines can reach.

use std::process::{Command, Output};

use crate::helpers::{spawn_app_with, temp_data_dir, TestApp};

fn parquetry(app: &TestApp, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_parquetry"))
        .args(args)
        .env("DATABASE_URL", &app.database_url)
        .env("PARQUETRY_DATA_DIR", &app.data_dir)
        .env("OTEL_SDK_DISABLED", "true")
        .output()
        .expect("run parquetry")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn keys_create_prints_the_key_alone_and_the_key_works_until_revoked() {
    let app = spawn_app_with(|s| s.worker.workers = Some(0)).await;

    let created = parquetry(
        &app,
        &["keys", "create", "--name", "ci", "--tenant", "acme"],
    );
    assert!(created.status.success(), "{}", text(&created.stderr));
    let stdout = text(&created.stdout);
    let key = stdout.strip_suffix('\n').expect("one line");
    assert!(!key.contains('\n') && !key.contains(' '), "{stdout:?}");
    let (id, secret) = key
        .strip_prefix("pqt_")
        .and_then(|rest| rest.split_once('_'))
        .expect("pqt_<id>_<secret>");
    assert_eq!(id.len(), 16);
    assert_eq!(secret.len(), 43, "256 bits in base64url");
    assert!(text(&created.stderr).contains("shown only this once"));

    let jobs = app.url("/v1/jobs");
    let answer = app.client.get(&jobs).bearer_auth(key).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(app.client.get(&jobs).send().await.unwrap().status(), 401);

    let again = parquetry(&app, &["keys", "create", "--name", "ci"]);
    assert!(!again.status.success());
    assert!(again.stdout.is_empty(), "no key printed for a refused name");
    let bad = parquetry(&app, &["keys", "create", "--name", "no spaces"]);
    assert!(!bad.status.success());

    let listed = parquetry(&app, &["keys", "list"]);
    let table = text(&listed.stdout);
    assert!(
        table.starts_with("NAME") && table.contains("acme"),
        "{table}"
    );
    assert!(!table.contains(secret), "the list never shows a key");
    let json: serde_json::Value =
        serde_json::from_slice(&parquetry(&app, &["keys", "list", "--json"]).stdout).unwrap();
    assert_eq!(json[0]["name"], "ci");
    assert!(json[0]["last_used_at"].is_string(), "{json}");

    let revoked = parquetry(&app, &["keys", "revoke", "ci"]);
    assert!(revoked.status.success(), "{}", text(&revoked.stderr));
    let answer = app.client.get(&jobs).bearer_auth(key).send().await.unwrap();
    assert_eq!(answer.status(), 401);
    assert!(!parquetry(&app, &["keys", "revoke", "nobody"])
        .status
        .success());
}

#[test]
fn serve_refuses_a_non_loopback_address_without_a_key() {
    let data_dir = temp_data_dir();
    let output = Command::new(env!("CARGO_BIN_EXE_parquetry"))
        .args(["serve", "--bind", "0.0.0.0:0"])
        .env_remove("DATABASE_URL")
        .env_remove("PARQUETRY_AUTH")
        .env("PARQUETRY_DATA_DIR", &data_dir)
        .env("PARQUETRY_WORKERS", "0")
        .env("OTEL_SDK_DISABLED", "true")
        .output()
        .expect("run parquetry serve");
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("refusing to listen on 0.0.0.0"), "{stderr}");
    assert!(
        stderr.contains("parquetry keys create --name NAME"),
        "{stderr}"
    );
    assert!(stderr.contains("--auth off"), "{stderr}");
}

/// Auth mode is read per request: a key made by another process while the
/// server runs open turns authentication on without a restart.
#[tokio::test]
async fn a_key_made_while_the_server_runs_open_turns_authentication_on() {
    let app = spawn_app_with(|s| s.worker.workers = Some(0)).await;
    let jobs = app.url("/v1/jobs");
    assert_eq!(app.client.get(&jobs).send().await.unwrap().status(), 200);

    let created = parquetry(&app, &["keys", "create", "--name", "first"]);
    assert!(created.status.success(), "{}", text(&created.stderr));

    // Not even presented: the server notices the key on its own.
    crate::helpers::eventually(
        "authentication to turn on",
        std::time::Duration::from_secs(15),
        async || app.client.get(&jobs).send().await.unwrap().status() == 401,
    )
    .await;
    let key = text(&created.stdout);
    let answer = app
        .client
        .get(&jobs)
        .bearer_auth(key.trim())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
}
