-- Keyset paging of the tenant list in name order.
CREATE INDEX tenants_name_idx ON tenants (name, id);
