"""Placeholder while this area is being written; replaced before landing."""
