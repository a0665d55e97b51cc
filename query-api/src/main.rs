//! `query-api [serve]`, `query-api migrate`, `query-api token --tenant T --role R`.

use anyhow::Context;
use query_api::{Application, Settings};

/// Every connection allocates and frees its buffers on both worker threads; under the bench's
/// 1,024-connection overload glibc malloc peaked at 98 MiB RSS, mimalloc at 85 (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::telemetry::init("info,sqlx=warn");
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None | Some("serve") => {
            let settings = Settings::from_env()?;
            let app = Application::build(settings).await?;
            app.run_until_stopped(platform::shutdown::on_signal()).await
        }
        Some("migrate") => {
            let settings = Settings::from_env()?;
            let pool = eventstore::db::DbSettings::new(&settings.database_url, "migrate").pool()?;
            eventstore::db::migrate(&pool)
                .await
                .context("migrations failed")?;
            println!("migrations applied");
            Ok(())
        }
        Some("token") => {
            let token =
                platform::auth::token_from_args(&args[1..], &query_api::config::jwt_secret()?)
                    .map_err(anyhow::Error::msg)?;
            println!("{token}");
            Ok(())
        }
        Some(other) => anyhow::bail!(
            "unknown command {other:?}; use `serve`, `migrate` or `token --tenant T --role admin|client|viewer [--sub S] [--hours H]`"
        ),
    }
}
