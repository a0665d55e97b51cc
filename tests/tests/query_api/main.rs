//! query-api end to end: each test writes through command-api into its own database, brings
//! the read models up to date with the projector's own catch-up when it chooses
//! ([`tests::QueryApp::project`]), and reads through query-api with its own Redis key prefix and
//! notice subject.

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
