//! The contract between the projector (which writes read models and invalidates caches) and
//! query-api (which reads and fills them):
//!
//! - [`projections`]: the projections and their checkpoint names.
//! - [`cache`]: the availability cache in Redis: keys per resource and local day, values that
//!   carry the read-model position they were computed at, and a compare-and-set that never lets a
//!   late fill overwrite a newer invalidation.
//! - [`filter`]: which resources a request means (kind, attributes, archived), parsed once
//!   and translated once into SQL over `read.resources`, for every endpoint that chooses a set
//!   of resources.
//! - [`notice`]: the small "changed" notices the projector publishes after each commit, on which
//!   query-api drops its in-process entries.

pub mod cache;
pub mod filter;
pub mod notice;
pub mod projections;
