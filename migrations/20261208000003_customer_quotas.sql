-- The write side's count of what each customer has booked on each resource, for the quotas
-- (`max_active_bookings_per_customer`, `max_bookings_per_customer_per_day`): one row per booking
-- that still counts, kept in the transaction of every command that changes the booking, so a
-- quota is checked against committed truth under a per-(resource, customer) lock, never against
-- the lagging read models. Kept for every booking, so a quota set later counts what is there.
create table if not exists customer_bookings (
    booking_id  uuid primary key,
    tenant_id   text not null,
    resource_id uuid not null,
    customer_id text not null,
    -- The resource's local date of the booking's start (the per-day quota's day).
    local_day   date not null,
    end_at      timestamptz not null,
    -- Held, pending, confirmed or checked in: counts toward the active quota until `end_at`.
    active      boolean not null,
    -- A hold's end: past it the hold no longer counts, even before the sweeper expires it.
    expires_at  timestamptz
);

create index if not exists customer_bookings_customer_idx
    on customer_bookings (resource_id, customer_id, local_day);

-- Bookings made before this table existed, as the read model has them (it may trail the store
-- by the projector's lag at the moment of migrating; quotas are new, so none was set then).
insert into customer_bookings
    (booking_id, tenant_id, resource_id, customer_id, local_day, end_at, active, expires_at)
select b.booking_id, b.tenant_id, b.resource_id, b.customer_id,
       (b.start_at at time zone r.time_zone)::date, b.end_at,
       b.status in ('held', 'pending', 'confirmed', 'checked_in'), b.expires_at
from read.bookings b
join read.resources r on r.resource_id = b.resource_id
where b.status not in ('cancelled', 'declined', 'expired')
on conflict (booking_id) do nothing;
