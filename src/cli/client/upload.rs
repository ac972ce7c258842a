//! `parquetry upload FILE... [--wait] [-o DIR|FILE]`: uploads files to a
//! server, follows their conversions and downloads the Parquet files.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use futures_util::{StreamExt, TryStreamExt};
use reqwest::Method;
use serde_json::{json, Value};

use super::progress::{Bars, FileBar};
use super::retry::{self, Failed, Policy};
use super::{human_bytes, job_error_text, json_body, Client, ClientError, ServerArgs};

/// `parquetry upload FILE... [options]`: the client command of issue 15.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    parquetry upload data.csv --wait\n  \
    PARQUETRY_URL=https://parquetry.example PARQUETRY_API_KEY=pqt_… \\\n    \
    parquetry upload *.csv --wait -o out/ --option delimiter=';'\n\n\
    Exit status: 0 when every file succeeded, 1 when a conversion failed (its code, \
    line and message are printed), 2 on usage or connection errors.")]
pub struct UploadArgs {
    /// The CSV files (plain, gzip, zstd or zip), uploaded several at once.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub server: ServerArgs,
    /// Wait for each conversion and download its Parquet file.
    #[arg(long)]
    pub wait: bool,
    /// Where the Parquet files go: a directory, or a file when one FILE is
    /// given (default: next to each input, as NAME.parquet).
    #[arg(short = 'o', long = "output", value_name = "DIR|FILE")]
    pub output: Option<PathBuf>,
    /// A conversion option as the API names it, e.g. `delimiter=;` or
    /// `on_error=skip`; may be repeated.
    #[arg(long = "option", value_name = "KEY=VALUE", value_parser = option_pair)]
    pub options: Vec<(String, String)>,
    /// Files uploaded at once.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallel: u16,
    /// Print the results as JSON (one array, on standard output).
    #[arg(long)]
    pub json: bool,
}

