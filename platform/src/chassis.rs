//! What every binary's `main` does, written once: parse the command line (flags and their
//! environment variables; `--help`, `--version`, and usage errors that exit 2 before anything
//! starts), set up logging, run the chosen command on a Tokio runtime, and report a failure on
//! stderr with exit status 1. A service's `serve` builds its application and runs it until
//! Ctrl-C or SIGTERM, then drains it ([`crate::shutdown`]); the steps every service's start-up
//! and run share (the database, the socket, the HTTP server) are here too.

use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use axum::Router;
use eventstore::db::DbSettings;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::settings::DatabaseSettings;

/// A binary's command line: what it parses, and what it does with it.
pub trait Cli: clap::Parser {
    /// Runs the parsed command; the exit status on success (`replay --verify` exits 1 when it
    /// finds differences).
    fn run(self) -> impl Future<Output = anyhow::Result<ExitCode>>;
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

/// `serve`: builds a service (connections, migrations, the listening socket), then `run`s it
/// until Ctrl-C or SIGTERM.
pub async fn serve<S, F>(
    build: impl Future<Output = anyhow::Result<S>>,
    run: impl FnOnce(S, CancellationToken) -> F,
) -> anyhow::Result<ExitCode>
where
    F: Future<Output = anyhow::Result<()>>,
{
    let service = build.await?;
    run(service, crate::shutdown::on_signal()).await?;
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

/// What every service does first, before it connects to anything: install the metrics recorder
/// (before anything records) and the TLS provider.
pub fn prepare() {
    crate::metrics::handle();
    crate::tls::install_crypto_provider();
}

/// The service's database, reached as `service` with `database`'s URL and pool size
/// (`DbSettings`' other fields as by default).
pub fn db_settings(database: &DatabaseSettings, service: &str) -> anyhow::Result<DbSettings> {
    Ok(DbSettings {
        max_connections: database.max_connections,
        ..DbSettings::new(
            database.connect_options().map_err(anyhow::Error::msg)?,
            service,
        )
    })
}

/// `db`'s pool, migrated: waits for Postgres (logging what it waits for) rather than exiting
/// when it is not up.
pub async fn migrated_pool(db: &DbSettings) -> anyhow::Result<PgPool> {
    let pool = db.pool();
    crate::startup::migrate(&pool, &eventstore::db::MIGRATOR)
        .await
        .context("cannot run the database migrations")?;
    Ok(pool)
}

/// The service's listening socket; an address in use ends the start-up, naming it.
pub async fn listen(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))
}

/// Serves `router` on `listener` until `shutdown`, then lets the requests in flight finish.
/// The peer address is handed to the handlers: it keys the rate limit of requests without a
/// valid token.
pub async fn serve_http(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let router = router.into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .context("the HTTP server failed")
}
