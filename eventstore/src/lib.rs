//! The PostgreSQL event store, shared by every service.
//!
//! - [`db`]: connecting (with the session limits every connection must carry) and migrating.
//! - [`position`]: the `(transaction_id, global_position)` pair and its opaque token form.
//! - [`append`]: appending to a stream under optimistic concurrency, in the caller's transaction.
//! - [`read`]: loading one stream, and reading all events in the safe global order.
//! - [`checkpoint`]: where a reader (the relay, a projection) has got to.
//! - [`wire`]: the events on NATS: subjects, headers, and checking a received message.

pub mod append;
pub mod checkpoint;
pub mod db;
pub mod position;
pub mod read;
pub mod wire;

pub use append::{AppendError, Appended, ExpectedVersion, NewEvent};
pub use position::{Position, Xid8};
pub use read::RecordedEvent;
