//! The command line: `projector [serve]`, `projector replay …`, `projector migrate`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use platform::settings::DatabaseSettings;

use crate::replay::ReplayArgs;
use crate::{Application, Settings};

/// Builds the read models from the events: one worker per projection, and `replay` to rebuild or
/// verify them from the history. Every flag can be set by the environment variable shown with it.
#[derive(Debug, Parser)]
#[command(name = "projector", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// `serve`'s settings, for `projector` without a command.
    #[command(flatten)]
    serve: Settings,
}

#[derive(Debug, Subcommand)]
#[expect(clippy::large_enum_variant, reason = "one value, parsed once at start")]
enum Command {
    /// Run the projection workers, with health and metrics (what runs without a command)
    Serve(Settings),
    /// Rebuild the read models from the event history and swap them in, or verify them
    /// (--verify), or rebuild the past (--until); works while everything runs
    Replay {
        #[command(flatten)]
        replay: ReplayArgs,
        #[command(flatten)]
        database: DatabaseSettings,
    },
    /// Apply the database migrations and exit (every service also applies them at start)
    Migrate(DatabaseSettings),
}

impl platform::chassis::Cli for Cli {
    async fn run(self) -> anyhow::Result<ExitCode> {
        match self.command.unwrap_or(Command::Serve(self.serve)) {
            Command::Serve(settings) => {
                let build = Application::build(settings);
                platform::chassis::serve(build, Application::run_until_stopped).await
            }
            Command::Replay { replay, database } => {
                let server = database.connect_options().map_err(anyhow::Error::msg)?;
                let report = crate::replay::run_on(server, &replay.options()).await?;
                println!("{report}");
                Ok(if report.differences.is_empty() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                })
            }
            Command::Migrate(database) => {
                platform::chassis::migrate(&database, &eventstore::db::MIGRATOR).await
            }
        }
    }
}
