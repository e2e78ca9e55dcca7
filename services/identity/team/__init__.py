"""Teams: a tenant's admins invite colleagues; a signed-in user accepts or switches tenant."""
