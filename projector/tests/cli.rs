//! The command line of the built binary: `--help` lists every setting with its environment
//! variable and default, `--version` answers, and a usage error exits 2 before anything starts.

use std::process::{Command, Output};

use clap::CommandFactory;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_projector"))
        .args(args)
        .output()
        .expect("projector runs")
}

#[test]
fn help_lists_every_setting_with_its_variable_and_default_and_exits_0() {
    let help = run(&["--help"]);
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for command in ["serve", "replay", "migrate"] {
        assert!(text.contains(command), "{command} missing from:\n{text}");
    }
    let cli = projector::cli::Cli::command();
    let serve = cli.find_subcommand("serve").expect("a serve command");
    let mut listed = 0;
    for arg in serve.get_arguments() {
        let Some(variable) = arg.get_env() else {
            continue;
        };
        let variable = variable.to_string_lossy();
        assert!(text.contains(&format!("[env: {variable}")), "{variable}");
        if let Some(default) = arg.get_default_values().first() {
            let default = default.to_string_lossy();
            assert!(
                text.contains(&format!("[default: {default}]"))
                    || (default.is_empty() && text.contains("[default: \"\"]")),
                "{variable} = {default}"
            );
        }
        listed += 1;
    }
    assert!(listed >= 14, "{listed}");
    // The projector keeps a smaller pool than the APIs.
    assert!(text.contains("[env: DATABASE_MAX_CONNECTIONS=") && text.contains("[default: 8]"));

    let replay = run(&["replay", "--help"]);
    assert!(replay.status.success());
    let text = String::from_utf8_lossy(&replay.stdout);
    for flag in ["--projection", "--verify", "--until", "[env: DATABASE_URL"] {
        assert!(text.contains(flag), "{flag} missing from:\n{text}");
    }
}

#[test]
fn version_names_the_binary_and_its_version() {
    let version = run(&["--version"]);
    assert!(version.status.success());
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("projector {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn a_bad_flag_or_value_is_a_usage_error_with_status_2() {
    for args in [
        &["--no-such-flag"][..],
        &["--batch-size", "0"],
        &["replay", "--projection", "nonsense"],
        &["replay", "--until", "yesterday"],
        &["replay", "--verify", "--until", "2026-01-01T00:00:00Z"],
    ] {
        let output = run(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&output.stderr).starts_with("error:"));
    }
}
