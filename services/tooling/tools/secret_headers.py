"""The key list that seals tools' secret headers and registered databases' DSNs, and their
re-encryption after a rotation (``quarterdeck rotate-tool-secrets``)."""

from __future__ import annotations

from services.tooling.config import ToolingSettings
from services.tooling.tools.models import TenantDatabaseRecord, ToolConfigRecord
from shared.db import Database
from shared.secret_box import DEFAULT_BATCH_SIZE, ResealReport, SecretBox, reseal_rows, split_keys

SETTING = "QD_TOOLING_SECRET_ENCRYPTION_KEYS"


def secret_box_of(settings: ToolingSettings) -> SecretBox | None:
    if settings.secret_encryption_keys is None:
        return None
    return SecretBox(split_keys(settings.secret_encryption_keys.get_secret_value()), SETTING)


async def reseal_tool_secrets(
    database: Database, box: SecretBox, batch_size: int = DEFAULT_BATCH_SIZE
) -> ResealReport:
    """Re-encrypt every tool's secret headers and every registered database's DSN under the
    first key."""
    tools = await reseal_rows(
        database,
        box,
        ToolConfigRecord.id,
        [ToolConfigRecord.sealed_secret_headers],
        label=ToolConfigRecord.id,
        version_column=ToolConfigRecord.secret_key_version,
        batch_size=batch_size,
    )
    databases = await reseal_rows(
        database,
        box,
        TenantDatabaseRecord.id,
        [TenantDatabaseRecord.sealed_dsn],
        label=TenantDatabaseRecord.id,
        version_column=TenantDatabaseRecord.secret_key_version,
        batch_size=batch_size,
    )
    return ResealReport(
        resealed=tools.resealed + databases.resealed,
        already_current=tools.already_current + databases.already_current,
        unreadable=tools.unreadable + databases.unreadable,
    )
