"""Identity's use cases, transport-free, one module per area."""
