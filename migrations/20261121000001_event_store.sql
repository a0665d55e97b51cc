-- The event store: the only source of truth. Events are appended, never updated or deleted.

create extension if not exists btree_gist;

-- One row per stream: its owner tenant, its kind and its current version. Appends
-- compare-and-set `version`; the unique (stream_id, stream_version) on events is the backstop.
create table if not exists streams (
    stream_id   uuid primary key,
    tenant_id   text not null,
    stream_type text not null,
    version     bigint not null check (version >= 0),
    created_at  timestamptz not null default now()
);

create table if not exists events (
    global_position bigint generated always as identity primary key,
    -- Readers order by (transaction_id, global_position) and only read below the oldest
    -- running transaction, so an identity value that commits late is never skipped.
    transaction_id  xid8 not null default pg_current_xact_id(),
    tenant_id       text not null,
    stream_id       uuid not null references streams (stream_id),
    stream_version  bigint not null check (stream_version >= 1),
    event_id        uuid not null,
    event_type      text not null,
    schema_version  smallint not null,
    payload         jsonb not null,
    metadata        jsonb not null default '{}'::jsonb,
    recorded_at     timestamptz not null default now(),
    constraint events_event_id_key unique (event_id),
    constraint events_stream_version_key unique (stream_id, stream_version)
);

-- The relay's and the projectors' safe-order scan.
create index if not exists events_safe_order_idx on events (transaction_id, global_position);

-- Append-only, enforced by the database rather than by convention.
create or replace function events_are_immutable() returns trigger language plpgsql as $$
begin
    raise exception 'events are append-only (% refused)', tg_op;
end;
$$;

drop trigger if exists events_append_only on events;
create trigger events_append_only
    before update or delete on events
    for each row execute function events_are_immutable();

-- Where the relay and each projection have got to, as a (transaction_id, global_position) pair.
create table if not exists checkpoints (
    name            text primary key,
    transaction_id  xid8 not null default '0'::xid8,
    global_position bigint not null default 0,
    updated_at      timestamptz not null default now()
);
