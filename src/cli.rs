//! The command line: `serve`, `worker`, `migrate`, `convert` and `inspect`.

mod client;
mod key_quotas;
mod keys;
mod pipe;

pub use client::{run_jobs, run_upload, JobsArgs, UploadArgs};
pub use keys::{run_keys, KeysArgs};

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use parquetry_convert::{convert, ConvertOptions};

use crate::config::{MigrateSettings, ServeSettings, WorkerProcessSettings};

/// Parquetry turns CSV files into Parquet, as a service or from the command line.
#[derive(Parser, Debug)]
#[command(name = "parquetry", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Parses the command line and the environment. Each setting's help
    /// names its variable in its own sentence, so clap's `[env: NAME=value]`
    /// is hidden: it said the name twice, and showed the value (a
    /// `DATABASE_URL` with its password).
    pub fn from_env_and_args() -> Cli {
        let command = hide_env(Cli::command()).mut_subcommand("worker", |worker| {
            worker.mut_arg("workers", |workers| {
                workers
                    .help(
                        "Conversions run at once in this process (`PARQUETRY_WORKERS`, \
                         default: the number of cores)",
                    )
                    .value_parser(at_least_one_worker)
            })
        });
        Cli::from_arg_matches(&command.get_matches()).unwrap_or_else(|error| error.exit())
    }
}

fn hide_env(command: clap::Command) -> clap::Command {
    command
        .mut_args(|arg| arg.hide_env(true))
        .mut_subcommands(hide_env)
}

/// `parquetry worker --workers 0` would run nothing: API-only is `serve`'s.
fn at_least_one_worker(value: &str) -> Result<usize, String> {
    match value.trim().parse::<usize>() {
        Ok(0) => Err("a worker process runs at least one conversion; \
                      `parquetry serve --workers 0` is the API without workers"
            .into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("expected a number of conversions, got `{value}`")),
    }
}

// Parsed once at start-up: the size of the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the HTTP API and the background workers (migrations run at start-up).
    Serve(ServeSettings),
    /// Run background workers only, sharing the job table with other processes.
    Worker(WorkerProcessSettings),
    /// Apply the database migrations and exit.
    Migrate(MigrateSettings),
    /// Convert one CSV file to Parquet with the conversion engine directly
    /// (`-` for standard input or output); prints a JSON summary.
    Convert(ConvertArgs),
    /// Show what the conversion would make of a file, from its first bytes:
    /// dialect, skipped lines, column types and why, the first rows, and the
    /// options to convert it with (JSON on standard output).
    Inspect(InspectArgs),
    /// Make, list and revoke API keys (`keys create --name NAME [--tenant T]
    /// [--admin]` prints the new key alone on standard output).
    Keys(KeysArgs),
    /// Upload CSV files to a server, follow their conversions with progress
    /// bars and (with --wait) download the Parquet files.
    Upload(UploadArgs),
    /// The jobs of a server: list, show, cancel, download, rejects.
    Jobs(JobsArgs),
}

/// `parquetry convert IN.csv OUT.parquet [options]`: the options are the ones
/// the API takes in its query string or multipart fields.
///
/// The summary of the conversion (rows, columns and their types, dialect) is
/// printed as JSON on standard output, or on standard error when the Parquet
/// file goes to standard output (`OUT` is `-`). Errors go to standard error.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    parquetry convert sales.csv sales.parquet --delimiter ';'\n  \
    zcat big.csv.gz | parquetry convert - - > big.parquet\n\n\
    The summary (JSON: rows, columns and their types, dialect) goes to standard output, or to \
    standard error when OUTPUT is `-`; errors go to standard error.\n\n\
    With `-`, standard input is copied to a temporary file (TMPDIR) first, and \
    the Parquet file is written to one and copied to standard output once it is \
    complete: memory stays bounded, disk holds the input and the output meanwhile.")]
pub struct ConvertArgs {
    /// The CSV file (plain, gzip, zstd, or a zip archive); `-` reads standard input.
    pub input: PathBuf,
    /// Where to write the Parquet file; `-` writes it to standard output (the
    /// summary then goes to standard error).
    pub output: PathBuf,
    #[command(flatten)]
    pub options: OptionFlags,
    /// Where to write the rows `--on-error skip` leaves out, as CSV
    /// (`line,column,code,message,raw`); written only when some row is rejected.
    #[arg(long, value_name = "FILE")]
    pub rejects: Option<PathBuf>,
}

