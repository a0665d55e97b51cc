//! The command line of the built binary: `--help` lists every setting with its environment
//! variable and default, `--version` answers, and a usage error exits 2 before anything starts.

use std::process::{Command, Output};

use clap::CommandFactory;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_command-api"))
        .args(args)
        .output()
        .expect("command-api runs")
}

/// Every argument of `command` (and its subcommands) that reads a variable, with its default.
fn settings(command: &clap::Command) -> Vec<(String, Option<String>)> {
    let mut found: Vec<(String, Option<String>)> = command
        .get_arguments()
        .filter_map(|arg| {
            let env = arg.get_env()?.to_string_lossy().into_owned();
            let default = arg
                .get_default_values()
                .first()
                .map(|value| value.to_string_lossy().into_owned());
            Some((env, default))
        })
        .collect();
    for sub in command.get_subcommands() {
        found.extend(settings(sub));
    }
    found
}

#[test]
fn help_lists_every_setting_with_its_variable_and_default_and_exits_0() {
    let help = run(&["--help"]);
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for command in ["serve", "migrate", "token"] {
        assert!(text.contains(command), "{command} missing from:\n{text}");
    }
    let all = settings(&command_api::cli::Cli::command());
    assert!(all.len() >= 25, "{all:?}");
    for (variable, default) in all {
        // `token`'s and `migrate`'s settings are listed by their own `--help`.
        let shown = if text.contains(&format!("[env: {variable}")) {
            text.to_string()
        } else {
            ["token", "migrate"]
                .iter()
                .map(|sub| String::from_utf8_lossy(&run(&[sub, "--help"]).stdout).into_owned())
                .collect()
        };
        assert!(shown.contains(&format!("[env: {variable}")), "{variable}");
        if let Some(default) = default {
            assert!(
                shown.contains(&format!("[default: {default}]"))
                    || (default.is_empty() && shown.contains("[default: \"\"]")),
                "{variable} = {default}"
            );
        }
    }
    // Secrets and URLs that may carry them are never echoed from the environment.
    let echoed = Command::new(env!("CARGO_BIN_EXE_command-api"))
        .arg("--help")
        .env("BOOKINGS_JWT_SECRET", "hunter2-hunter2-hunter2-hunter2-x")
        .env("DATABASE_URL", "postgres://app:hunter3@db/bookings")
        .env("NATS_PASSWORD", "hunter4")
        .output()
        .expect("command-api runs");
    let text = String::from_utf8_lossy(&echoed.stdout);
    assert!(!text.contains("hunter"), "{text}");
}

#[test]
fn version_names_the_binary_and_its_version() {
    let version = run(&["--version"]);
    assert!(version.status.success());
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("command-api {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn a_bad_flag_or_value_is_a_usage_error_with_status_2() {
    for args in [
        &["--no-such-flag"][..],
        &["serve", "--request-timeout-ms", "soon"],
        &["token", "--tenant", "acme", "--role", "emperor"],
        &["token", "--tenant", "acme"],
        &["no-such-command"],
    ] {
        let output = run(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with("error:"), "{args:?}: {stderr}");
        assert!(
            stderr.contains("Usage:") || stderr.contains("--help"),
            "{stderr}"
        );
    }
    // A value from the environment is checked alike, and named by its flag.
    let output = Command::new(env!("CARGO_BIN_EXE_command-api"))
        .env("RELAY_ENABLED", "maybe")
        .output()
        .expect("command-api runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--relay-enabled"));
}
