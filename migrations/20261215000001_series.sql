-- v1.1: recurring series (projected by the `bookings` projection, next to their occurrences).

-- The series a booking is an occurrence of (null for a single booking).
alter table read.bookings add column if not exists series_id uuid;
-- GET /v1/series/{id}: the series' occurrences by start.
create index if not exists bookings_series_start_idx
    on read.bookings (tenant_id, series_id, start_at, booking_id) where series_id is not null;

-- Each series as it was asked for, with the occurrences it booked and skipped when created.
-- GET /v1/series/{id} reads it by its primary key.
create table if not exists read.series (
    series_id   uuid primary key,
    tenant_id   text not null,
    resource_id uuid not null,
    customer_id text not null,
    -- The first occurrence.
    start_at    timestamptz not null,
    end_at      timestamptz not null,
    -- The rule in canonical form.
    rrule       text not null,
    on_conflict text not null,
    quantity    integer not null,
    hold        boolean not null,
    service_id  uuid,
    metadata    jsonb not null,
    booking_ids uuid[] not null,
    -- [{start, end, code}] of the occurrences not booked.
    skipped     jsonb not null,
    version     bigint not null,
    created_at  timestamptz not null,
    updated_at  timestamptz not null
);
