//! "Changed" notices: after each commit the projector publishes which resources and local days
//! changed (core NATS, at most once: a lost notice only delays an L1 refresh until its TTL),
//! and every query-api instance drops those entries from its in-process cache.

use chrono::NaiveDate;
use domain::ids::{ResourceId, TenantId};
use eventstore::Position;
use serde::{Deserialize, Serialize};

/// One resource's changed days (empty `days` = the resource itself changed: drop all of it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changed {
    pub tenant: TenantId,
    pub resource_id: ResourceId,
    pub days: Vec<NaiveDate>,
    pub position: Position,
}

/// The subject notices go to: `{prefix}.{tenant}`.
pub fn subject(prefix: &str, tenant: &TenantId) -> String {
    format!("{prefix}.{tenant}")
}

/// The subscription that receives every tenant's notices.
pub fn wildcard(prefix: &str) -> String {
    format!("{prefix}.*")
}
