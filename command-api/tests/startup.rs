//! The binary's start-up rules for the token secret (README "Security model"): without a
//! secret of 32+ bytes it refuses to serve or to sign tokens, unless `BOOKINGS_DEV=true`, which
//! signs with the development secret and serves on loopback only.

use std::process::{Command, Output};
use std::time::Duration;

use chrono::Utc;
use platform::auth::TokenKeys;

const LONG: &str = "startup-test-secret-0123456789abcdef";

/// `command-api` with `args`, its environment cleared of the token settings and pointed at
/// nothing it could reach, so a refusal shows before any connection is tried.
fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_command-api"));
    command.args(args);
    for name in [
        "BOOKINGS_DEV",
        "BOOKINGS_JWT_SECRET",
        "BOOKINGS_JWKS_URL",
        "BOOKINGS_JWT_ISSUER",
        "BOOKINGS_JWT_AUDIENCE",
    ] {
        command.env_remove(name);
    }
    command
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .env("NATS_URL", "nats://127.0.0.1:1")
        .env("RUST_LOG", "warn");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("command-api runs")
}

fn token(env: &[(&str, &str)]) -> Output {
    run(&["token", "--tenant", "acme", "--role", "admin"], env)
}

async fn verifies(output: &Output, secret: &str) -> bool {
    let token = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    TokenKeys::new(secret)
        .verify(&token, Utc::now())
        .await
        .is_ok()
}

#[tokio::test]
async fn the_token_command_needs_a_32_byte_secret_or_development_mode() {
    let none = token(&[]);
    assert!(!none.status.success());
    assert!(none.stdout.is_empty());

    let short = token(&[("BOOKINGS_JWT_SECRET", &LONG[..31])]);
    assert!(!short.status.success());
    assert!(!String::from_utf8_lossy(&short.stderr).contains(&LONG[..31]));

    let long = token(&[("BOOKINGS_JWT_SECRET", LONG)]);
    assert!(long.status.success());
    assert!(verifies(&long, LONG).await);

    let dev = token(&[("BOOKINGS_DEV", "true")]);
    assert!(dev.status.success());
    assert!(verifies(&dev, "dev-secret-change-me").await);
}

#[tokio::test]
async fn the_service_refuses_to_start_without_a_secret_or_in_development_mode_off_loopback() {
    let refusals = [
        vec![("COMMAND_API_ADDR", "127.0.0.1:0")],
        vec![
            ("COMMAND_API_ADDR", "127.0.0.1:0"),
            ("BOOKINGS_JWT_SECRET", "short"),
        ],
        vec![("COMMAND_API_ADDR", "0.0.0.0:0"), ("BOOKINGS_DEV", "true")],
        vec![
            ("COMMAND_API_ADDR", "0.0.0.0:0"),
            ("BOOKINGS_DEV", "true"),
            ("BOOKINGS_JWT_SECRET", LONG),
        ],
    ];
    for env in refusals {
        let started = std::time::Instant::now();
        let output = run(&["serve"], &env);
        assert!(!output.status.success(), "{env:?}");
        // Refused from the settings, before trying Postgres (which is unreachable here).
        assert!(started.elapsed() < Duration::from_secs(5), "{env:?}");
    }
}
