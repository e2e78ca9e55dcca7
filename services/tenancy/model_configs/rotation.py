"""Re-sealing every stored provider key under the first configured encryption key.

Run after putting a new key first in QD_TENANCY_PROVIDER_KEY_ENCRYPTION_KEYS (keeping the old
ones after it); once it reports no unreadable row, the old keys can be dropped. Rows go in
batches, each in its own transaction; rows already under the current key are left alone, so a
second run changes nothing. A row no configured key opens is reported (by tenant) and kept.
"""

from __future__ import annotations

from services.tenancy.model_configs.crypto import ProviderKeyBox
from services.tenancy.model_configs.models import TenantModelConfigRecord
from shared.db import Database
from shared.secret_box import DEFAULT_BATCH_SIZE, ResealReport, reseal_rows


async def rotate_provider_keys(
    database: Database, box: ProviderKeyBox, batch_size: int = DEFAULT_BATCH_SIZE
) -> ResealReport:
    table = TenantModelConfigRecord
    return await reseal_rows(
        database,
        box,
        table.id,
        [table.encrypted_api_key],
        label=table.tenant_id,
        version_column=table.key_version,
        batch_size=batch_size,
    )
