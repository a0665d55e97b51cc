-- Pool bookings choose among a tenant's resources as the write side knows them: the resource
-- streams of the tenant, found here without scanning every booking stream.
create index if not exists streams_tenant_type_idx on streams (tenant_id, stream_type);
