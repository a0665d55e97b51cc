//! The rows of a projection table keyed by one stream's id (a resource, a service, a booking):
//! held in memory by id with the ids a batch changed, and the three ways they meet their table,
//! written once for every such table: loaded by the ids a batch touches (or all, to verify),
//! upserted in chunks, or copied into an empty table.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::future::Future;

use domain::StreamType;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgConnection, Row};
use uuid::Uuid;

use super::copy::Copy;
use super::{Applied, CHUNK, diff_maps};

/// A row of a table keyed by a stream's id. Decoded by its `FromRow` (the key aside), encoded
/// for `COPY` by [`TableRow::encode`] and upserted by [`TableRow::upsert`].
pub trait TableRow:
    Clone + PartialEq + Debug + Send + Sync + Unpin + for<'r> FromRow<'r, PgRow>
{
    /// The table, in the projection's schema.
    const TABLE: &'static str;
    /// The key column (the stream's id).
    const KEY: &'static str;
    /// Every column, the key first, in the order [`TableRow::encode`] writes them.
    const COLUMNS: &'static str;
    /// The streams whose events change the rows.
    const STREAM: StreamType;
    /// What a difference found by a verify calls a row.
    const WHAT: &'static str;

    /// One row into a `COPY` of [`TableRow::COLUMNS`].
    fn encode(copy: &mut Copy<'_>, id: &Uuid, row: &Self) -> Result<(), sqlx::Error>;

    /// Inserts or updates `rows` (at most [`CHUNK`]) with one set-based statement.
    fn upsert(
        conn: &mut PgConnection,
        schema: &str,
        rows: &[(Uuid, &Self)],
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
}

/// A row selected with [`TableRow::COLUMNS`], with its key.
pub fn decode<R: TableRow>(row: &PgRow) -> Result<(Uuid, R), sqlx::Error> {
    Ok((row.try_get(R::KEY)?, R::from_row(row)?))
}

/// One column of `rows`, as an array to bind for `unnest`.
pub fn column<'r, R, T>(rows: &[(Uuid, &'r R)], value: impl Fn(&'r R) -> T) -> Vec<T> {
    rows.iter().map(|(_, row)| value(row)).collect()
}

/// The keys of `rows`, as an array to bind.
pub fn keys<R>(rows: &[(Uuid, &R)]) -> Vec<Uuid> {
    rows.iter().map(|(id, _)| *id).collect()
}

/// Rows by key, and the keys changed since they were loaded.
#[derive(Debug)]
pub struct Rows<R> {
    rows: BTreeMap<Uuid, R>,
    dirty: BTreeSet<Uuid>,
}

impl<R> Default for Rows<R> {
    fn default() -> Self {
        Rows {
            rows: BTreeMap::new(),
            dirty: BTreeSet::new(),
        }
    }
}

impl<R: TableRow> Rows<R> {
    async fn select(
        conn: &mut PgConnection,
        sql: &str,
        ids: Option<&[Uuid]>,
    ) -> Result<Self, sqlx::Error> {
        let mut query = sqlx::query(sql);
        if let Some(ids) = ids {
            query = query.bind(ids);
        }
        let mut rows = BTreeMap::new();
        for row in query.fetch_all(conn).await? {
            let (id, row) = decode(&row)?;
            rows.insert(id, row);
        }
        Ok(Rows {
            rows,
            dirty: BTreeSet::new(),
        })
    }

    /// The rows of the streams `events` belong to, read from `schema`.
    pub async fn load(
        conn: &mut PgConnection,
        schema: &str,
        events: &[Applied],
    ) -> Result<Self, sqlx::Error> {
        let ids: Vec<Uuid> = events
            .iter()
            .filter(|e| e.event.stream_type() == R::STREAM)
            .map(|e| e.stream_id)
            .collect();
        if ids.is_empty() {
            return Ok(Self::default());
        }
        let (columns, table, key) = (R::COLUMNS, R::TABLE, R::KEY);
        let sql = format!("select {columns} from {schema}.{table} where {key} = any($1)");
        Self::select(conn, &sql, Some(&ids)).await
    }

    /// Every row of `schema` (for verification).
    pub async fn load_all(conn: &mut PgConnection, schema: &str) -> Result<Self, sqlx::Error> {
        let sql = format!("select {} from {schema}.{}", R::COLUMNS, R::TABLE);
        Self::select(conn, &sql, None).await
    }

    pub fn get(&self, id: &Uuid) -> Option<&R> {
        self.rows.get(id)
    }

    /// The row `id` to change in place; call [`Rows::changed`] once it is changed.
    pub fn get_mut(&mut self, id: &Uuid) -> Option<&mut R> {
        self.rows.get_mut(id)
    }

    /// Sets the row `id`.
    pub fn put(&mut self, id: Uuid, row: R) {
        self.rows.insert(id, row);
        self.dirty.insert(id);
    }

    /// The row `id` was changed in place.
    pub fn changed(&mut self, id: Uuid) {
        self.dirty.insert(id);
    }

    /// Every row, by key.
    pub fn all(&self) -> &BTreeMap<Uuid, R> {
        &self.rows
    }

    /// The changed rows, in key order.
    pub fn dirty(&self) -> Vec<(Uuid, &R)> {
        self.dirty
            .iter()
            .filter_map(|id| self.rows.get(id).map(|row| (*id, row)))
            .collect()
    }

    /// Inserts or updates the changed rows in `schema`, a chunk per statement.
    pub async fn upsert(&self, conn: &mut PgConnection, schema: &str) -> Result<(), sqlx::Error> {
        for chunk in self.dirty().chunks(CHUNK) {
            R::upsert(&mut *conn, schema, chunk).await?;
        }
        Ok(())
    }

    /// Copies the changed rows, in key order, into the empty table of `schema`.
    pub async fn copy_changed(
        &self,
        conn: &mut PgConnection,
        schema: &str,
    ) -> Result<(), sqlx::Error> {
        Self::copy(conn, schema, &self.dirty()).await
    }

    /// Copies `rows` into the empty table of `schema`, in this order.
    pub async fn copy(
        conn: &mut PgConnection,
        schema: &str,
        rows: &[(Uuid, &R)],
    ) -> Result<(), sqlx::Error> {
        let table = format!("{schema}.{}", R::TABLE);
        let mut copy = Copy::start(conn, &table, R::COLUMNS).await?;
        for (id, row) in rows {
            R::encode(&mut copy, id, row)?;
            copy.send_when_full().await?;
        }
        copy.finish().await?;
        Ok(())
    }

    /// Hands on the changed rows and forgets every row: a replay folding stream by stream loads
    /// each row as soon as its stream is folded, so the state never holds more than one.
    pub fn take(&mut self, into: &mut Vec<(Uuid, R)>) {
        for id in std::mem::take(&mut self.dirty) {
            if let Some(row) = self.rows.remove(&id) {
                into.push((id, row));
            }
        }
        self.rows.clear();
    }

    /// The rows that differ between `self` (rebuilt) and `live` (as stored).
    pub fn differences(&self, live: &Self) -> Vec<String> {
        diff_maps(R::WHAT, &self.rows, &live.rows)
    }
}
