//! Failpoints: named places where a process can be made to crash on purpose, so tests and the
//! chaos suite can prove that a crash exactly there loses nothing.
//!
//! `BOOKINGS_FAILPOINTS=name[,name…]` (read once) arms them; an armed failpoint aborts the
//! process when reached, as `kill -9` would: no destructors, no graceful shutdown. Unarmed (the
//! default, always in production), a failpoint costs one load of a static.

use std::sync::OnceLock;

/// The environment variable that arms failpoints.
pub const VARIABLE: &str = "BOOKINGS_FAILPOINTS";

fn armed() -> &'static [String] {
    static ARMED: OnceLock<Vec<String>> = OnceLock::new();
    ARMED.get_or_init(|| {
        std::env::var(VARIABLE)
            .map(|names| {
                names
                    .split(',')
                    .map(str::trim)
                    .filter(|name| !name.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    })
}

/// Aborts the process if the failpoint `name` is armed.
pub fn hit(name: &str) {
    if armed().iter().any(|armed| armed == name) {
        eprintln!("failpoint {name} reached: aborting");
        std::process::abort();
    }
}