fn option_pair(value: &str) -> Result<(String, String), String> {
    match value.split_once('=') {
        Some((key, v)) if !key.trim().is_empty() => Ok((key.trim().to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got `{value}`")),
    }
}

/// What became of one file.
struct Outcome {
    file: PathBuf,
    job: Option<Value>,
    output: Option<PathBuf>,
    seconds: f64,
    error: Option<ClientError>,
    /// Kept until every file is done: a bar dropped early is erased from
    /// the terminal by the next redraw of the others.
    _bar: Option<FileBar>,
}

impl Outcome {
    fn status(&self) -> &str {
        match (&self.error, &self.job) {
            (Some(ClientError::Conversion(_)), _) => "failed",
            (Some(_), _) => "error",
            (None, Some(job)) => job["status"].as_str().unwrap_or("unknown"),
            (None, None) => "unknown",
        }
    }

    fn json(&self) -> Value {
        let job = self.job.as_ref();
        json!({
            "file": self.file.display().to_string(),
            "job_id": job.map(|j| j["id"].clone()),
            "status": self.status(),
            "rows": job.map(|j| j["result"]["rows"].clone()),
            "bytes": job.map(|j| j["result"]["bytes"].clone()),
            "seconds": (self.seconds * 1000.0).round() / 1000.0,
            "output": self.output.as_ref().map(|p| p.display().to_string()),
            "error": match &self.error {
                Some(ClientError::Conversion(_)) => job.map(|j| j["error"].clone()),
                Some(other) => Some(json!({ "message": other.to_string() })),
                None => None,
            },
        })
    }

    /// The summary on standard output, or the error on standard error.
    fn print(&self, json: bool) {
        let file = self.file.display();
        match &self.error {
            Some(ClientError::Conversion(text)) => eprintln!("{file}: failed: {text}"),
            Some(other) => eprintln!("{file}: {other}"),
            None if !json => println!("{}", self.summary()),
            None => {}
        }
    }

    /// The one-line summary of a file that did not fail.
    fn summary(&self) -> String {
        let job = self.job.as_ref().expect("a job when there is no error");
        let name = self.file.display();
        match &self.output {
            Some(output) => format!(
                "{name}: {} rows, {}, {:.1} s -> {}",
                job["result"]["rows"].as_u64().unwrap_or(0),
                human_bytes(job["result"]["bytes"].as_u64().unwrap_or(0)),
                self.seconds,
                output.display()
            ),
            None => format!(
                "{name}: job {} {} ({:.1} s)",
                job["id"].as_str().unwrap_or("?"),
                job["status"].as_str().unwrap_or("?"),
                self.seconds
            ),
        }
    }
}

/// Runs `parquetry upload`.
pub fn run_upload(args: UploadArgs) -> ExitCode {
    super::run_command(upload_all(args))
}

async fn upload_all(args: UploadArgs) -> Result<(), ClientError> {
    let client = Client::new(&args.server)?;
    let outputs = output_paths(&args.files, args.output.as_deref())?;
    let bars = Bars::new();
    let jobs = args.files.iter().zip(outputs).map(|(file, output)| {
        let (client, bars, args) = (&client, &bars, &args);
        async move { upload_one(client, bars, args, file, output).await }
    });
    let outcomes: Vec<Outcome> = futures_util::stream::iter(jobs)
        .buffered(args.parallel as usize)
        .collect()
        .await;
    // Printed once every bar is finished: a line printed between two draws
    // would erase the bars above it.
    bars.detach();
    for outcome in &outcomes {
        outcome.print(args.json);
    }
    if args.json {
        super::print_json(&Value::Array(outcomes.iter().map(Outcome::json).collect()));
    }
    let code = outcomes
        .iter()
        .filter_map(|o| o.error.as_ref().map(ClientError::exit_code))
        .max();
    match code {
        None => Ok(()),
        // Each file's error is printed already; the exit status says the rest.
        Some(code) => Err(ClientError::Reported(code)),
    }
}

async fn upload_one(
    client: &Client,
    bars: &Bars,
    args: &UploadArgs,
    file: &Path,
    output: PathBuf,
) -> Outcome {
    let started = Instant::now();
    let mut outcome = Outcome {
        file: file.to_path_buf(),
        job: None,
        output: None,
        seconds: 0.0,
        error: None,
        _bar: None,
    };
    let result = follow_file(client, bars, args, file, &output, &mut outcome).await;
    outcome.seconds = started.elapsed().as_secs_f64();
    if let (Err(ClientError::Connection(_) | ClientError::Usage(_)), Some(bar)) =
        (&result, &outcome._bar)
    {
        bar.finish("error");
    }
    outcome.error = result.err();
    outcome
}

/// Uploads, then (with `--wait`) follows and downloads one file.
async fn follow_file(
    client: &Client,
    bars: &Bars,
    args: &UploadArgs,
    file: &Path,
    output: &Path,
    outcome: &mut Outcome,
) -> Result<(), ClientError> {
    let size = tokio::fs::metadata(file)
        .await
        .map_err(|e| ClientError::Usage(format!("{}: {e}", file.display())))?
        .len();
    let bar = bars.add(&display_name(file), size);
    outcome._bar = Some(bar.clone());
    let job = send_file(client, args, file, size, &bar).await?;
    let id = job["id"].as_str().unwrap_or_default().to_string();
    bar.converting();
    outcome.job = Some(job);
    if !args.wait {
        bar.finish("queued");
        return Ok(());
    }
    let job = wait_for_job(client, &id, &bar).await?;
    let status = job["status"].as_str().unwrap_or_default().to_string();
    bar.finish(&status);
    outcome.job = Some(job.clone());
    match status.as_str() {
        "succeeded" => {
            download(client, &format!("/v1/jobs/{id}/result"), output).await?;
            outcome.output = Some(output.to_path_buf());
            Ok(())
        }
        "failed" => Err(ClientError::Conversion(job_error_text(&job))),
        other => Err(ClientError::Conversion(format!("the job ended {other}"))),
    }
}

/// POSTs the file as the raw body, streamed from disk, retried with one
/// `Idempotency-Key` for all attempts of this file in this invocation.
async fn send_file(
    client: &Client,
    args: &UploadArgs,
    file: &Path,
    size: u64,
    bar: &FileBar,
) -> Result<Value, ClientError> {
    let key = uuid::Uuid::new_v4().to_string();
    let mut query = vec![("filename".to_string(), display_name(file))];
    query.extend(args.options.iter().cloned());
    let query = serde_urlencoded::to_string(&query)
        .map_err(|e| ClientError::Usage(format!("options: {e}")))?;
    let path = format!("/v1/jobs?{query}");
    let response = retry::with_retries(Policy::default(), |number| {
        if number > 0 {
            bar.restart(&format!("retry {number}"));
        }
        let request = client.request(Method::POST, &path);
        let key = key.clone();
        async move {
            let body = file_body(file, bar).await.map_err(Failed::fatal)?;
            let sent = request
                .header("Idempotency-Key", key)
                .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                .header(reqwest::header::CONTENT_LENGTH, size)
                .body(body)
                .send()
                .await;
            retry::classify(sent).await
        }
    })
    .await?;
    json_body(response).await
}

/// The file as a body stream that counts the bytes handed to the connection.
async fn file_body(file: &Path, bar: &FileBar) -> Result<reqwest::Body, ClientError> {
    let opened = tokio::fs::File::open(file)
        .await
        .map_err(|e| ClientError::Usage(format!("{}: {e}", file.display())))?;
    let bar = bar.clone();
    let stream = tokio_util::io::ReaderStream::with_capacity(opened, 256 * 1024)
        .inspect_ok(move |chunk| bar.sent(chunk.len() as u64));
    Ok(reqwest::Body::wrap_stream(stream))
}

/// Follows the job's events for the bar, then asks for its status until it
/// has finished (the stream may end early, or drop).
async fn wait_for_job(client: &Client, id: &str, bar: &FileBar) -> Result<Value, ClientError> {
    // A dropped event stream only costs the live bar: the status below is
    // what decides, so its error is not the command's.
    let _ = follow_events(client, id, bar).await;
    loop {
        let job = client.get_json(&format!("/v1/jobs/{id}?wait=30")).await?;
        bar.event(&job);
        if matches!(
            job["status"].as_str(),
            Some("succeeded" | "failed" | "canceled")
        ) {
            return Ok(job);
        }
    }
}

/// Reads the job's Server-Sent Events until the stream ends (the job ended).
async fn follow_events(client: &Client, id: &str, bar: &FileBar) -> Result<(), ClientError> {
    let path = format!("/v1/jobs/{id}/events");
    let mut response = client.send(|| client.request(Method::GET, &path)).await?;
    let mut pending = String::new();
    while let Some(chunk) = response.chunk().await.map_err(super::connection_error)? {
        pending.push_str(&String::from_utf8_lossy(&chunk));
        // An event ends at a blank line; `\r\n` line ends are allowed too.
        let normalized = pending.replace("\r\n", "\n");
        let mut rest = normalized.as_str();
        while let Some((event, after)) = rest.split_once("\n\n") {
            if let Some(data) = event_data(event) {
                bar.event(&data);
            }
            rest = after;
        }
        pending = rest.to_string();
    }
    Ok(())
}

/// The JSON `data:` of one event (its lines joined), if it has one.
fn event_data(event: &str) -> Option<Value> {
    let data: Vec<&str> = event
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(|d| d.strip_prefix(' ').unwrap_or(d))
        .collect();
    serde_json::from_str(&data.join("\n")).ok()
}

/// Downloads `path` to `output` through a `.part` file renamed when complete,
/// so an interrupted download never leaves a truncated Parquet file.
pub(crate) async fn download(
    client: &Client,
    path: &str,
    output: &Path,
) -> Result<u64, ClientError> {
    use tokio::io::AsyncWriteExt;
    let mut response = client.send(|| client.request(Method::GET, path)).await?;
    let mut partial = output.as_os_str().to_owned();
    partial.push(".part");
    let partial = PathBuf::from(partial);
    let mut out = tokio::fs::File::create(&partial)
        .await
        .map_err(|e| ClientError::Usage(format!("{}: {e}", partial.display())))?;
    let mut written = 0;
    while let Some(chunk) = response.chunk().await.map_err(super::connection_error)? {
        out.write_all(&chunk).await?;
        written += chunk.len() as u64;
    }
    out.flush().await?;
    drop(out);
    tokio::fs::rename(&partial, output).await?;
    Ok(written)
}

fn display_name(file: &Path) -> String {
    file.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "upload.csv".into())
}

/// Each input's Parquet path: next to it, in the `-o` directory, or the `-o`
/// file when a single input is given.
fn output_paths(files: &[PathBuf], output: Option<&Path>) -> Result<Vec<PathBuf>, ClientError> {
    let Some(output) = output else {
        return Ok(files
            .iter()
            .map(|f| f.with_file_name(parquet_name(f)))
            .collect());
    };
    let as_dir = output.is_dir() || files.len() > 1 || output.to_string_lossy().ends_with('/');
    if !as_dir {
        return Ok(vec![output.to_path_buf()]);
    }
    std::fs::create_dir_all(output)
        .map_err(|e| ClientError::Usage(format!("{}: {e}", output.display())))?;
    Ok(files.iter().map(|f| output.join(parquet_name(f))).collect())
}

/// `sales.csv.gz` becomes `sales.parquet`.
fn parquet_name(file: &Path) -> String {
    let mut name = display_name(file);
    for suffix in [".gz", ".zst", ".zstd", ".zip", ".csv", ".tsv", ".txt"] {
        if let Some(stem) = name.strip_suffix(suffix).filter(|s| !s.is_empty()) {
            name = stem.to_string();
        }
    }
    format!("{name}.parquet")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parquet_file_is_named_after_its_input() {
        assert_eq!(parquet_name(Path::new("a/sales.csv.gz")), "sales.parquet");
        assert_eq!(parquet_name(Path::new("data")), "data.parquet");
        let paths = output_paths(&[PathBuf::from("in/x.csv")], None).unwrap();
        assert_eq!(paths, [PathBuf::from("in/x.parquet")]);
    }

    #[test]
    fn an_event_carries_its_json_data() {
        let data = event_data("id: 3\nevent: progress\ndata: {\"percent\": 40.0}").unwrap();
        assert_eq!(data["percent"], 40.0);
        assert!(event_data(": keep-alive").is_none());
    }
}
