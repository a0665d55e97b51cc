//! Logging set-up: `RUST_LOG` filters, `RUST_LOG_FORMAT=json` switches to JSON lines.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt;

/// Installs the global subscriber. Call once, at the top of `main`.
pub fn init(default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let json = std::env::var("RUST_LOG_FORMAT").is_ok_and(|format| format == "json");
    let builder = fmt()
        .with_env_filter(filter)
        .with_target(true)
        // Colour codes only for a person at a terminal, not into log files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    // `try_init` so a second call (tests starting several services in one process) is harmless.
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}
