//! projector: builds the read models from the event stream (see the read-side issue).
//!
//! For now it migrates the database and serves `/healthz`, `/readyz` and `/metrics` on
//! `PROJECTOR_ADDR` (default `127.0.0.1:8082`), so deployments and scripts can already run it.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::telemetry::init("info,sqlx=warn");
    projector::serve_skeleton("projector", "PROJECTOR_ADDR", "127.0.0.1:8082").await
}
