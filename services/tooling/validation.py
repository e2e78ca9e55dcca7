"""Tooling's input checks are the shared ones (``shared.validation``)."""

from shared.validation import MAX_JSON_BYTES, MAX_LIST_ITEMS, Violations

__all__ = ["MAX_JSON_BYTES", "MAX_LIST_ITEMS", "Violations"]
