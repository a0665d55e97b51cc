//! The HTTP contract of `../shared/API.md`, in types, in one place for both APIs:
//!
//! - [`code`]: every error `code` a client can receive, with its status and title.
//! - [`requests`]: the bodies command-api reads.
//! - [`views`]: the representations of resources and bookings, the same from command-api and
//!   query-api.
//! - [`problem`]: the shape of every error answer.
//! - [`openapi`]: what both OpenAPI documents share (the problem answers each route lists, the
//!   bearer scheme); the schemas are derived from the types above.

pub mod code;
pub mod openapi;
pub mod problem;
pub mod requests;
pub mod views;

pub use code::ErrorCode;
