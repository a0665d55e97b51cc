//! query-api against the real Postgres, Redis and NATS of this machine (`eval
//! "$(scripts/services)"`). Each test has its own database, Redis key prefix and notice subject;
//! the read models are written with SQL, as the projector would write them.

mod harness;

mod answers;
mod availability;
mod bookings;
mod cache;
mod check;
mod consistency;
mod errors;
mod explain;
mod resource_cache;
mod resources;
mod stats;
mod work;