/// `parquetry inspect FILE [options]`, as `POST /v1/inspect`.
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// The CSV file (plain, gzip or zstd).
    pub input: PathBuf,
    #[command(flatten)]
    pub options: OptionFlags,
    /// Bytes read from the start of the file.
    #[arg(long, default_value_t = 1 << 20)]
    pub bytes: usize,
    /// Rows shown.
    #[arg(long, default_value_t = 20)]
    pub rows: usize,
    /// Ask this server (`POST /v1/inspect`) instead of the local engine.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// The API key for --server (`PARQUETRY_API_KEY`); never printed.
    #[arg(long = "api-key", env = "PARQUETRY_API_KEY", value_name = "KEY")]
    pub api_key: Option<client::ApiKey>,
    /// The inspection is JSON either way; accepted as the client commands accept it.
    #[arg(long)]
    pub json: bool,
}

/// The conversion options as flags, named as the API names them (`-` for `_`).
#[derive(Args, Debug)]
pub struct OptionFlags {
    /// Field delimiter: `,` `;` `|` `tab`, any single character, or `auto` (default: detected).
    #[arg(long)]
    pub delimiter: Option<String>,
    /// Quote character, or `auto` (default: detected, `"` or `'`).
    #[arg(long)]
    pub quote: Option<String>,
    /// Escape character inside quoted fields (default: doubled quotes).
    #[arg(long)]
    pub escape: Option<String>,
    /// Whether the first row is a header: true, false or auto (default: detected).
    #[arg(long)]
    pub header: Option<String>,
    /// Input encoding: auto, utf-8, windows-1252 or latin1 (default auto).
    #[arg(long)]
    pub encoding: Option<String>,
    /// Decimal separator of numbers: `.` or `,` (default: detected).
    #[arg(long)]
    pub decimal_separator: Option<String>,
    /// Comma-separated tokens read as null, e.g. `NULL,NA,N/A`.
    #[arg(long)]
    pub null_values: Option<String>,
    /// A date format (strftime), e.g. `%d/%m/%Y`; may be repeated.
    #[arg(long)]
    pub date_format: Vec<String>,
    /// A timestamp format (strftime); may be repeated.
    #[arg(long)]
    pub timestamp_format: Vec<String>,
    /// Column types, e.g. `id:int64,price:decimal(12,2)`.
    #[arg(long)]
    pub schema: Option<String>,
    /// Parquet codec: snappy, zstd, zstd:LEVEL, lz4, gzip or none (default snappy).
    #[arg(long)]
    pub compression: Option<String>,
    /// Codec level, for zstd and gzip.
    #[arg(long)]
    pub compression_level: Option<String>,
    /// Rows per Parquet row group.
    #[arg(long)]
    pub row_group_size: Option<String>,
    /// Dictionary encoding: true or false.
    #[arg(long)]
    pub dictionary: Option<String>,
    /// Lines before the table to skip (default: detected title and note lines).
    #[arg(long)]
    pub skip_rows: Option<String>,
    /// Lines starting with this character are comments (default: a leading `#` block).
    #[arg(long)]
    pub comment: Option<String>,
    /// A row that cannot be read: `fail` (default) or `skip` (written to the rejects).
    #[arg(long)]
    pub on_error: Option<String>,
    /// With `--on-error skip`, fail past this many rejected rows (`100`) or share (`1%`).
    #[arg(long)]
    pub max_errors: Option<String>,
    /// Rows with fewer fields than the header: `error` (default) or `pad` with nulls.
    #[arg(long)]
    pub ragged: Option<String>,
    /// The file to convert in a zip archive of several.
    #[arg(long)]
    pub member: Option<String>,
}

impl OptionFlags {
    /// The options, decoded as the API decodes them.
    pub fn decode(&self) -> anyhow::Result<ConvertOptions> {
        let pairs = self.option_pairs();
        Ok(ConvertOptions::from_pairs(
            pairs.iter().map(|(name, value)| (*name, value.as_str())),
        )?)
    }

