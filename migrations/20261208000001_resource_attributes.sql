-- v1.1: resources carry attributes (a flat jsonb object) and an archived flag.
alter table read.resources add column if not exists attributes jsonb not null default '{}'::jsonb;
alter table read.resources add column if not exists archived boolean not null default false;
-- Filters `attr.<key>=<value>` (GET /v1/resources, availability search, pools): containment
-- tests `attributes @> {"key": …}`. Without a pending list (`fastupdate = off`): resources change
-- rarely and are read on every search, so each read scans only the index proper, and the
-- planner's estimate does not depend on when a vacuum last ran.
create index if not exists resources_attributes_idx
    on read.resources using gin (attributes jsonb_path_ops) with (fastupdate = off);
-- Availability search: a tenant's active (or archived) resources by name, keyset (name, id).
create index if not exists resources_tenant_name_idx
    on read.resources (tenant_id, archived, name, resource_id);
