//! command-api: the write side of the booking engine.
//!
//! A request is authenticated and checked ([`routes`]), then its command ([`commands`]) runs in
//! one Postgres transaction ([`runner`]): it decides with the pure `domain` crate, reserves time
//! in the allocation guard and appends events ([`store`]), and the runner answers ([`reply`]).
//! The [`relay`] publishes committed events to NATS JetStream; the [`sweeper`] expires holds.
//! Both run on one leader at a time (`platform::leader`). [`personal`] seals a booking's
//! personal data on the way in and opens answers on the way out. [`cli`] is the command line,
//! [`config`] the settings.

pub mod app;
pub mod cli;
pub mod commands;
pub mod config;
pub mod error;
pub mod personal;
pub mod relay;
pub mod reply;
pub mod routes;
pub mod runner;
pub mod store;
pub mod sweeper;
pub mod wake;

pub use app::Application;
pub use config::Settings;
