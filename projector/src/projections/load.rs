//! A replay's streaming load: the rows of each stream the fold has finished go into the shadow
//! tables with `COPY` while the fold goes on, one table per connection. Neither the fold nor the
//! load holds the history: a few batches are in flight per table, and the fold waits for a table
//! that falls behind.

use std::sync::Arc;

use readmodel::projections::Projection;
use sqlx::PgPool;
use sqlx::pool::PoolConnection;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::bookings::BookingRow;
use super::copy::Copy;
use super::rows::TableRow;
use super::{Finished, bookings, daily_stats};

/// The tables loaded while the fold goes on. The projections' other tables are few rows that
/// the fold holds until it ends (resources, zones, per-day sums).
pub const STREAMED: [&str; 3] = ["bookings", "busy", "stats_bookings"];

/// Batches queued per table before the fold waits.
const IN_FLIGHT: usize = 2;

/// Rows of finished streams, in stream order.
pub type Batch<T> = Arc<Vec<(Uuid, T)>>;
type Encoder<T> = fn(&mut Copy<'_>, &Uuid, &T) -> Result<(), sqlx::Error>;

/// Where the fold sends the rows it finished (cheap to clone; drop every clone to end the
/// copies).
#[derive(Clone, Debug, Default)]
pub struct Rows {
    /// `read.bookings` and `read.busy` both come from the booking rows.
    bookings: Vec<mpsc::Sender<Batch<bookings::BookingRow>>>,
    stats_bookings: Vec<mpsc::Sender<Batch<daily_stats::StatsBooking>>>,
}

/// A copy stopped (its error comes from [`Copies::finish`]).
#[derive(Debug, thiserror::Error)]
#[error("a COPY into a shadow table stopped")]
pub struct Stopped;

impl Rows {
    /// Hands `finished` on to the copies, waiting while they are behind (from a blocking
    /// thread; never from the async runtime).
    pub fn blocking_send(&self, finished: Finished) -> Result<(), Stopped> {
        send(&self.bookings, finished.bookings)?;
        send(&self.stats_bookings, finished.stats_bookings)
    }
}

fn send<T>(to: &[mpsc::Sender<Batch<T>>], rows: Vec<(Uuid, T)>) -> Result<(), Stopped> {
    if rows.is_empty() || to.is_empty() {
        return Ok(());
    }
    let rows = Arc::new(rows);
    for copy in to {
        copy.blocking_send(Arc::clone(&rows)).map_err(|_| Stopped)?;
    }
    Ok(())
}

/// The receiving ends of [`Rows`] for a verify, which compares the rows instead of loading them.
#[derive(Debug, Default)]
pub struct Received {
    pub bookings: Option<mpsc::Receiver<Batch<bookings::BookingRow>>>,
    pub stats_bookings: Option<mpsc::Receiver<Batch<daily_stats::StatsBooking>>>,
}

/// Channels for the rows the fold of `projections` finishes, to compare them as they come.
pub fn channels(projections: &[Projection]) -> (Rows, Received) {
    let mut rows = Rows::default();
    let mut received = Received::default();
    for projection in projections {
        match projection {
            Projection::Resources => {}
            Projection::Bookings => {
                let (sender, receiver) = mpsc::channel(IN_FLIGHT);
                rows.bookings.push(sender);
                received.bookings = Some(receiver);
            }
            Projection::DailyStats => {
                let (sender, receiver) = mpsc::channel(IN_FLIGHT);
                rows.stats_bookings.push(sender);
                received.stats_bookings = Some(receiver);
            }
        }
    }
    (rows, received)
}

/// The copies in progress.
#[derive(Debug, Default)]
pub struct Copies {
    running: Vec<(String, JoinHandle<Result<u64, sqlx::Error>>)>,
}

/// Starts a `COPY` into each streamed table of `projections` in `schema` (created empty, without
/// indexes), each on a connection of `pool`.
pub async fn start(
    pool: &PgPool,
    schema: &str,
    projections: &[Projection],
) -> Result<(Rows, Copies), sqlx::Error> {
    let mut rows = Rows::default();
    let mut copies = Copies::default();
    for projection in projections {
        match projection {
            Projection::Resources => {}
            Projection::Bookings => {
                let table = format!("{schema}.bookings");
                let encode: Encoder<BookingRow> = BookingRow::encode;
                rows.bookings.push(
                    copies
                        .spawn(pool, table, BookingRow::COLUMNS, encode)
                        .await?,
                );
                let table = format!("{schema}.busy");
                let encode: Encoder<bookings::BookingRow> = bookings::encode_busy;
                rows.bookings.push(
                    copies
                        .spawn(pool, table, bookings::BUSY_COLUMNS, encode)
                        .await?,
                );
            }
            Projection::DailyStats => {
                let table = format!("{schema}.stats_bookings");
                let encode: Encoder<daily_stats::StatsBooking> = daily_stats::encode_booking;
                rows.stats_bookings.push(
                    copies
                        .spawn(pool, table, daily_stats::BOOKING_COLUMNS, encode)
                        .await?,
                );
            }
        }
    }
    Ok((rows, copies))
}

impl Copies {
    async fn spawn<T: Send + Sync + 'static>(
        &mut self,
        pool: &PgPool,
        table: String,
        columns: &'static str,
        encode: Encoder<T>,
    ) -> Result<mpsc::Sender<Batch<T>>, sqlx::Error> {
        let conn = pool.acquire().await?;
        let (sender, batches) = mpsc::channel(IN_FLIGHT);
        let task = tokio::spawn(copy_batches(conn, table.clone(), columns, batches, encode));
        self.running.push((table, task));
        Ok(sender)
    }

    /// Waits for every copy to end (once every [`Rows`] is dropped); returns each table with
    /// the rows it stored, or the first error.
    pub async fn finish(self) -> anyhow::Result<Vec<(String, u64)>> {
        let mut stored = Vec::new();
        let mut failed = None;
        for (table, task) in self.running {
            match task.await {
                Ok(Ok(rows)) => stored.push((table, rows)),
                Ok(Err(err)) => {
                    failed.get_or_insert(
                        anyhow::Error::new(err).context(format!("cannot load {table}")),
                    );
                }
                Err(err) => {
                    failed.get_or_insert(
                        anyhow::Error::new(err).context(format!("the load of {table} stopped")),
                    );
                }
            }
        }
        match failed {
            Some(err) => Err(err),
            None => Ok(stored),
        }
    }
}

async fn copy_batches<T>(
    mut conn: PoolConnection<sqlx::Postgres>,
    table: String,
    columns: &'static str,
    mut batches: mpsc::Receiver<Batch<T>>,
    encode: Encoder<T>,
) -> Result<u64, sqlx::Error> {
    let mut copy = Copy::start(&mut conn, &table, columns).await?;
    while let Some(batch) = batches.recv().await {
        for (id, row) in batch.iter() {
            encode(&mut copy, id, row)?;
            copy.send_when_full().await?;
        }
    }
    copy.finish().await
}
