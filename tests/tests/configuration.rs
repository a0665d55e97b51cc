//! README's configuration table is the contract for the services' environment: every variable
//! a service reads is in it, and every variable in it is read by a service (or, for logging, by
//! the telemetry set-up).

use std::collections::BTreeSet;

use clap::CommandFactory;

/// The variables `command` and its subcommands read.
fn variables(command: &clap::Command, into: &mut BTreeSet<String>) {
    for arg in command.get_arguments() {
        if let Some(env) = arg.get_env() {
            into.insert(env.to_string_lossy().into_owned());
        }
    }
    for sub in command.get_subcommands() {
        variables(sub, into);
    }
}

/// The variables named in the first column of README's configuration table.
fn documented() -> BTreeSet<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let table = readme
        .split("## Configuration (environment)")
        .nth(1)
        .expect("a configuration section")
        .split("\n## ")
        .next()
        .unwrap_or_default();
    let mut names = BTreeSet::new();
    for row in table.lines().filter(|line| line.starts_with("| `")) {
        let first = row.split('|').nth(1).unwrap_or_default();
        for quoted in first.split('`').skip(1).step_by(2) {
            let name: String = quoted
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            if !name.is_empty() {
                names.insert(name);
            }
        }
    }
    names
}

#[test]
fn the_readme_configuration_table_names_exactly_the_variables_the_services_read() {
    let mut read = BTreeSet::new();
    variables(&command_api::cli::Cli::command(), &mut read);
    variables(&projector::cli::Cli::command(), &mut read);
    variables(&query_api::cli::Cli::command(), &mut read);
    // Read by the logging set-up, not the command line.
    read.extend(["RUST_LOG".to_owned(), "RUST_LOG_FORMAT".to_owned()]);
    let documented = documented();
    let undocumented: Vec<_> = read.difference(&documented).collect();
    let unread: Vec<_> = documented.difference(&read).collect();
    assert!(
        undocumented.is_empty() && unread.is_empty(),
        "read but not in README's table: {undocumented:?}; in the table but read by no service: {unread:?}"
    );
    assert!(read.len() > 40, "{read:?}");
}
