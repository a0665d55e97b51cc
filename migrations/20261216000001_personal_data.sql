-- Personal data (API.md v1.1 "History and personal data"): crypto-shredding.
--
-- Each customer with personal data on a booking has one data key per tenant. Events, their
-- JetStream copies, read models and stored answers carry the data only sealed with it (see
-- `eventstore::personal`). Erasure deletes the customer's rows here: every sealed copy stays
-- where it is, unreadable. A later booking with personal data for the same customer gets a
-- new key (a new key_id), so nothing erased comes back.
create table if not exists personal_data_keys (
    key_id      uuid primary key,
    tenant_id   text not null,
    customer_id text not null,
    -- 32 random bytes (ChaCha20-Poly1305). Stored as is: see the module comment for the
    -- trade-off against wrapping them with a master key.
    key         bytea not null,
    created_at  timestamptz not null default now(),
    -- One live key per customer; erasing deletes it (and finds it by this index).
    constraint personal_data_keys_customer_key unique (tenant_id, customer_id)
);

-- The booking's personal data as its event sealed it (null: none given). Copied, never opened,
-- by the projector, so a replay rebuilds exactly what the live projector wrote.
alter table read.bookings add column if not exists customer jsonb;
