//! The HTTP contract of `../shared/API.md`, in types, in one place for both APIs:
//!
//! - [`code`]: every error `code` a client can receive, with its status and title.
//! - [`requests`]: the bodies command-api reads.
//! - [`views`]: the representations of resources and bookings, the same from command-api and
//!   query-api.

pub mod code;
pub mod requests;
pub mod views;

pub use code::ErrorCode;
