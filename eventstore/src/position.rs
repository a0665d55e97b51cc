//! Positions in the global event order.
//!
//! Identity values become visible out of order, so the global order is the pair
//! `(transaction_id, global_position)`: readers only read below the oldest running transaction,
//! and within that order nothing can appear behind them later. Clients see the pair as an opaque
//! token (`position` in answers, `min_position` in queries).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

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
