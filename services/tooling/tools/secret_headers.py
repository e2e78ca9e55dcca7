"""The key list that seals tools' secret headers, and their re-encryption after a rotation
(``quarterdeck rotate-tool-secrets``)."""

from __future__ import annotations

from services.tooling.config import ToolingSettings
from services.tooling.tools.models import ToolConfigRecord
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
    """Re-encrypt every tool's secret headers under the first key."""
    return await reseal_rows(
        database,
        box,
        ToolConfigRecord.id,
        [ToolConfigRecord.sealed_secret_headers],
        label=ToolConfigRecord.id,
        version_column=ToolConfigRecord.secret_key_version,
        batch_size=batch_size,
    )