    /// The options as (name, value) pairs, in the API's spelling.
    pub fn option_pairs(&self) -> Vec<(&'static str, String)> {
        let single = [
            ("delimiter", &self.delimiter),
            ("quote", &self.quote),
            ("escape", &self.escape),
            ("header", &self.header),
            ("encoding", &self.encoding),
            ("decimal_separator", &self.decimal_separator),
            ("null_values", &self.null_values),
            ("schema", &self.schema),
            ("compression", &self.compression),
            ("compression_level", &self.compression_level),
            ("row_group_size", &self.row_group_size),
            ("dictionary", &self.dictionary),
            ("skip_rows", &self.skip_rows),
            ("comment", &self.comment),
            ("on_error", &self.on_error),
            ("max_errors", &self.max_errors),
            ("ragged", &self.ragged),
            ("member", &self.member),
        ];
        let mut pairs: Vec<(&'static str, String)> = single
            .into_iter()
            .filter_map(|(name, value)| value.clone().map(|v| (name, v)))
            .collect();
        pairs.extend(self.date_format.iter().map(|f| ("date_format", f.clone())));
        pairs.extend(
            self.timestamp_format
                .iter()
                .map(|f| ("timestamp_format", f.clone())),
        );
        pairs
    }
}

/// Runs `parquetry convert` and prints the report as JSON: on stdout, or on
/// stderr when stdout carries the Parquet file.
pub fn run_convert(args: ConvertArgs) -> anyhow::Result<()> {
    let options = args.options.decode()?;
    let never_canceled = AtomicBool::new(false);
    let rejects = args.rejects.as_deref();
    let (from_stdin, to_stdout) = (pipe::is_stdio(&args.input), pipe::is_stdio(&args.output));
    let spool = (from_stdin || to_stdout)
        .then(pipe::Spool::new)
        .transpose()?;
    let input = match &spool {
        Some(spool) if from_stdin => spool.take_stdin()?,
        _ => args.input.clone(),
    };
    let output = match &spool {
        Some(spool) if to_stdout => spool.path("output.parquet"),
        _ => args.output.clone(),
    };
    let shown = match from_stdin {
        true => "standard input".to_string(),
        false => args.input.display().to_string(),
    };
    let report = convert(&input, &output, rejects, &options, &never_canceled)
        .map_err(described)
        .with_context(|| format!("converting {shown}"))?;
    let summary = serde_json::to_string_pretty(&report)?;
    if to_stdout {
        pipe::send_to_stdout(&output)?;
        eprintln!("{summary}");
    } else {
        println!("{summary}");
    }
    Ok(())
}

/// Runs `parquetry inspect --server URL`: the server inspects the file.
pub fn run_remote_inspect(args: InspectArgs) -> std::process::ExitCode {
    let server = client::ServerArgs {
        server: args.server.clone().unwrap_or_default(),
        api_key: args.api_key.clone(),
    };
    let pairs = args.options.option_pairs();
    client::run_remote_inspect(&args.input, pairs, args.bytes, args.rows, &server)
}

/// Runs `parquetry inspect` and prints the inspection as JSON on stdout.
pub fn run_inspect(args: InspectArgs) -> anyhow::Result<()> {
    use std::io::Read;
    let options = args.options.decode()?;
    let file = std::fs::File::open(&args.input)
        .with_context(|| format!("opening {}", args.input.display()))?;
    let total = file.metadata()?.len();
    let mut head = Vec::new();
    file.take(args.bytes as u64).read_to_end(&mut head)?;
    let complete = head.len() as u64 == total;
    let inspection = parquetry_convert::inspect(&head, complete, &options, args.rows)
        .map_err(described)
        .with_context(|| format!("inspecting {}", args.input.display()))?;
    println!("{}", serde_json::to_string_pretty(&inspection)?);
    Ok(())
}

/// An engine error with its code, line and column, for the terminal; the
/// message usually names its line and column already, and says them once.
fn described(error: parquetry_convert::ConvertError) -> anyhow::Error {
    let message = error.to_string();
    let mut text = format!("{message} ({})", error.code());
    if let Some(line) = error
        .line
        .filter(|line| !message.contains(&format!("line {line}")))
    {
        text.push_str(&format!(", line {line}"));
    }
    if let Some(column) = error
        .column
        .as_ref()
        .filter(|c| !message.contains(c.as_str()))
    {
        text.push_str(&format!(", column {column}"));
    }
    anyhow::anyhow!(text)
}
