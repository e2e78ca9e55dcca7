"""Sign-up (the saga across identity and tenancy), access requests and invites, and teams: a
tenant's admins invite colleagues, a signed-in user accepts an invite or switches tenant."""
