//! Start-up that waits for its dependencies instead of exiting: a service started before its
//! database (compose, a reboot, a fail-over) keeps trying, saying in its log what it waits for,
//! and goes on as soon as it can. Only errors that neither waiting nor a fix in the database can
//! cure (a malformed URL, a migration that does not match) end the start-up.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, PgConnection, PgPool};
use tokio::time::Instant;

/// The first pause between two attempts; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(250);
/// The longest pause between two attempts: how long a service may stay down after its
/// dependency came back.
const MAX_PAUSE: Duration = Duration::from_secs(5);

/// Runs `attempt` until it succeeds or fails with an error that `may_succeed_later` says
/// waiting cannot fix. `what` names the dependency in the log ("postgres at db:5432").
pub async fn until_ready<T, E, F, Fut>(
    what: &str,
    may_succeed_later: impl Fn(&E) -> bool,
    attempt: F,
) -> Result<T, E>
where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    retry(what, (FIRST_PAUSE, MAX_PAUSE), may_succeed_later, attempt).await
}

/// [`until_ready`] with the pauses given: `(first, longest)`.
async fn retry<T, E, F, Fut>(
    what: &str,
    (first_pause, max_pause): (Duration, Duration),
    may_succeed_later: impl Fn(&E) -> bool,
    mut attempt: F,
) -> Result<T, E>
where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let started = Instant::now();
    let mut pause = first_pause;
    let mut failures: u32 = 0;
    loop {
        match attempt().await {
            Ok(value) => {
                if failures > 0 {
                    tracing::info!(
                        dependency = what,
                        waited_ms =
                            u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                        "{what} is available; starting"
                    );
                }
                return Ok(value);
            }
            Err(err) if may_succeed_later(&err) => {
                failures += 1;
                tracing::warn!(
                    dependency = what,
                    attempt = failures,
                    retry_in_ms = u64::try_from(pause.as_millis()).unwrap_or(u64::MAX),
                    error = %err,
                    "waiting for {what}"
                );
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(max_pause);
            }
            Err(err) => return Err(err),
        }
    }
}

/// Applies `migrator`'s pending migrations, waiting for the database first if it is not
/// reachable yet (or another instance holds the migration lock). A TLS failure ends the wait at
/// once with an error naming the server and the certificate problem.
pub async fn migrate(pool: &PgPool, migrator: &Migrator) -> anyhow::Result<()> {
    let options = pool.connect_options();
    let place = place(&options);
    let what = format!("{place} (to run the migrations)");
    until_ready(&what, crate::database::migration_may_succeed_later, || {
        migrator.run(pool)
    })
    .await
    .map_err(|err| match &err {
        MigrateError::Execute(inner) | MigrateError::ExecuteMigration(inner, _) => {
            tls_failure(&place, inner).unwrap_or_else(|| err.into())
        }
        _ => err.into(),
    })
}

/// "postgres at HOST:PORT", for logs and errors.
fn place(options: &PgConnectOptions) -> String {
    format!("postgres at {}:{}", options.get_host(), options.get_port())
}

/// The error to end the start-up with when `err` is a TLS failure.
fn tls_failure(place: &str, err: &sqlx::Error) -> Option<anyhow::Error> {
    (crate::database::classify(err) == crate::database::Fault::Tls).then(|| {
        let why = crate::tls::failure(err).unwrap_or_else(|| err.to_string());
        anyhow::anyhow!("{place}: TLS failed: {why}")
    })
}

/// A connection to the database `options` name, waiting for it if it is not reachable yet (or
/// refuses this service for now). `purpose` says why, in the log ("to replay").
pub async fn connect(
    options: &PgConnectOptions,
    purpose: &str,
) -> Result<PgConnection, sqlx::Error> {
    let what = format!(
        "postgres at {}:{} ({purpose})",
        options.get_host(),
        options.get_port()
    );
    until_ready(&what, crate::database::may_succeed_later, || {
        options.connect()
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    const FAST: (Duration, Duration) = (Duration::from_millis(1), Duration::from_millis(2));

    #[tokio::test]
    async fn attempts_are_repeated_until_one_succeeds_and_a_lasting_error_ends_them_at_once() {
        let calls = AtomicU32::new(0);
        let result: Result<u32, String> = retry(
            "something",
            FAST,
            |_| true,
            || async {
                let n = calls.fetch_add(1, Ordering::Relaxed) + 1;
                if n < 4 {
                    Err(format!("not yet ({n})"))
                } else {
                    Ok(n)
                }
            },
        )
        .await;
        assert_eq!(result, Ok(4));

        let calls = AtomicU32::new(0);
        let result: Result<(), String> = retry(
            "something",
            FAST,
            |err: &String| err != "fatal",
            || async {
                calls.fetch_add(1, Ordering::Relaxed);
                Err("fatal".to_owned())
            },
        )
        .await;
        assert_eq!(result, Err("fatal".to_owned()));
        assert_eq!(calls.load(Ordering::Relaxed), 1);
    }
}
