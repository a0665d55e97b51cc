//! projector: builds the read models from the events.
//!
//! - [`projections`]: how each read model follows the events (a fold over typed rows).
//! - [`worker`]: the live projector of one projection: a durable JetStream consumer applied in
//!   checkpointed batches, reading the event store with NATS as a wake-up.
//! - [`catch_up`]: applying what the store holds after a checkpoint (the worker's step, and a
//!   one-shot catch-up to the store's head without NATS).
//! - [`invalidations`]: the cache invalidations a batch owes, recorded with it and sent after.
//! - [`replay`]: rebuild or verify read models straight from the event store.
//! - [`app`]: the service (one worker per projection, health and metrics).
//! - [`cli`]: the command line; [`config`]: the settings.

pub mod app;
pub mod catch_up;
pub mod cli;
pub mod config;
pub mod invalidations;
pub mod projections;
pub mod replay;
pub mod worker;

pub use app::Application;
pub use config::Settings;
