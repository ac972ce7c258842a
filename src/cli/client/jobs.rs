//! `parquetry jobs list|show|cancel|download|rejects` and
//! `parquetry inspect FILE --server URL`, against a server's public API.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{json, Value};

use super::upload::download;
use super::{human_bytes, job_error_text, json_body, Client, ClientError, ServerArgs};

/// `parquetry jobs …`: the jobs of a server.
#[derive(Args, Debug)]
pub struct JobsArgs {
    #[command(subcommand)]
    pub command: JobsCommand,
}

/// Where, who, and how to print: the flags every `jobs` command takes.
#[derive(Args, Debug)]
pub struct Common {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Print the API's JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum JobsCommand {
    /// List jobs, newest first.
    List {
        /// Only jobs with this status (queued, running, succeeded, failed, canceled).
        #[arg(long)]
        status: Option<String>,
        /// At most this many (1 to 100, default 20).
        #[arg(long)]
        limit: Option<u32>,
        /// The `next_cursor` of a previous page.
        #[arg(long)]
        cursor: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Show one job: status, progress, result or error.
    Show {
        id: String,
        #[command(flatten)]
        common: Common,
    },
    /// Cancel a queued or running job (a finished one is deleted).
    Cancel {
        id: String,
        #[command(flatten)]
        common: Common,
    },
    /// Download a job's Parquet file (default: NAME.parquet after its input).
    Download {
        id: String,
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// The rows `on_error=skip` left out, as CSV (on standard output, or -o
    /// FILE); with --json, an array of objects.
    Rejects {
        id: String,
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
}

/// Runs `parquetry jobs …`.
pub fn run_jobs(args: JobsArgs) -> ExitCode {
    super::run_command(jobs(args.command))
}

async fn jobs(command: JobsCommand) -> Result<(), ClientError> {
    match command {
        JobsCommand::List {
            status,
            limit,
            cursor,
            common,
        } => {
            let query: Vec<(&str, String)> = [
                ("status", status),
                ("limit", limit.map(|l| l.to_string())),
                ("cursor", cursor),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
            let query = serde_urlencoded::to_string(&query)
                .map_err(|e| ClientError::Usage(e.to_string()))?;
            let list = client(&common)?
                .get_json(&format!("/v1/jobs?{query}"))
                .await?;
            print_list(&list, common.json);
        }
        JobsCommand::Show { id, common } => {
            let job = client(&common)?.get_json(&job_path(&id)?).await?;
            match common.json {
                true => super::print_json(&job),
                false => print_job(&job),
            }
        }
        JobsCommand::Cancel { id, common } => cancel(&id, &common).await?,
        JobsCommand::Download { id, output, common } => {
            let client = client(&common)?;
            let path = job_path(&id)?;
            let output = match output {
                Some(output) => output,
                None => default_output(&client.get_json(&path).await?, &id),
            };
            let bytes = download(&client, &format!("{path}/result"), &output).await?;
            match common.json {
                true => super::print_json(&json!({
                    "job_id": id, "output": output.display().to_string(), "bytes": bytes,
                })),
                false => println!("{} ({})", output.display(), human_bytes(bytes)),
            }
        }
        JobsCommand::Rejects { id, output, common } => {
            let client = client(&common)?;
            let path = format!("{}/rejects", job_path(&id)?);
            match output {
                Some(output) => {
                    download(&client, &path, &output).await?;
                }
                None => {
                    let response = client.send(|| client.request(Method::GET, &path)).await?;
                    let text = response.text().await.map_err(super::connection_error)?;
                    match common.json {
                        true => super::print_json(&rejects_json(&text)?),
                        false => print!("{text}"),
                    }
                }
            }
        }
    }
    Ok(())
}

/// The rejects CSV (`line,column,code,message,raw`) as an array of objects
/// named by its header, numbers as numbers and empty fields as null.
fn rejects_json(text: &str) -> Result<Value, ClientError> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let invalid = |e: csv::Error| ClientError::Connection(format!("the rejects CSV: {e}"));
    let header = reader.headers().map_err(invalid)?.clone();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(invalid)?;
        let row: serde_json::Map<String, Value> = header
            .iter()
            .zip(record.iter())
            .map(|(name, field)| {
                let value = match (name, field) {
                    (_, "") => Value::Null,
                    ("line", n) => n.parse::<u64>().map(Value::from).unwrap_or(n.into()),
                    (_, text) => text.into(),
                };
                (name.to_string(), value)
            })
            .collect();
        rows.push(Value::Object(row));
    }
    Ok(Value::Array(rows))
}

fn client(common: &Common) -> Result<Client, ClientError> {
    Client::new(&common.server)
}

/// The job's path; an id that is not a UUID is refused here rather than
/// sent to become a 404 of some other route.
fn job_path(id: &str) -> Result<String, ClientError> {
    uuid::Uuid::parse_str(id)
        .map(|id| format!("/v1/jobs/{id}"))
        .map_err(|_| ClientError::Usage(format!("`{id}` is not a job id")))
}

async fn cancel(id: &str, common: &Common) -> Result<(), ClientError> {
    let client = client(common)?;
    let path = job_path(id)?;
    client
        .send(|| client.request(Method::DELETE, &path))
        .await?;
    match common.json {
        true => super::print_json(&json!({ "job_id": id, "canceled": true })),
        false => println!("{id} canceled"),
    }
    Ok(())
}

fn default_output(job: &Value, id: &str) -> PathBuf {
    let name = job["input"]["filename"].as_str().unwrap_or(id);
    let stem = Path::new(name)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| id.to_string());
    PathBuf::from(format!("{}.parquet", stem.trim_end_matches(".csv")))
}

fn print_list(list: &Value, json: bool) {
    if json {
        super::print_json(list);
        return;
    }
    println!(
        "{:<36}  {:<9}  {:>10}  {:<27}  FILE",
        "ID", "STATUS", "ROWS", "CREATED"
    );
    for job in list["jobs"].as_array().into_iter().flatten() {
        println!(
            "{:<36}  {:<9}  {:>10}  {:<27}  {}",
            job["id"].as_str().unwrap_or(""),
            job["status"].as_str().unwrap_or(""),
            job["result"]["rows"]
                .as_u64()
                .map(|r| r.to_string())
                .unwrap_or_default(),
            job["created_at"].as_str().unwrap_or(""),
            job["input"]["filename"].as_str().unwrap_or(""),
        );
    }
    if let Some(cursor) = list["next_cursor"].as_str() {
        println!("(more: --cursor {cursor})");
    }
}

fn print_job(job: &Value) {
    let field = |name: &str| job[name].as_str().unwrap_or("").to_string();
    println!("id:       {}", field("id"));
    println!("status:   {}", field("status"));
    println!(
        "input:    {} ({})",
        job["input"]["filename"].as_str().unwrap_or(""),
        human_bytes(job["input"]["bytes"].as_u64().unwrap_or(0))
    );
    println!("created:  {}", field("created_at"));
    if let Some(progress) = job["progress"].as_object() {
        println!(
            "progress: {} {}%",
            progress.get("stage").and_then(Value::as_str).unwrap_or(""),
            progress
                .get("percent")
                .and_then(Value::as_f64)
                .unwrap_or(0.0)
        );
    }
    if job["result"].is_object() {
        println!(
            "result:   {} rows, {}",
            job["result"]["rows"].as_u64().unwrap_or(0),
            human_bytes(job["result"]["bytes"].as_u64().unwrap_or(0))
        );
    }
    if job["error"].is_object() {
        println!("error:    {}", job_error_text(job));
    }
}

/// `parquetry inspect FILE --server URL`: the server's inspection, printed
/// as the local one is (pretty JSON on standard output).
pub fn run_remote_inspect(
    input: &Path,
    options: Vec<(&'static str, String)>,
    bytes: usize,
    rows: usize,
    server: &ServerArgs,
) -> ExitCode {
    super::run_command(remote_inspect(input, options, bytes, rows, server))
}

async fn remote_inspect(
    input: &Path,
    options: Vec<(&'static str, String)>,
    bytes: usize,
    rows: usize,
    server: &ServerArgs,
) -> Result<(), ClientError> {
    use tokio::io::AsyncReadExt;
    let client = Client::new(server)?;
    let file = tokio::fs::File::open(input)
        .await
        .map_err(|e| ClientError::Usage(format!("{}: {e}", input.display())))?;
    // The server reads only the head; one byte past it tells it the file goes
    // on (its last line may be cut), without sending the rest of a big file.
    let mut head = Vec::new();
    file.take(bytes as u64 + 1).read_to_end(&mut head).await?;
    let mut query: Vec<(&str, String)> =
        vec![("bytes", bytes.to_string()), ("rows", rows.to_string())];
    query.extend(options);
    let query =
        serde_urlencoded::to_string(&query).map_err(|e| ClientError::Usage(e.to_string()))?;
    let path = format!("/v1/inspect?{query}");
    let head = bytes::Bytes::from(head);
    let response = client
        .send(|| {
            client
                .request(Method::POST, &path)
                .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                .body(head.clone())
        })
        .await?;
    let inspection = json_body(response).await?;
    println!(
        "{}",
        serde_json::to_string_pretty(&inspection).unwrap_or_default()
    );
    Ok(())
}
