"""Security events: reading them, and recording those other services report."""
