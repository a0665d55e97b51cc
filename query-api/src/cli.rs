//! The command line: `query-api [serve]`, `query-api migrate`, `query-api token …`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use platform::auth::TokenCommand;
use platform::settings::DatabaseSettings;

use crate::{Application, Settings};

/// The read side of the booking engine: availability, resources, bookings and daily stats from
/// the read models and their caches. Every flag can be set by the environment variable shown
/// with it.
#[derive(Debug, Parser)]
#[command(name = "query-api", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// `serve`'s settings, for `query-api` without a command.
    #[command(flatten)]
    serve: Settings,
}

#[derive(Debug, Subcommand)]
#[expect(clippy::large_enum_variant, reason = "one value, parsed once at start")]
enum Command {
    /// Serve the query API (what runs without a command)
    Serve(Settings),
    /// Apply the database migrations and exit (every service also applies them at start)
    Migrate(DatabaseSettings),
    /// Print a token signed with BOOKINGS_JWT_SECRET (or, with --dev, the development secret)
    Token(TokenCommand),
}

impl platform::chassis::Cli for Cli {
    async fn run(self) -> anyhow::Result<ExitCode> {
        match self.command.unwrap_or(Command::Serve(self.serve)) {
            Command::Serve(settings) => {
                let build = Application::build(settings);
                platform::chassis::serve(build, Application::run_until_stopped).await
            }
            Command::Migrate(database) => {
                platform::chassis::migrate(&database, &eventstore::db::MIGRATOR).await
            }
            Command::Token(token) => {
                println!("{}", token.sign()?);
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}
