-- Read models (schema `read`): built by the projector from the events, read by query-api.
-- Every index names the query it serves. Rows carry `tenant_id`; every query filters on it.

create schema if not exists read;

-- Projection `resources`.
create table if not exists read.resources (
    resource_id   uuid primary key,
    tenant_id     text not null,
    name          text not null,
    kind          text not null,
    capacity      integer not null,
    time_zone     text not null,
    opening_hours jsonb,
    policy        jsonb not null,
    blackouts     jsonb not null default '[]'::jsonb,
    version       bigint not null,
    created_at    timestamptz not null,
    updated_at    timestamptz not null
);
-- GET /v1/resources?kind=…: keyset over (kind, id) within a tenant; and without kind over id.
create index if not exists resources_tenant_kind_idx on read.resources (tenant_id, kind, resource_id);
create index if not exists resources_tenant_idx on read.resources (tenant_id, resource_id);

-- Projection `bookings`: the bookings and the busy intervals per unit.
create table if not exists read.bookings (
    booking_id  uuid primary key,
    tenant_id   text not null,
    resource_id uuid not null,
    customer_id text not null,
    status      text not null,
    start_at    timestamptz not null,
    end_at      timestamptz not null,
    -- The period widened by the resource's buffers at booking time (what read.busy holds).
    blocked_start timestamptz not null,
    blocked_end   timestamptz not null,
    quantity    integer not null,
    units       integer[] not null,
    expires_at  timestamptz,
    metadata    jsonb not null,
    version     bigint not null,
    created_at  timestamptz not null,
    updated_at  timestamptz not null
);
-- GET /v1/bookings?resource_id=…&from=&to=: keyset by (start, id) per resource.
create index if not exists bookings_resource_start_idx
    on read.bookings (tenant_id, resource_id, start_at, booking_id);
-- GET /v1/bookings?customer_id=… (and every client's own list).
create index if not exists bookings_customer_start_idx
    on read.bookings (tenant_id, customer_id, start_at, booking_id);
-- GET /v1/bookings?status=….
create index if not exists bookings_status_start_idx
    on read.bookings (tenant_id, status, start_at, booking_id);
-- GET /v1/bookings with no filter: the tenant's bookings by start.
create index if not exists bookings_tenant_start_idx
    on read.bookings (tenant_id, start_at, booking_id);

-- Busy intervals (the blocked period, buffers included) per unit of live bookings.
create table if not exists read.busy (
    booking_id  uuid not null,
    unit        integer not null,
    tenant_id   text not null,
    resource_id uuid not null,
    during      tstzrange not null,
    primary key (booking_id, unit)
);
-- Availability: the busy intervals of one resource overlapping a window.
create index if not exists busy_resource_during_idx on read.busy using gist (resource_id, during);

-- Projection `daily_stats`: per resource and local day (in the resource's zone).
create table if not exists read.daily_stats (
    resource_id    uuid not null,
    day            date not null,
    tenant_id      text not null,
    bookings       integer not null default 0,
    cancellations  integer not null default 0,
    -- Unit-minutes of live (pending or confirmed) bookings within the day.
    booked_minutes bigint not null default 0,
    primary key (resource_id, day)
);
-- GET /v1/stats/daily?from=&to=: a tenant's days in a range.
create index if not exists daily_stats_tenant_day_idx on read.daily_stats (tenant_id, day, resource_id);

-- The daily_stats projection's own memory, so it never depends on another projection's
-- progress: each resource's zone and capacity, and what each booking currently contributes.
create table if not exists read.stats_resources (
    resource_id uuid primary key,
    time_zone   text not null
);
create table if not exists read.stats_bookings (
    booking_id  uuid primary key,
    resource_id uuid not null,
    start_at    timestamptz not null,
    end_at      timestamptz not null,
    quantity    integer not null,
    -- Whether it currently counts as booked (pending or confirmed).
    live        boolean not null,
    -- Whether it has been counted in `bookings` (at most once).
    counted     boolean not null
);

-- Events a projection could not apply: kept with the error, loudly, never skipped silently.
create table if not exists read.dead_letters (
    projection      text not null,
    event_id        uuid not null,
    global_position bigint not null,
    event_type      text not null,
    error           text not null,
    recorded_at     timestamptz not null default now(),
    primary key (projection, event_id)
);
