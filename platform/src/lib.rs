//! The service chassis and HTTP plumbing shared by every binary. Each module owns one concern:
//! the command line and `main` ([`chassis`]), settings shared between services ([`settings`]),
//! errors as problem+json, what a database failure means, bearer-token auth (HS256 secret,
//! JWKS) and per-route roles, JSON bodies and path parameters in the house error format, rate
//! limits (per token, tenant and client address), the NATS connection's credentials,
//! single-leader background work ([`leader`]), encrypted connections ([`tls`]), health and
//! metrics endpoints, start-up that waits for its dependencies, failpoints, logging set-up and
//! shutdown.

pub mod auth;
pub mod chassis;
pub mod database;
pub mod failpoint;
pub mod health;
pub mod json;
pub mod leader;
pub mod metrics;
pub mod nats;
pub mod path;
pub mod problem;
pub mod rate_limit;
pub mod service;
pub mod settings;
pub mod shutdown;
pub mod startup;
pub mod telemetry;
pub mod timeout;
pub mod tls;
pub mod trace;

pub use problem::Problem;
