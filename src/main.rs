//! The `parquetry` binary: a thin dispatcher over the library.

use parquetry::cli::{Cli, Command};

fn main() -> std::process::ExitCode {
    parquetry::tls::install_crypto_provider();
    let cli = Cli::from_env_and_args();
    let outcome = match cli.command {
        Command::Convert(args) => parquetry::cli::run_convert(args),
        Command::Inspect(args) if args.server.is_some() => {
            return parquetry::cli::run_remote_inspect(args)
        }
        Command::Inspect(args) => parquetry::cli::run_inspect(args),
        Command::Serve(args) => run_async(parquetry::startup::serve(args)),
        Command::Worker(args) => run_async(parquetry::startup::run_workers_only(args)),
        Command::Migrate(args) => run_async(parquetry::startup::migrate(args)),
        Command::Keys(args) => run_async(parquetry::cli::run_keys(args)),
        // The client commands have exit statuses of their own (issue 15).
        Command::Upload(args) => return parquetry::cli::run_upload(args),
        Command::Jobs(args) => return parquetry::cli::run_jobs(args),
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("parquetry: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The service runs on a multi-threaded tokio runtime: actix-web's server is
/// started on it through `actix_web::rt::System::with_tokio_rt`-free APIs
/// (actix-web 4 runs fine on a plain tokio runtime), and the OTLP exporters
/// need a reactor to be built in.
fn run_async<F>(future: F) -> anyhow::Result<()>
where
    F: std::future::Future<Output = anyhow::Result<()>>,
{
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(future)
}
