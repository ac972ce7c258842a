//! The command-line client of a Parquetry server (issue 15): `upload`,
//! `jobs …` and `inspect --server`. It speaks only the public HTTP API
//! described in openapi.yaml, as any other client would, so it shows what
//! the API can do and never depends on the server's internals.

mod jobs;
mod progress;
mod retry;
mod upload;

pub use jobs::{run_jobs, run_remote_inspect, JobsArgs};
pub use upload::{run_upload, UploadArgs};

use std::fmt;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use serde_json::Value;

/// Where the server is and who we are, from flags or the environment.
#[derive(Args, Debug, Clone)]
pub struct ServerArgs {
    /// The server's base URL (`PARQUETRY_URL`).
    #[arg(
        long = "server",
        env = "PARQUETRY_URL",
        default_value = "http://127.0.0.1:8080",
        value_name = "URL"
    )]
    pub server: String,
    /// The API key sent as `Authorization: Bearer KEY` (`PARQUETRY_API_KEY`);
    /// never printed.
    #[arg(long = "api-key", env = "PARQUETRY_API_KEY", value_name = "KEY")]
    pub api_key: Option<ApiKey>,
}

/// An API key whose `Debug` and `Display` never show it, so no error
/// message, log line or `{:?}` of the arguments can leak it.
#[derive(Clone)]
pub struct ApiKey(String);

impl std::str::FromStr for ApiKey {
    type Err = String;
    fn from_str(value: &str) -> Result<Self, String> {
        Ok(ApiKey(value.trim().to_string()))
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

/// Why a client command failed, and so its exit status.
#[derive(Debug)]
pub enum ClientError {
    /// A conversion the server ran failed (exit 1).
    Conversion(String),
    /// The command, its arguments or the request were refused: usage (exit 2).
    Usage(String),
    /// The server could not be reached, or kept failing (exit 2).
    Connection(String),
    /// Printed already (one line per file): only the exit status is left.
    Reported(u8),
}

impl ClientError {
    /// 1 for a failed conversion, 2 for usage and connection errors.
    pub fn exit_code(&self) -> u8 {
        match self {
            ClientError::Conversion(_) => 1,
            ClientError::Usage(_) | ClientError::Connection(_) => 2,
            ClientError::Reported(code) => *code,
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Conversion(m) | ClientError::Usage(m) | ClientError::Connection(m) => {
                f.write_str(m)
            }
            ClientError::Reported(code) => write!(f, "exit status {code}"),
        }
    }
}

impl From<std::io::Error> for ClientError {
    fn from(error: std::io::Error) -> Self {
        ClientError::Usage(error.to_string())
    }
}

/// A connection to one server: its base URL and the key to send.
#[derive(Clone)]
pub(crate) struct Client {
    http: reqwest::Client,
    base: String,
    api_key: Option<ApiKey>,
}

impl Client {
    pub(crate) fn new(server: &ServerArgs) -> Result<Client, ClientError> {
        let base = server.server.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::Usage(format!(
                "--server must be an http:// or https:// URL, got `{base}`"
            )));
        }
        crate::tls::install_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("parquetry/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Connection(format!("HTTP client: {e}")))?;
        Ok(Client {
            http,
            base,
            api_key: server.api_key.clone(),
        })
    }

    /// A request to `path` (absolute on the server, e.g. `/v1/jobs`).
    pub(crate) fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let builder = self.http.request(method, format!("{}{path}", self.base));
        match &self.api_key {
            Some(ApiKey(key)) => builder.bearer_auth(key),
            None => builder,
        }
    }

    /// Sends a request with retries on connection errors and 503, and
    /// answers the response of a 2xx, or the API's problem as an error.
    pub(crate) async fn send(
        &self,
        make: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ClientError> {
        retry::with_retries(retry::Policy::default(), |_| {
            let request = make();
            async move { retry::classify(request.send().await).await }
        })
        .await
    }

    /// GETs a JSON document.
    pub(crate) async fn get_json(&self, path: &str) -> Result<Value, ClientError> {
        let response = self
            .send(|| self.request(reqwest::Method::GET, path))
            .await?;
        json_body(response).await
    }
}

/// Reads a response's body as JSON.
pub(crate) async fn json_body(response: reqwest::Response) -> Result<Value, ClientError> {
    let bytes = response.bytes().await.map_err(connection_error)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ClientError::Connection(format!("the server's answer is not JSON: {e}")))
}

/// A transport error in words, as a connection error.
pub(crate) fn connection_error(error: reqwest::Error) -> ClientError {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    ClientError::Connection(text)
}

/// An API error (`application/problem+json`) in words: its code and detail.
pub(crate) fn problem_text(status: reqwest::StatusCode, body: &[u8]) -> String {
    let problem: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let code = problem["code"].as_str().unwrap_or("http-error");
    let detail = problem["detail"]
        .as_str()
        .or(problem["title"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string());
    format!("{detail} ({code}, HTTP {})", status.as_u16())
}

/// Runs a client command on a small runtime of its own and turns its
/// outcome into the exit status.
pub(crate) fn run_command<F>(future: F) -> ExitCode
where
    F: std::future::Future<Output = Result<(), ClientError>>,
{
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("parquetry: {error}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(future) {
        Ok(()) => ExitCode::SUCCESS,
        Err(ClientError::Reported(code)) => ExitCode::from(code),
        Err(error) => {
            eprintln!("parquetry: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

/// Prints a JSON value on standard output, one line for scripts.
pub(crate) fn print_json(value: &Value) {
    println!("{value}");
}

/// A size for people: `12.3 MiB`.
pub(crate) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    match unit {
        0 => format!("{bytes} B"),
        _ => format!("{value:.1} {}", UNITS[unit]),
    }
}

/// The failure of a job in one line: `ragged-row, line 3: message`.
pub(crate) fn job_error_text(job: &Value) -> String {
    let error = &job["error"];
    let code = error["code"].as_str().unwrap_or("failed");
    let message = error["message"].as_str().unwrap_or("the conversion failed");
    // The code and the line always, though the message often names its line
    // already: scripts and people look for `line N` right after the code.
    let message = error["line"]
        .as_u64()
        .map(|line| {
            message
                .strip_prefix(&format!("line {line}: "))
                .unwrap_or(message)
        })
        .unwrap_or(message);
    match error["line"].as_u64() {
        Some(line) => format!("{code}, line {line}: {message}"),
        None => format!("{code}: {message}"),
    }
}
