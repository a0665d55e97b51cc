-- v1.1: services (projected by the `resources` projection) and what a booking records of them.
create table if not exists read.services (
    service_id uuid primary key,
    tenant_id text not null,
    name text not null,
    -- The service's full description (domain `ServiceSpec` as JSON).
    spec jsonb not null,
    archived boolean not null,
    version bigint not null,
    created_at timestamptz not null,
    updated_at timestamptz not null
);
-- GET /v1/services: a tenant's services, keyset by id.
create index if not exists services_tenant_id_idx on read.services (tenant_id, service_id);

-- The service booked and the price as it was at booking time.
alter table read.bookings add column if not exists service_id uuid;
alter table read.bookings add column if not exists price_amount_minor bigint;
alter table read.bookings add column if not exists price_currency text;
