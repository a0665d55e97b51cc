//! The booking engine's pure core: no I/O, no async, no clock (`now` is always an argument).
//!
//! - [`period`]: half-open UTC periods and set arithmetic over them.
//! - [`hours`]: weekly opening hours in local wall time, DST-correct.
//! - [`availability`]: free time per unit and bookable slots.
//! - [`aggregate`]: the one shape of an aggregate (decide/evolve) and given/when/then tests.
//! - [`resource`] and [`booking`]: the two aggregates, their rules and decisions; a resource's
//!   booking rules are its [`policy`].
//! - [`service`]: the service aggregate (duration, price, buffers, where it is offered).
//! - [`lifecycle`]: what each booking event does to its status and its units, written once.
//! - [`event`]: the persisted events, with stable type names and schema versions.
//! - [`recurrence`]: recurrence rules of a series (an RFC 5545 `RRULE` subset) and their
//!   expansion into occurrences, DST-correct.
//! - [`series`]: the series aggregate: a recurring booking, whose occurrences are ordinary
//!   bookings carrying its id.
//! - [`attributes`]: a resource's attributes and their limits.
//! - [`personal`]: a customer's personal data, validated, and the sealed form events carry.
//! - [`ids`]: identifier newtypes.

pub mod aggregate;
pub mod attributes;
pub mod availability;
pub mod booking;
pub mod currency;
pub mod event;
pub mod hours;
pub mod ids;
pub mod lifecycle;
pub mod period;
pub mod personal;
pub mod policy;
pub mod recurrence;
pub mod resource;
pub mod series;
pub mod service;

pub use event::{Event, StreamType};
pub use period::Period;
