//! query-api: the read side of the booking engine.
//!
//! Requests are authenticated and checked ([`routes`]), then answered from the read models the
//! projector builds in Postgres ([`store`]). Availability goes through the cache tiers
//! ([`cache`]: in-process, Redis, Postgres, per resource and local day; resource rows and whole
//! rendered answers in process; the projector's change notices keep them fresh) and is computed
//! by the pure `domain` crate ([`availability`]); `min_position` waits make reads see the
//! caller's own writes
//! ([`consistency`]). CPU-heavy reads run bounded: a process-wide limit, a budget per request,
//! cancellation at the deadline ([`compute`]). The live check before booking reads the write
//! side: resources from the event store and the guard table. [`cli`] is the command line,
//! [`config`] the settings.

pub mod app;
pub mod availability;
pub mod cache;
pub mod cli;
pub mod compute;
pub mod config;
pub mod consistency;
pub mod cursor;
pub mod error;
pub mod params;
pub mod routes;
pub mod store;
pub mod views;

pub use app::Application;
pub use config::Settings;
