//! The command line: `command-api [serve]`, `command-api migrate`, `command-api token …`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use platform::auth::TokenCommand;
use platform::settings::DatabaseSettings;

use crate::{Application, Settings};

/// The write side of the booking engine: the command API, the relay to NATS and the hold
/// sweeper. Every flag can be set by the environment variable shown with it.
#[derive(Debug, Parser)]
#[command(name = "command-api", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// `serve`'s settings, for `command-api` without a command.
    #[command(flatten)]
    serve: Settings,
}

#[derive(Debug, Subcommand)]
#[expect(clippy::large_enum_variant, reason = "one value, parsed once at start")]
enum Command {
    /// Serve the command API and run the relay and hold sweeper (what runs without a command)
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
