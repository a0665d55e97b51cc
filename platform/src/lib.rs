//! HTTP plumbing shared by the three services. Each module owns one concern:
//! errors as problem+json, what a database failure means, bearer-token auth (HS256 secret,
//! JWKS) and per-route roles, JSON bodies and path parameters in the house error format, rate
//! limits (per token, tenant and client address), the NATS connection's credentials, health and
//! metrics endpoints, start-up that waits for its dependencies, failpoints, logging set-up and
//! shutdown.

pub mod auth;
pub mod database;
pub mod failpoint;
pub mod health;
pub mod json;
pub mod metrics;
pub mod nats;
pub mod path;
pub mod problem;
pub mod rate_limit;
pub mod service;
pub mod shutdown;
pub mod startup;
pub mod telemetry;
pub mod timeout;
pub mod trace;

pub use problem::Problem;
