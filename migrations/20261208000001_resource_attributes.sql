-- v1.1: resources carry attributes (a flat jsonb object) and an archived flag.
alter table read.resources add column if not exists attributes jsonb not null default '{}'::jsonb;
alter table read.resources add column if not exists archived boolean not null default false;
-- Filters `attr.<key>=<value>` (GET /v1/resources, availability search, pools): containment
-- tests `attributes @> {"key": …}`.
create index if not exists resources_attributes_idx
    on read.resources using gin (attributes jsonb_path_ops);
-- Availability search: a tenant's active (or archived) resources by name, keyset (name, id).
create index if not exists resources_tenant_name_idx
    on read.resources (tenant_id, archived, name, resource_id);
