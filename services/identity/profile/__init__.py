"""The caller's own account: who they are, profile, consents, notification preferences."""
