//! `bench serve-reference`: the HTTP and cache ceilings. A minimal axum server with two routes:
//! `/memory` returns a JSON body held in memory, `/redis` the same body fetched with one Redis GET
//! per request. It runs as its own process, as query-api does, so both are measured alike.

use anyhow::Context;
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use bytes::Bytes;

pub async fn serve(args: &[String]) -> anyhow::Result<()> {
    let (mut port, mut body, mut redis_url, mut key) = (None, None, None, None);
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?
            .clone();
        match flag.as_str() {
            "--port" => port = Some(value.parse::<u16>()?),
            "--body" => body = Some(value),
            "--redis-url" => redis_url = Some(value),
            "--key" => key = Some(value),
            other => anyhow::bail!("unknown flag {other}"),
        }
    }
    let body = Bytes::from(std::fs::read(body.context("--body FILE")?)?);
    let redis = redis::Client::open(redis_url.context("--redis-url URL")?.as_str())?
        .get_multiplexed_async_connection()
        .await?;
    let key = key.context("--key KEY")?;
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
    let listener =
        tokio::net::TcpListener::bind(("127.0.0.1", port.context("--port PORT")?)).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
