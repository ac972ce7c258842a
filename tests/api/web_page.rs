//! The web page at `/` (issue 15): its files served by the binary with no
//! key, and the page itself driven in a real browser (Debian's Chromium and
//! playwright-core, installed by `scripts/ensure-browser`) through a whole
//! conversion of a Brazilian-style file.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use arrow_array::{Array, Float64Array, StringArray};
use arrow_schema::DataType;
use parquetry::config::AuthMode;

use crate::helpers::{make_key, read_parquet, spawn_app_with, temp_data_dir};

/// Rows of the Brazilian-style file: enough that converting it takes a few
/// heartbeats, so the page shows progress before the end.
const GOOD_ROWS: usize = 400_000;
/// The browser test's bound: it is killed (and fails) after this.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(240);

#[tokio::test]
async fn the_page_and_its_files_are_served_without_a_key() {
    let app = spawn_app_with(|s| s.auth.auth = AuthMode::On).await;
    make_key(&app, "someone", "web", false).await;
    let no_key = app.client.get(app.url("/v1/jobs")).send().await.unwrap();
    assert_eq!(no_key.status(), 401, "auth is on");

    let page = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let policy = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("default-src 'self'"), "{policy}");
    assert!(policy.contains("connect-src 'self'"), "{policy}");
    let etag = page.headers()["etag"].clone();
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<script type="module" src="/ui/main.js">"#));

    let again = app
        .client
        .get(app.url("/"))
        .header("If-None-Match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    for (name, content_type) in [
        ("main.js", "text/javascript; charset=utf-8"),
        ("app.css", "text/css; charset=utf-8"),
        ("icon.svg", "image/svg+xml"),
    ] {
        let asset = app
            .client
            .get(app.url(&format!("/ui/{name}")))
            .send()
            .await
            .unwrap();
        assert_eq!(asset.status(), 200, "{name}");
        assert_eq!(asset.headers()["content-type"], content_type, "{name}");
        assert_eq!(asset.headers()["x-content-type-options"], "nosniff");
    }
    let missing = app
        .client
        .get(app.url("/ui/nothing.js"))
        .send()
        .await
        .unwrap();
    crate::helpers::expect_problem(missing, 404, "no-such-route").await;
    let post = app.client.post(app.url("/")).send().await.unwrap();
    assert_eq!(post.status(), 405);
    app.stop().await;
}

#[tokio::test]
async fn the_page_converts_a_brazilian_file_in_a_real_browser() {
    ensure_browser();
    let app = spawn_app_with(|s| s.auth.auth = AuthMode::On).await;
    let key = make_key(&app, "browser", "web", false).await;
    let files = temp_data_dir();
    let good = files.join("vendas_sao_paulo.csv");
    std::fs::write(&good, brazilian_csv(GOOD_ROWS)).unwrap();
    let broken = files.join("quebrado.csv");
    std::fs::write(&broken, "id;nome\n1;Ana\n2;Bia\n3;Caio;extra\n4;Duda\n").unwrap();
    let download = files.join("download.parquet");
    let screenshot = screenshot_path();

    let output = run_browser_test(&[
        ("BASE_URL", app.address.clone()),
        ("API_KEY", key),
        ("GOOD_FILE", good.display().to_string()),
        ("BROKEN_FILE", broken.display().to_string()),
        ("BROKEN_LINE", "4".into()),
        ("FORCED_COLUMN", "ano".into()),
        ("DOWNLOAD_TO", download.display().to_string()),
        ("SCREENSHOT_TO", screenshot.display().to_string()),
    ])
    .await;
    println!("{output}");

    // The file the browser downloaded is the conversion the page showed.
    let batch = read_parquet(std::fs::read(&download).unwrap().into());
    assert_eq!(batch.num_rows(), GOOD_ROWS);
    let schema = batch.schema();
    let ano = schema.field_with_name("ano").unwrap();
    assert_eq!(
        ano.data_type(),
        &DataType::Utf8,
        "the type chosen on the page"
    );
    let valor = batch.column_by_name("valor").unwrap();
    let valor = valor.as_any().downcast_ref::<Float64Array>().unwrap();
    assert_eq!(valor.value(0), 1234.5, "a decimal comma read as a number");
    let cidade = batch.column_by_name("município").unwrap();
    let cidade = cidade.as_any().downcast_ref::<StringArray>().unwrap();
    assert_eq!(cidade.value(0), "São Paulo");
    assert!(screenshot.metadata().unwrap().len() > 10_000);
    std::fs::remove_dir_all(&files).ok();
    app.stop().await;
}

/// A file as Brazilian portals publish it: Windows-1252, `;`, decimal
/// commas, day-first dates, a title above the header and a source below.
fn brazilian_csv(rows: usize) -> Vec<u8> {
    let mut text = String::with_capacity(rows * 48);
    text.push_str("Relatório de vendas por município\n");
    text.push_str("código;município;valor;data;ano\n");
    for row in 0..rows {
        let city = ["São Paulo", "Goiânia", "Maceió", "Florianópolis"][row % 4];
        let cents = 123_450 + row % 1000;
        let day = 1 + row % 28;
        text.push_str(&format!(
            "{row};{city};{},{:02};{day:02}/03/2024;{}\n",
            cents / 100,
            cents % 100,
            2000 + row % 25
        ));
    }
    text.push_str("Fonte: Secretaria da Fazenda\n");
    // Windows-1252: every character of this text is one byte of Latin-1.
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).expect("a Latin-1 character"))
        .collect()
}

/// Where the screenshot goes: README's image when `PARQUETRY_SCREENSHOT`
/// names it, else a file of the build's temporary directory.
fn screenshot_path() -> PathBuf {
    std::env::var_os("PARQUETRY_SCREENSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-page.png"))
}

async fn run_browser_test(variables: &[(&str, String)]) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut command = std::process::Command::new("node");
    command
        .arg(root.join("tests/browser/web_page.mjs"))
        .current_dir(root.join("tests/browser"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in variables {
        command.env(name, value);
    }
    let child = command.spawn().expect("run node (Node.js 20 or later)");
    let pid = child.id();
    let finished = tokio::task::spawn_blocking(move || child.wait_with_output());
    let output = match tokio::time::timeout(BROWSER_TIMEOUT, finished).await {
        Ok(output) => output.unwrap().unwrap(),
        Err(_) => {
            // Its browser dies with it (playwright's pipe closes).
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("the browser test did not finish within {BROWSER_TIMEOUT:?}");
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "the browser test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Installs Chromium and playwright-core through `scripts/ensure-browser`
/// when they are missing.
fn ensure_browser() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/ensure-browser");
    let status = std::process::Command::new(script)
        .status()
        .expect("run scripts/ensure-browser");
    assert!(status.success(), "scripts/ensure-browser failed: {status}");
}
