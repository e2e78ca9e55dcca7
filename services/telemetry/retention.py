"""Retention policies: which table keeps rows for how long (the enforcement lives here too)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RetentionPolicy:
    """Rows of ``table`` whose ``time_column`` is older than the setting ``days_setting`` (days,
    on TelemetrySettings) are deleted in batches."""

    table: str
    time_column: str
    days_setting: str
