//! Positions in the global event order.
//!
//! Identity values become visible out of order, so the global order is the pair
//! `(transaction_id, global_position)`: readers only read below the oldest running transaction,
//! and within that order nothing can appear behind them later. Clients see the pair as an opaque
//! token (`position` in answers, `min_position` in queries).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgRow, PgTypeInfo, PgValueFormat, PgValueRef};
use sqlx::{Decode, Encode, FromRow, Postgres, Row, Type};

/// A point in the global order; `Position::START` is before every event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// The `xid8` of the transaction that wrote the event.
    pub transaction_id: u64,
    pub global_position: i64,
}

impl Position {
    pub const START: Position = Position {
        transaction_id: 0,
        global_position: 0,
    };

    pub fn new(transaction_id: u64, global_position: i64) -> Self {
        Self {
            transaction_id,
            global_position,
        }
    }
}

/// The token form is `<transaction_id>.<global_position>`; clients must treat it as opaque.
impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.transaction_id, self.global_position)
    }
}

/// A token that is not a position.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a position token")]
pub struct InvalidPosition;

impl FromStr for Position {
    type Err = InvalidPosition;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (xid, position) = s.split_once('.').ok_or(InvalidPosition)?;
        let transaction_id = xid.parse().map_err(|_| InvalidPosition)?;
        let global_position: i64 = position.parse().map_err(|_| InvalidPosition)?;
        if global_position < 0 {
            return Err(InvalidPosition);
        }
        Ok(Self::new(transaction_id, global_position))
    }
}

/// A position reads from the columns `transaction_id` (`xid8`) and `global_position` of a row,
/// as `events` and `checkpoints` name them: `query_as::<_, Position>("select transaction_id,
/// global_position from …")`.
impl FromRow<'_, PgRow> for Position {
    fn from_row(row: &PgRow) -> Result<Self, sqlx::Error> {
        let Xid8(transaction_id) = row.try_get("transaction_id")?;
        Ok(Self::new(transaction_id, row.try_get("global_position")?))
    }
}

/// A Postgres `xid8` (a transaction id with its epoch), bound and read as itself: no text casts,
/// and `order by transaction_id` stays a numeric order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Xid8(pub u64);

/// `xid8` is built in (since Postgres 13) with this fixed OID.
const XID8_OID: sqlx::postgres::types::Oid = sqlx::postgres::types::Oid(5069);

impl Type<Postgres> for Xid8 {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(XID8_OID)
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        ty.oid() == Some(XID8_OID)
    }
}

impl Encode<'_, Postgres> for Xid8 {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        // The binary form of xid8 is the unsigned 64-bit value, big-endian.
        buf.extend_from_slice(&self.0.to_be_bytes());
        Ok(IsNull::No)
    }
}

impl Decode<'_, Postgres> for Xid8 {
    fn decode(value: PgValueRef<'_>) -> Result<Self, BoxDynError> {
        Ok(Xid8(match value.format() {
            PgValueFormat::Binary => u64::from_be_bytes(value.as_bytes()?.try_into()?),
            PgValueFormat::Text => value.as_str()?.parse()?,
        }))
    }
}

impl Position {
    /// The transaction id as the `xid8` to bind.
    pub fn xid(self) -> Xid8 {
        Xid8(self.transaction_id)
    }
}

impl Serialize for Position {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Position {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let token = String::deserialize(deserializer)?;
        token.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_round_trips() {
        let position = Position::new(7_123_456, 42);
        assert_eq!(position.to_string().parse::<Position>(), Ok(position));
    }

    #[test]
    fn positions_order_by_transaction_first() {
        assert!(Position::new(2, 1) > Position::new(1, 99));
        assert!(Position::new(2, 2) > Position::new(2, 1));
    }

    #[test]
    fn garbage_tokens_are_refused() {
        for token in ["", "12", "a.b", "1.-2", "1.2.3"] {
            assert_eq!(token.parse::<Position>(), Err(InvalidPosition), "{token}");
        }
    }
}
