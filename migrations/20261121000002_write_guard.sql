-- The write-side guard: "never double-booked" is a constraint, not a check-then-insert.
--
-- A resource of capacity N has units 0..N-1; a booking of quantity q holds q rows, one per unit,
-- over its period widened by the resource's buffers. Two rows of the same resource and unit
-- can never overlap, for every instance of command-api at once.
create table if not exists allocations (
    tenant_id   text not null,
    resource_id uuid not null,
    unit        integer not null check (unit >= 0),
    during      tstzrange not null check (not isempty(during)),
    booking_id  uuid not null,
    -- Set while the booking is an unconfirmed hold. The constraint cannot look at now(), so an
    -- expired hold keeps its rows until the sweeper (or a colliding command) frees them.
    expires_at  timestamptz,
    constraint allocations_no_overlap
        exclude using gist (resource_id with =, unit with =, during with &&)
);

-- Freeing and moving a booking's rows.
create index if not exists allocations_booking_idx on allocations (booking_id);
-- The hold sweeper's scan.
create index if not exists allocations_expiring_idx on allocations (expires_at)
    where expires_at is not null;

-- Idempotency-Key records: a retry with the same key and request returns the stored answer.
create table if not exists idempotency_keys (
    tenant_id       text not null,
    key             text not null,
    fingerprint     bytea not null,
    response_status smallint,
    response_body   jsonb,
    created_at      timestamptz not null default now(),
    primary key (tenant_id, key)
);

-- Purging keys older than the retention window.
create index if not exists idempotency_keys_created_idx on idempotency_keys (created_at);
