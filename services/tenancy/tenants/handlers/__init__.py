"""The tenancy area's use cases, transport-free: tenants and their settings, memberships."""
