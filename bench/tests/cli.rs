//! The command line of the built `bench`: it runs nothing without a scenario (usage, status 2),
//! answers `--help` and `--version`, and refuses a bad flag or scenario with status 2.

use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bench"))
        .args(args)
        .output()
        .expect("bench runs")
}

#[test]
fn without_a_scenario_bench_prints_its_usage_and_exits_2() {
    let output = run(&[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Usage: bench"), "{stderr}");
    assert!(stderr.contains("<SCENARIO>"), "{stderr}");
    // Flags alone are not a scenario either.
    assert_eq!(run(&["--quick", "--runs", "1"]).status.code(), Some(2));
}

#[test]
fn help_lists_the_scenarios_and_flags_and_version_answers() {
    let help = run(&["--help"]);
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for word in [
        "references",
        "commands",
        "hot",
        "reads",
        "mix",
        "replay",
        "all",
        "seed-events",
        "--spawn",
        "--quick",
        "--runs",
        "--json",
    ] {
        assert!(text.contains(word), "{word} missing from:\n{text}");
    }
    let version = run(&["--version"]);
    assert!(version.status.success());
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("bench {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn a_bad_flag_or_scenario_is_a_usage_error_with_status_2() {
    for args in [
        &["reads", "--no-such-flag"][..],
        &["everything"],
        &["reads", "--runs", "0"],
    ] {
        let output = run(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&output.stderr).starts_with("error:"));
    }
}
