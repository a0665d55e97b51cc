-- v1.1 stats for dashboards: per resource, local day, service and currency, the bookings counted
-- by status, the booked unit-minutes, and the revenue booked and realized in minor units.
--
-- Booked minutes now count confirmed, checked-in and completed bookings only (a pending request
-- no longer does), and past bookings must be split by service and priced. So the projection is
-- rebuilt: its tables are emptied and its checkpoint removed, and the projector catches up from
-- the start of the event store (stats read as partial until it has).
truncate read.daily_stats, read.stats_bookings, read.stats_resources;
delete from checkpoints where name = 'projection:daily_stats';

alter table read.daily_stats
    drop constraint if exists daily_stats_pkey,
    -- The service booked (null without one) and the price's currency (null when unpriced).
    add column if not exists service_id uuid,
    add column if not exists currency text,
    -- Bookings checked in and not yet completed (for the no-show rate).
    add column if not exists checked_in integer not null default 0,
    -- Prices of the confirmed, checked-in and completed bookings starting that day, and of the
    -- completed ones.
    add column if not exists booked_minor bigint not null default 0,
    add column if not exists realized_minor bigint not null default 0,
    add constraint daily_stats_key unique nulls not distinct (resource_id, day, service_id, currency);
comment on column read.daily_stats.booked_minutes is
    'Unit-minutes of confirmed, checked-in and completed bookings within the day.';

-- What each booking currently contributes is a function of its status now, not of two flags.
alter table read.stats_bookings
    drop column if exists live,
    add column if not exists status text not null,
    add column if not exists service_id uuid,
    add column if not exists price_minor bigint,
    add column if not exists currency text;
