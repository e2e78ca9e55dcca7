"""Signing keys: the JWKS, rotation and retirement (the key store is services.identity.signing)."""
