//! projector: consumers that build the read models, and the replay tooling (the read-side
//! issue fills this crate in).
//!
//! Until then it offers the start-up both read-side binaries share: migrate, connect, and serve
//! the health endpoints.

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use eventstore::db::DbSettings;
use platform::health::Check;
use tokio::net::TcpListener;

/// Migrates, then serves `/healthz`, `/readyz` (Postgres and NATS) and `/metrics` on the address
/// in `addr_var` until Ctrl-C or SIGTERM.
pub async fn serve_skeleton(
    name: &'static str,
    addr_var: &str,
    default_addr: &str,
) -> anyhow::Result<()> {
    platform::metrics::handle();
    let addr = std::env::var(addr_var).unwrap_or_else(|_| default_addr.to_owned());
    let database_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://bookings:bookings@127.0.0.1:5432/bookings".to_owned());
    let nats_url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());
    let pool = DbSettings::new(database_url, name).pool()?;
    eventstore::db::migrate(&pool)
        .await
        .context("cannot run the database migrations")?;
    let nats = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect(&nats_url)
        .await?;
    let postgres: Check = Arc::new(move || {
        let pool = pool.clone();
        Box::pin(async move { eventstore::db::ping(&pool).await.map_err(|e| e.to_string()) })
    });
    let nats: Check = Arc::new(move || {
        let state = nats.connection_state();
        Box::pin(async move {
            match state {
                async_nats::connection::State::Connected => Ok(()),
                other => Err(other.to_string()),
            }
        })
    });
    let router: Router = platform::health::router(vec![("postgres", postgres), ("nats", nats)])
        .fallback(platform::problem::not_found_fallback);
    let listener = TcpListener::bind(&addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    tracing::info!(%addr, "{name} listening (health endpoints only)");
    axum::serve(listener, router)
        .with_graceful_shutdown(platform::shutdown::on_signal().cancelled_owned())
        .await
        .context("the HTTP server failed")
}
