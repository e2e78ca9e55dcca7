"""Quarterdeck's common library: every service starts, stores, fails and traces the same way."""
