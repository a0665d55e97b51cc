//! A verify's comparison of the rows a replay's fold finishes with the stored ones, as they come:
//! the fold hands them on in stream order, which is their key order, and the stored rows are
//! read in the same order through cursors, a chunk at a time. Neither side is ever held whole.

use std::collections::VecDeque;
use std::fmt::Debug;

use sqlx::PgConnection;
use sqlx::postgres::PgRow;

use super::bookings::BookingRow;
use super::load::Received;
use super::rows::{self, TableRow};
use super::{bookings, daily_stats};

/// Stored rows fetched per round trip.
const FETCH: usize = 2_000;
/// Lines kept of a comparison; past them, only counted.
const MAX_LINES: usize = 10_000;

/// Compares the rows arriving on `received` with those of `schema`, read on `tx` (which must
/// hold the snapshot to compare with: cursors live in a transaction). Returns a line per row
/// that is missing, extra or different, as [`super::diff_maps`] names them.
pub async fn streamed(
    tx: &mut PgConnection,
    schema: &str,
    received: Received,
) -> Result<Vec<String>, sqlx::Error> {
    let mut out = Lines::default();
    if let Some(mut batches) = received.bookings {
        let mut live = Cursor::open(
            tx,
            "replay_live_bookings",
            &format!(
                "select {} from {schema}.bookings order by booking_id",
                BookingRow::COLUMNS
            ),
            rows::decode::<BookingRow>,
        )
        .await?;
        let mut busy = Cursor::open(
            tx,
            "replay_live_busy",
            &format!(
                "select booking_id, unit, lower(during), upper(during) from {schema}.busy
                 order by booking_id, unit"
            ),
            decode_busy,
        )
        .await?;
        while let Some(batch) = batches.recv().await {
            for (id, row) in batch.iter() {
                live.compare(tx, "booking", *id, row, &mut out).await?;
                for (key, during) in bookings::busy_rows(*id, row) {
                    busy.compare(tx, "busy", key, &during, &mut out).await?;
                }
            }
        }
        live.rest(tx, "booking", &mut out).await?;
        busy.rest(tx, "busy", &mut out).await?;
    }
    if let Some(mut batches) = received.stats_bookings {
        let mut live = Cursor::open(
            tx,
            "replay_live_stats_bookings",
            &format!(
                "select {} from {schema}.stats_bookings order by booking_id",
                daily_stats::BOOKING_COLUMNS
            ),
            daily_stats::decode_booking,
        )
        .await?;
        while let Some(batch) = batches.recv().await {
            for (id, booking) in batch.iter() {
                live.compare(tx, "stats booking", *id, booking, &mut out)
                    .await?;
            }
        }
        live.rest(tx, "stats booking", &mut out).await?;
    }
    Ok(out.finish())
}

type Busy = (bookings::BusyRow, bookings::During);

fn decode_busy(row: &PgRow) -> Result<Busy, sqlx::Error> {
    use sqlx::Row as _;
    Ok((
        (row.try_get(0)?, row.try_get(1)?),
        (row.try_get(2)?, row.try_get(3)?),
    ))
}

/// The lines of a comparison, at most [`MAX_LINES`] of them kept.
#[derive(Default)]
struct Lines {
    kept: Vec<String>,
    more: u64,
}

impl Lines {
    fn push(&mut self, line: String) {
        if self.kept.len() < MAX_LINES {
            self.kept.push(line);
        } else {
            self.more += 1;
        }
    }

    fn finish(mut self) -> Vec<String> {
        if self.more > 0 {
            self.kept.push(format!("… and {} more", self.more));
        }
        self.kept
    }
}

/// Stored rows read in key order through a cursor of the caller's transaction.
struct Cursor<K, V> {
    name: &'static str,
    decode: fn(&PgRow) -> Result<(K, V), sqlx::Error>,
    fetched: VecDeque<(K, V)>,
    exhausted: bool,
}

impl<K: Ord + Debug, V: PartialEq + Debug> Cursor<K, V> {
    async fn open(
        tx: &mut PgConnection,
        name: &'static str,
        sql: &str,
        decode: fn(&PgRow) -> Result<(K, V), sqlx::Error>,
    ) -> Result<Self, sqlx::Error> {
        sqlx::query(&format!("declare {name} no scroll cursor for {sql}"))
            .execute(&mut *tx)
            .await?;
        Ok(Cursor {
            name,
            decode,
            fetched: VecDeque::with_capacity(FETCH),
            exhausted: false,
        })
    }

    /// The next stored row, fetching more when needed.
    async fn next(&mut self, tx: &mut PgConnection) -> Result<Option<&(K, V)>, sqlx::Error> {
        if self.fetched.is_empty() && !self.exhausted {
            let rows = sqlx::query(&format!("fetch {FETCH} from {}", self.name))
                .fetch_all(&mut *tx)
                .await?;
            self.exhausted = rows.len() < FETCH;
            for row in &rows {
                self.fetched.push_back((self.decode)(row)?);
            }
        }
        Ok(self.fetched.front())
    }

    /// Compares the rebuilt row `key` → `value` with the stored ones (keys must come in
    /// ascending order): stored rows before it are in live only.
    async fn compare(
        &mut self,
        tx: &mut PgConnection,
        what: &str,
        key: K,
        value: &V,
        out: &mut Lines,
    ) -> Result<(), sqlx::Error> {
        loop {
            let order = self.next(tx).await?.map(|(stored, _)| stored.cmp(&key));
            match order {
                Some(std::cmp::Ordering::Less) => {
                    if let Some((stored, _)) = self.fetched.pop_front() {
                        out.push(format!("{what} {stored:?}: in live only"));
                    }
                }
                Some(std::cmp::Ordering::Equal) => {
                    if let Some((_, stored)) = self.fetched.pop_front()
                        && stored != *value
                    {
                        out.push(format!(
                            "{what} {key:?}: live {stored:?} ≠ rebuilt {value:?}"
                        ));
                    }
                    return Ok(());
                }
                _ => {
                    out.push(format!("{what} {key:?}: missing in live"));
                    return Ok(());
                }
            }
        }
    }

    /// The stored rows after the last rebuilt one: in live only.
    async fn rest(
        mut self,
        tx: &mut PgConnection,
        what: &str,
        out: &mut Lines,
    ) -> Result<(), sqlx::Error> {
        while self.next(tx).await?.is_some() {
            if let Some((stored, _)) = self.fetched.pop_front() {
                out.push(format!("{what} {stored:?}: in live only"));
            }
        }
        sqlx::query(&format!("close {}", self.name))
            .execute(&mut *tx)
            .await?;
        Ok(())
    }
}
