"""Re-sealing every stored provider key under the first configured encryption key.

Run after putting a new key first in QD_TENANCY_PROVIDER_KEY_ENCRYPTION_KEYS (keeping the old
ones after it); once it reports no unreadable row, the old keys can be dropped. Rows go in
batches, each in its own transaction; rows already under the current key are left alone, so a
second run changes nothing. A row no configured key opens is reported and kept as it is.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import select, update

from services.tenancy.model_configs_crypto import ProviderKeyBox, UnreadableProviderKey
from services.tenancy.models_model_configs import TenantModelConfigRecord
from shared.db import Database

DEFAULT_BATCH_SIZE = 200


@dataclass
class RotationReport:
    rotated: int = 0
    already_current: int = 0
    #: Tenants whose stored key opens with no configured key; their rows are untouched.
    unreadable: list[str] = field(default_factory=list)

    @property
    def examined(self) -> int:
        return self.rotated + self.already_current + len(self.unreadable)


async def rotate_provider_keys(
    database: Database, box: ProviderKeyBox, batch_size: int = DEFAULT_BATCH_SIZE
) -> RotationReport:
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    table = TenantModelConfigRecord
    report = RotationReport()
    after: uuid.UUID | None = None
    while True:
        async with database.transaction() as session:
            statement = (
                select(table.id, table.tenant_id, table.encrypted_api_key, table.key_version)
                .order_by(table.id)
                .limit(batch_size)
            )
            if after is not None:
                statement = statement.where(table.id > after)
            rows = (await session.execute(statement)).all()
            for row in rows:
                if row.key_version == box.current_version:
                    report.already_current += 1
                    continue
                try:
                    sealed = box.reseal(row.encrypted_api_key)
                except UnreadableProviderKey:
                    report.unreadable.append(str(row.tenant_id))
                    continue
                # Compare-and-set: a key set meanwhile is already sealed under the current key.
                # A Core update leaves the row's optimistic version alone: nothing a reader sees
                # has changed.
                result = await session.execute(
                    update(table)
                    .where(table.id == row.id, table.encrypted_api_key == row.encrypted_api_key)
                    .values(encrypted_api_key=sealed.token, key_version=sealed.key_version)
                    .execution_options(synchronize_session=False)
                )
                if result.rowcount:
                    report.rotated += 1
                else:
                    report.already_current += 1
        if len(rows) < batch_size:
            return report
        after = rows[-1].id
