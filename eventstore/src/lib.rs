//! The PostgreSQL event store, shared by every service.
//!
//! - [`db`]: connecting (with the session limits every connection must carry) and migrating.
//! - [`position`]: the `(transaction_id, global_position)` pair and its opaque token form.
//! - [`append`]: appending to a stream under optimistic concurrency, in the caller's transaction.
//! - [`read`]: loading one stream, and reading all events in the safe global order.
//! - [`checkpoint`]: where a reader (the relay, a projection) has got to.
//! - [`wire`]: the events on NATS: subjects, headers, and checking a received message.
//! - [`personal`]: customers' personal data in events, sealed with per-customer keys that
//!   erasure destroys (crypto-shredding; the design is explained there).

pub mod append;
pub mod checkpoint;
pub mod db;
pub mod personal;
pub mod position;
pub mod read;
pub mod wire;

pub use append::{AppendError, Appended, ExpectedVersion, NewEvent};
pub use position::{Position, Xid8};
pub use read::RecordedEvent;
