//! query-api: serves availability and projections (see the read-side issue).
//!
//! For now it migrates the database and serves `/healthz`, `/readyz` and `/metrics` on
//! `QUERY_API_ADDR` (default `127.0.0.1:8081`), so deployments and scripts can already run it.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::telemetry::init("info,sqlx=warn");
    projector::serve_skeleton("query-api", "QUERY_API_ADDR", "127.0.0.1:8081").await
}
