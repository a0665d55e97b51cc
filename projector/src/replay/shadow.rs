//! Shadow tables: created with the live tables' keys, loaded while the fold runs, indexed
//! afterwards several at a time.

use std::time::Instant;

use anyhow::Context;
use futures::StreamExt as _;
use readmodel::projections::Projection;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::projections::load;

use super::fold::{Folded, Range, fold};
use super::progress::Progress;

/// Connections that load and index shadow tables side by side. The work is Postgres': a few
/// keep both cores busy (a parallel index build on one table, the GiST build or a `COPY` on
/// another); more would only queue. The streaming load takes one per streamed table.
pub(super) const LOADERS: u32 = 3;

/// Creates the shadow tables of `projections` in `schema`, folds `range` into them (the tables
/// of finished streams loaded while the fold goes on, the others once it ends), then builds
/// their remaining indexes, several at a time.
pub(super) async fn load_shadow(
    connect: &PgConnectOptions,
    projections: &[Projection],
    schema: &str,
    range: Range,
    progress: Progress,
) -> anyhow::Result<Folded> {
    let pool = PgPoolOptions::new()
        .max_connections(LOADERS.max(load::STREAMED.len() as u32))
        .connect_with(connect.clone())
        .await
        .context("cannot connect to the database")?;
    let tables: Vec<&'static str> = projections
        .iter()
        .flat_map(|projection| projection.tables().iter().copied())
        .collect();
    let mut late = Vec::new();
    for table in &tables {
        late.extend(create_table(&pool, schema, table).await?);
    }
    let (rows, copies) = load::start(&pool, schema, projections).await?;
    let folded = fold(connect, projections, range, Some(rows), progress).await;
    // The copies end once the fold has dropped its `rows`; a copy that failed stopped the fold,
    // so its error goes first.
    let stored = copies.finish().await?;
    let mut folded = folded?;
    for (table, rows) in stored {
        folded.progress.note(&format!("{table}: {rows} rows"));
    }
    let mut conn = pool.acquire().await?;
    for table in &tables {
        if load::STREAMED.contains(table) {
            continue;
        }
        if let Some((_, state)) = folded
            .states
            .iter()
            .find(|(projection, _)| projection.tables().contains(table))
        {
            state
                .copy_table(&mut conn, schema, table)
                .await
                .with_context(|| format!("cannot load {schema}.{table}"))?;
        }
    }
    drop(conn);
    folded.progress.phase("folded and loaded the history");
    // A GiST build cannot be split among parallel workers and is the longest: start it first,
    // so the b-tree builds share the other core with it instead of trailing after it.
    late.sort_by_key(|definition| !definition.contains(" USING gist "));
    let mut builds = futures::stream::iter(late)
        .map(|index| build_index(&pool, index))
        .buffer_unordered(LOADERS as usize);
    while let Some(built) = builds.next().await {
        folded.progress.note(&built?);
    }
    drop(builds);
    pool.close().await;
    Ok(folded)
}

/// Creates a shadow table, empty, with the live table's keys (under the same names: names are
/// per schema, so after the swap they are exactly what the migrations created). Returns the
/// statements for its other indexes, to run once it is loaded.
///
/// Keys are kept up while the table loads because every load writes in key order (streams in
/// id order, held rows from ordered maps), which only ever appends to the index. The other
/// indexes would get their rows in random order: building them after the load is several times
/// cheaper, even the GiST one (BENCHMARKS.md, "Figures behind choices in the code").
pub(super) async fn create_table(
    pool: &PgPool,
    schema: &str,
    table: &str,
) -> anyhow::Result<Vec<String>> {
    let mut conn = pool.acquire().await?;
    sqlx::query(&format!("drop table if exists {schema}.{table}"))
        .execute(&mut *conn)
        .await?;
    sqlx::query(&format!(
        "create table {schema}.{table} (like read.{table} including defaults including constraints)"
    ))
    .execute(&mut *conn)
    .await?;
    let constraints: Vec<(String, String)> = sqlx::query_as(
        "select conname::text, pg_get_constraintdef(oid) from pg_constraint
         where conrelid = ('read.' || $1)::regclass and contype in ('p', 'u', 'x')",
    )
    .bind(table)
    .fetch_all(&mut *conn)
    .await?;
    for (name, definition) in &constraints {
        sqlx::query(&format!(
            "alter table {schema}.{table} add constraint \"{name}\" {definition}"
        ))
        .execute(&mut *conn)
        .await?;
    }
    let indexes: Vec<(String, String)> = sqlx::query_as(
        "select indexname::text, indexdef from pg_indexes where schemaname = 'read' and tablename = $1",
    )
    .bind(table)
    .fetch_all(&mut *conn)
    .await?;
    let mut late = Vec::new();
    for (name, definition) in indexes {
        if constraints
            .iter()
            .any(|(constraint, _)| *constraint == name)
        {
            continue;
        }
        let definition = definition.replace(
            &format!(" ON read.{table} "),
            &format!(" ON {schema}.{table} "),
        );
        late.push(definition);
    }
    Ok(late)
}

/// Runs one index build of a loaded shadow table. Returns what it did, for the progress output.
pub(super) async fn build_index(pool: &PgPool, definition: String) -> anyhow::Result<String> {
    let started = Instant::now();
    let mut tx = pool.begin().await?;
    // Sorts for the index build in memory (a parallel build splits this among its workers).
    sqlx::query("set local maintenance_work_mem = '256MB'")
        .execute(&mut *tx)
        .await?;
    sqlx::query(&definition)
        .execute(&mut *tx)
        .await
        .with_context(|| format!("cannot run {definition}"))?;
    tx.commit().await?;
    Ok(format!(
        "{definition} in {:.2} s",
        started.elapsed().as_secs_f64()
    ))
}
