//! What every binary's `main` does, written once: parse the command line (flags and their
//! environment variables; `--help`, `--version`, and usage errors that exit 2 before anything
//! starts), set up logging, run the chosen command on a Tokio runtime, and report a failure on
//! stderr with exit status 1. A service's `serve` builds its application and runs it until
//! Ctrl-C or SIGTERM, then drains it ([`crate::shutdown`]).

use std::future::Future;
use std::process::ExitCode;

use anyhow::Context;
use sqlx::migrate::Migrator;
use tokio_util::sync::CancellationToken;

use crate::settings::DatabaseSettings;

/// A binary's command line: what it parses, and what it does with it.
pub trait Cli: clap::Parser {
    /// Runs the parsed command; the exit status on success (`replay --verify` exits 1 when it
    /// finds differences).
    fn run(self) -> impl Future<Output = anyhow::Result<ExitCode>>;
}

/// A service: built from its settings (connections, migrations, the listening socket), then
/// run until a shutdown token is cancelled.
pub trait Service: Sized {
    type Settings;

    fn build(settings: Self::Settings) -> impl Future<Output = anyhow::Result<Self>>;

    fn run_until_stopped(
        self,
        shutdown: CancellationToken,
    ) -> impl Future<Output = anyhow::Result<()>>;
}

/// The whole of a binary's `main`.
pub fn main<C: Cli>() -> ExitCode {
    // Usage errors exit 2, `--help` and `--version` exit 0, before anything else happens.
    let cli = C::parse();
    crate::telemetry::init("info,sqlx=warn");
    crate::tls::install_crypto_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("Error: cannot start the Tokio runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli.run()) {
        Ok(code) => code,
        Err(err) => {
            // `{:?}` of an anyhow error: the message, then each cause on its own line.
            eprintln!("Error: {err:?}");
            ExitCode::FAILURE
        }
    }
}

/// `serve`: builds the service and runs it until Ctrl-C or SIGTERM.
pub async fn serve<S: Service>(settings: S::Settings) -> anyhow::Result<ExitCode> {
    let service = S::build(settings).await?;
    service
        .run_until_stopped(crate::shutdown::on_signal())
        .await?;
    Ok(ExitCode::SUCCESS)
}

/// `migrate`: applies the migrations, waiting for the database if it is not up yet.
pub async fn migrate(database: &DatabaseSettings, migrator: &Migrator) -> anyhow::Result<ExitCode> {
    let options = database
        .connect_options()
        .map_err(anyhow::Error::msg)?
        .application_name("migrate");
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy_with(options);
    crate::startup::migrate(&pool, migrator)
        .await
        .context("migrations failed")?;
    pool.close().await;
    println!("migrations applied");
    Ok(ExitCode::SUCCESS)
}
