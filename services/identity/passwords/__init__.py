"""Passwords: the strength policy, change, reset by emailed token and the operator's unlock."""
