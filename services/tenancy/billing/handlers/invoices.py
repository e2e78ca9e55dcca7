"""Invoices, drafted from the plan price and the overage beyond each metered feature's
included quantity, exactly (see :mod:`services.tenancy.billing.math`)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from quarterdeck.tenancy.v1 import billing_pb2 as pb
from services.tenancy.billing.convert import INVOICE_STATUS_FROM_PROTO, invoice_to_proto
from services.tenancy.billing.handlers.rollup import RollUpHandlers
from services.tenancy.billing.math import (
    MAX_PICOS,
    Line,
    overage_units,
)
from services.tenancy.billing.models import (
    BillingPlanRecord,
    InvoiceLineRecord,
    InvoiceRecord,
    InvoiceStatus,
    SubscriptionRecord,
)
from services.tenancy.billing.rules import INVOICE_TRANSITIONS, check_transition, requested_status
from shared.auth import (
    require_operator,
    require_principal,
    require_tenant,
)
from shared.errors import (
    AlreadyExists,
    FailedPrecondition,
    NotFound,
    PermissionDenied,
)
from shared.ids import parse_id


class InvoiceHandlers(RollUpHandlers):
    async def _lines(self, session: AsyncSession, invoice_id: uuid.UUID) -> list[InvoiceLineRecord]:
        stmt = select(InvoiceLineRecord).where(InvoiceLineRecord.invoice_id == invoice_id)
        return list((await session.scalars(stmt)).all())

    async def _draft_invoice(
        self,
        session: AsyncSession,
        sub: SubscriptionRecord,
        plan: BillingPlanRecord,
        start: datetime,
        end: datetime,
        usage: dict[str, int],
    ) -> tuple[InvoiceRecord, list[InvoiceLineRecord]]:
        """Draft the invoice of one period from the plan's price now and the usage given."""
        lines = [Line(f"plan:{plan.code}", 1, plan.price_micros, 1)]
        for feature in sorted(await self._features(session, plan.id), key=lambda f: f.feature_key):
            if feature.is_metered:
                lines.append(
                    Line(
                        f"overage:{feature.feature_key}",
                        overage_units(usage.get(feature.feature_key, 0), feature.included_quantity),
                        feature.overage_unit_price_micros,
                        feature.overage_unit_block,
                    )
                )
        total = sum(line.amount_picos for line in lines)
        if total > MAX_PICOS or any(line.quantity > MAX_PICOS for line in lines):
            raise FailedPrecondition("the invoice is too large", reason="INVOICE_TOO_LARGE")
        invoice = InvoiceRecord(
            subscription_id=sub.id,
            period_start=start,
            period_end=end,
            total_picos=total,
            status=InvoiceStatus.DRAFT,
        )
        session.add(invoice)
        try:
            await session.flush()
        except IntegrityError:
            raise AlreadyExists(
                "this period already has an invoice; void it first", reason="INVOICE_EXISTS"
            ) from None
        records = [
            InvoiceLineRecord(
                invoice_id=invoice.id,
                position=i,
                description=line.description,
                quantity=line.quantity,
                unit_price_micros=line.unit_price_micros,
                unit_block=line.unit_block,
                amount_picos=line.amount_picos,
            )
            for i, line in enumerate(lines)
        ]
        session.add_all(records)
        await session.flush()
        return invoice, records

    async def _live_invoice_id(
        self, session: AsyncSession, sub_id: uuid.UUID, start: datetime
    ) -> uuid.UUID | None:
        return await session.scalar(
            select(InvoiceRecord.id).where(
                InvoiceRecord.subscription_id == sub_id,
                InvoiceRecord.period_start == start,
                InvoiceRecord.status != InvoiceStatus.VOID,
            )
        )

    async def generate_invoice(
        self, request: pb.GenerateInvoiceRequest
    ) -> pb.GenerateInvoiceResponse:
        require_operator()
        sub_id = parse_id(request.subscription_id, "subscription_id")
        async with self._db.transaction() as session:
            sub = await self._subscription(session, sub_id, lock=True)
            plan = await self._plan(session, sub.plan_id)
            assert sub.current_period_start is not None and sub.current_period_end is not None
            existing = await self._live_invoice_id(session, sub.id, sub.current_period_start)
            if existing is not None:
                raise AlreadyExists(
                    "this period already has an invoice; void it first",
                    reason="INVOICE_EXISTS",
                    metadata={"invoice_id": str(existing)},
                )
            usage = {row.feature_key: row.quantity for row in await self._roll_up(session, sub)}
            invoice, records = await self._draft_invoice(
                session, sub, plan, sub.current_period_start, sub.current_period_end, usage
            )
            return pb.GenerateInvoiceResponse(invoice=invoice_to_proto(invoice, records))

    async def _invoice(
        self, session: AsyncSession, invoice_id: uuid.UUID, *, lock: bool = False
    ) -> tuple[InvoiceRecord, SubscriptionRecord]:
        stmt = select(InvoiceRecord).where(InvoiceRecord.id == invoice_id)
        if lock:
            stmt = stmt.with_for_update()
        invoice = await session.scalar(stmt)
        if invoice is None:
            raise NotFound("no such invoice", reason="INVOICE_NOT_FOUND")
        sub = await self._subscription(session, invoice.subscription_id)
        return invoice, sub

    async def get_invoice(self, request: pb.GetInvoiceRequest) -> pb.GetInvoiceResponse:
        require_principal()
        invoice_id = parse_id(request.id, "id")
        async with self._db.reading() as session:
            invoice, sub = await self._invoice(session, invoice_id)
            try:
                require_tenant(str(sub.tenant_id), "viewer")
            except PermissionDenied:
                # Another tenant's invoice looks exactly like a missing one.
                raise NotFound("no such invoice", reason="INVOICE_NOT_FOUND") from None
            lines = await self._lines(session, invoice.id)
            return pb.GetInvoiceResponse(invoice=invoice_to_proto(invoice, lines))

    async def set_invoice_status(
        self, request: pb.SetInvoiceStatusRequest
    ) -> pb.SetInvoiceStatusResponse:
        require_operator()
        invoice_id = parse_id(request.id, "id")
        target = requested_status(request.status, INVOICE_STATUS_FROM_PROTO, "INVOICE_STATUS_")
        async with self._db.transaction() as session:
            invoice, _ = await self._invoice(session, invoice_id, lock=True)
            check_transition(
                "invoice", invoice.status, target, INVOICE_TRANSITIONS, "INVALID_INVOICE_TRANSITION"
            )
            invoice.status = target
            await session.flush()
            lines = await self._lines(session, invoice.id)
            return pb.SetInvoiceStatusResponse(invoice=invoice_to_proto(invoice, lines))
