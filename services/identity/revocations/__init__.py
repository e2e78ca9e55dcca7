"""The revocation feed: what was revoked since a time, read by every service's poll."""
