-- v1.1 lifecycle after confirmation: per resource and local day, the live bookings completed and
-- those marked a no-show (on their start day), beside `cancellations`. The new statuses
-- (checked_in, completed, no_show) need no schema change: `read.bookings.status` is text.
alter table read.daily_stats
    add column if not exists completed integer not null default 0,
    add column if not exists no_shows  integer not null default 0;
