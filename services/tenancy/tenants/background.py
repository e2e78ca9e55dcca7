"""Tenancy's membership-revocations pruning job: a ``membership_revocations`` row refuses the
tokens issued before it, so once every such token has expired it refuses nothing and is deleted
(``membership_revocation_retention_hours``, every ``membership_revocation_prune_interval_seconds``).

Identity asks for the rows of the last token lifetime only (and again for all of them when it
restarts), so a retention above that lifetime loses nothing it would ask for. Replicas may prune
at once: a delete by time is idempotent.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import delete

from services.tenancy.context import TenancyContext
from services.tenancy.tenants.models import MembershipRevocationRecord
from shared.background import PeriodicJob
from shared.db import rows_matched
from shared.db_types import utcnow

log = logging.getLogger("quarterdeck.tenancy.background")

MEMBERSHIP_REVOCATIONS_JOB = "tenancy-membership-revocations-prune"


class MembershipRevocationsPrune:
    """Deletes the membership revocations older than the retention."""

    def __init__(self, context: TenancyContext) -> None:
        self._db = context.database
        self._retention = timedelta(hours=context.settings.membership_revocation_retention_hours)

    async def __call__(self, job: PeriodicJob) -> int:
        cutoff = utcnow() - self._retention
        async with self._db.transaction() as session:
            result = await session.execute(
                delete(MembershipRevocationRecord).where(
                    MembershipRevocationRecord.revoked_at < cutoff
                )
            )
        deleted = rows_matched(result)
        if deleted:
            log.info("%s: %d membership revocations past retention deleted", job.name, deleted)
        return deleted


def membership_revocations_job(context: TenancyContext) -> PeriodicJob:
    return PeriodicJob(
        MEMBERSHIP_REVOCATIONS_JOB,
        context.settings.membership_revocation_prune_interval_seconds,
        MembershipRevocationsPrune(context),
    )
