//! The resources a pool booking may go on, as the write side knows them.
//!
//! Candidates come from the event store, never from the read model (which lags and may be
//! rebuilding): a `resource_ids` list is loaded stream by stream in one query, and a `pool`
//! loads every resource stream of the tenant (found through the `streams` table and its
//! `(tenant_id, stream_type)` index, in one query with their events) and keeps the ones the
//! filter matches, with the one matcher of the filter's rules
//! ([`readmodel::filter::ResourceFilter::matches`]).
//!
//! Why not a write-side index table of (tenant, kind, attributes) kept by the resource commands?
//! It would read fewer rows for tenants with many resources of other kinds, but it is a second
//! copy of the resource state that needs a backfill of every existing resource (by replaying
//! their streams) and must follow every future resource event; the `streams` table is already
//! the write side's truth, needs only an index, and a tenant's resources are few and short
//! streams (created, a few updates) next to its bookings, which the index skips.
//!
//! Nothing here locks: the guard decides each candidate on its own rows.

use domain::event::StreamType;
use domain::ids::{ResourceId, TenantId};
use domain::resource::Resource;
use readmodel::filter::ResourceFilter;
use sqlx::PgConnection;

use super::aggregates;
use crate::error::CommandError;

/// The most resource ids one request may list.
pub const MAX_LISTED: usize = 100;

/// Which resources a booking may go on.
#[derive(Clone, Debug, PartialEq)]
pub enum Candidates {
    /// These, tried in this order.
    Listed(Vec<ResourceId>),
    /// The tenant's resources the filter matches, tried by name, then id.
    Pool(ResourceFilter),
}

impl Candidates {
    /// The candidates in the order to try them: only existing, non-archived resources of the
    /// tenant (each once).
    pub async fn load(
        &self,
        conn: &mut PgConnection,
        tenant: &TenantId,
    ) -> Result<Vec<Resource>, CommandError> {
        match self {
            Candidates::Listed(ids) => {
                let mut loaded: Vec<Resource> = aggregates::load_many(conn, tenant, ids).await?;
                let mut ordered = Vec::with_capacity(loaded.len());
                for id in ids {
                    if let Some(at) = loaded.iter().position(|r| r.id == *id) {
                        ordered.push(loaded.swap_remove(at));
                    }
                }
                ordered.retain(|r| !r.spec.archived);
                Ok(ordered)
            }
            Candidates::Pool(filter) => {
                let mut all: Vec<Resource> =
                    aggregates::load_all(conn, tenant, StreamType::Resource).await?;
                all.retain(|r| {
                    !r.spec.archived
                        && filter.matches(&r.spec.kind, r.spec.archived, r.spec.attributes.as_map())
                });
                all.sort_by(|a, b| a.spec.name.cmp(&b.spec.name).then(a.id.0.cmp(&b.id.0)));
                Ok(all)
            }
        }
    }
}
