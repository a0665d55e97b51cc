-- Cache invalidations a projector batch owes, recorded in the batch's own transaction: sent to
-- Redis (and announced to query-api) after the commit, then deleted. A projector that dies
-- between its commit and Redis finds them at its next start (or its next idle moment), so no
-- cached answer outlives a change by more than that.
--
-- One row per resource and local day (`day` null: the resource itself changed, which only
-- query-api's in-process cache holds), at the latest position that changed it.
create table if not exists read.cache_invalidations (
    tenant_id       text not null,
    resource_id     uuid not null,
    day             date,
    transaction_id  xid8 not null,
    global_position bigint not null
);
-- The upsert of each batch and the delete once sent.
create unique index if not exists cache_invalidations_key
    on read.cache_invalidations (tenant_id, resource_id, day) nulls not distinct;
