//! The scenarios of a suite run. Each returns the figures it measured; the suite takes medians.

pub mod commands;
pub mod hot;
pub mod mix;
pub mod products;
pub mod reads;
pub mod references;
pub mod replay;
