//! `bench serve-reference`: the HTTP and cache ceilings. A minimal axum server with two routes:
//! `/memory` returns a JSON body held in memory, `/redis` the same body fetched with one Redis GET
//! per request. It runs as its own process, as query-api does, so both are measured alike.

use anyhow::Context;
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use bytes::Bytes;

/// `bench serve-reference`'s flags.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// The port to listen on (127.0.0.1)
    #[arg(long)]
    port: u16,
    /// The file whose bytes both routes answer
    #[arg(long, value_name = "FILE")]
    body: std::path::PathBuf,
    /// The Redis `/redis` reads from
    #[arg(long, value_name = "URL")]
    redis_url: String,
    /// The key `/redis` reads
    #[arg(long)]
    key: String,
}

pub async fn serve(args: Args) -> anyhow::Result<()> {
    let body = Bytes::from(
        std::fs::read(&args.body)
            .with_context(|| format!("cannot read {}", args.body.display()))?,
    );
    let redis = redis::Client::open(args.redis_url.as_str())?
        .get_multiplexed_async_connection()
        .await?;
    let key = args.key;
    let app = Router::new()
        .route(
            "/memory",
            get(move || {
                let body = body.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], body) }
            }),
        )
        .route(
            "/redis",
            get(move || {
                let (mut redis, key) = (redis.clone(), key.clone());
                async move {
                    let found: Result<Option<Vec<u8>>, _> =
                        redis::cmd("GET").arg(&key).query_async(&mut redis).await;
                    match found {
                        Ok(Some(body)) => {
                            ([(header::CONTENT_TYPE, "application/json")], body).into_response()
                        }
                        _ => StatusCode::SERVICE_UNAVAILABLE.into_response(),
                    }
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
