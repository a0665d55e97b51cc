//! A replay's bulk load: rows streamed into a fresh table with `COPY … FROM STDIN` in Postgres'
//! binary format.
//!
//! Binary rather than text: no escaping to get wrong (resource names and metadata are free text
//! from the API), and Postgres parses a binary timestamp or uuid far faster than its text form.
//! Each value is encoded by sqlx's own `Encode`, byte for byte what the live workers bind, so the
//! two ways of writing a row cannot drift. Rows are sent in chunks of a few MB while the next
//! chunk is encoded: a million rows never sit in one buffer.

use serde_json::Value;
use sqlx::encode::IsNull;
use sqlx::postgres::{PgArgumentBuffer, PgCopyIn};
use sqlx::{Encode, PgConnection, Postgres};

/// The binary copy header: signature, flags, length of the header extension.
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// Bytes encoded before they are sent: big enough to amortize the round trip through the
/// socket, small enough that memory stays flat.
const SEND_AT: usize = 1 << 20;

/// One `COPY … FROM STDIN (format binary)` in progress. Call [`Copy::finish`]; dropped without
/// it, the copy is aborted (sqlx sends `CopyFail`) and nothing is written.
pub struct Copy<'c> {
    copy: PgCopyIn<&'c mut PgConnection>,
    buf: PgArgumentBuffer,
    fields: i16,
    /// Values written in the current row.
    values: i16,
    rows: u64,
}

impl<'c> Copy<'c> {
    /// Starts copying into `table` (schema-qualified) the `columns` (comma-separated names), in
    /// this order.
    pub async fn start(
        conn: &'c mut PgConnection,
        table: &str,
        columns: &str,
    ) -> Result<Copy<'c>, sqlx::Error> {
        let fields = i16::try_from(columns.split(',').count())
            .map_err(|_| sqlx::Error::Protocol("too many columns for COPY".into()))?;
        let copy = conn
            .copy_in_raw(&format!(
                "copy {table} ({columns}) from stdin with (format binary)"
            ))
            .await?;
        let mut buf = PgArgumentBuffer::default();
        buf.reserve(SEND_AT + (64 << 10));
        buf.extend_from_slice(HEADER);
        Ok(Copy {
            copy,
            buf,
            fields,
            values: fields,
            rows: 0,
        })
    }

    /// Begins the next row; its values follow, one per column, in the columns' order.
    pub fn row(&mut self) -> Result<(), sqlx::Error> {
        self.row_complete()?;
        self.buf.extend_from_slice(&self.fields.to_be_bytes());
        self.values = 0;
        self.rows += 1;
        Ok(())
    }

    /// A row with a value too many or too few would be refused by Postgres with a message
    /// about field counts; say which row and table instead.
    fn row_complete(&self) -> Result<(), sqlx::Error> {
        if self.values == self.fields {
            Ok(())
        } else {
            Err(sqlx::Error::Protocol(format!(
                "COPY row {} has {} values for {} columns",
                self.rows, self.values, self.fields
            )))
        }
    }

    /// One value, as sqlx binds it (`None` is NULL). Not for JSON: use [`Copy::jsonb`].
    pub fn value<'q, T: Encode<'q, Postgres>>(&mut self, value: T) -> Result<(), sqlx::Error> {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        let length = match value
            .encode_by_ref(&mut self.buf)
            .map_err(sqlx::Error::Encode)?
        {
            IsNull::No => i32::try_from(self.buf.len() - start - 4)
                .map_err(|_| sqlx::Error::Protocol("a value over 2 GiB for COPY".into()))?,
            IsNull::Yes => {
                self.buf.truncate(start + 4);
                -1
            }
        };
        self.buf[start..start + 4].copy_from_slice(&length.to_be_bytes());
        self.values += 1;
        Ok(())
    }

    /// A `jsonb` value (`None` is NULL): the version byte, then the JSON text. Written here rather
    /// than through sqlx's `Json`, whose encoder registers a per-value callback in the buffer.
    pub fn jsonb(&mut self, value: Option<&Value>) -> Result<(), sqlx::Error> {
        let Some(value) = value else {
            self.buf.extend_from_slice(&(-1_i32).to_be_bytes());
            self.values += 1;
            return Ok(());
        };
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        self.buf.push(1);
        serde_json::to_writer(&mut *self.buf, value)
            .map_err(|err| sqlx::Error::Encode(Box::new(err)))?;
        let length = i32::try_from(self.buf.len() - start - 4)
            .map_err(|_| sqlx::Error::Protocol("a value over 2 GiB for COPY".into()))?;
        self.buf[start..start + 4].copy_from_slice(&length.to_be_bytes());
        self.values += 1;
        Ok(())
    }

    /// Sends what is encoded once there is enough of it (call after each row).
    pub async fn send_when_full(&mut self) -> Result<(), sqlx::Error> {
        if self.buf.len() >= SEND_AT {
            self.copy.send(self.buf.as_slice()).await?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Sends the rest and ends the copy; returns the number of rows Postgres stored.
    pub async fn finish(mut self) -> Result<u64, sqlx::Error> {
        self.row_complete()?;
        self.buf.extend_from_slice(&(-1_i16).to_be_bytes());
        self.copy.send(self.buf.as_slice()).await?;
        let stored = self.copy.finish().await?;
        if stored != self.rows {
            return Err(sqlx::Error::Protocol(format!(
                "COPY stored {stored} rows of {}",
                self.rows
            )));
        }
        Ok(stored)
    }
}
