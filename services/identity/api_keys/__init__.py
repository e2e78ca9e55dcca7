"""Service-account API keys: creation, listing, revocation and exchange for a token."""
