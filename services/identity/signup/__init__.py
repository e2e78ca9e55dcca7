"""Sign-up (the saga across identity and tenancy), access requests and invites."""
