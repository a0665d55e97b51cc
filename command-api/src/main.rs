//! `command-api`: its commands and settings are in [`command_api::cli`] (`command-api --help`).

fn main() -> std::process::ExitCode {
    platform::chassis::main::<command_api::cli::Cli>()
}
