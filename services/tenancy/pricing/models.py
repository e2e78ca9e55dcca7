"""The model catalogue and its price history.

``models`` merges seed 000 ``ai_models`` with seed 004 ``llm_models``: ``model_key`` (000) and
``model_name`` (004) are one concept and are kept as ``model_name``, unique per provider;
``context_max_tokens`` (000) and ``context_window`` (004) likewise, kept as ``context_window``;
``context_default_tokens``, ``billing_unit``, the ``supports_*`` flags, ``size_class``,
``is_active`` and ``metadata_json`` come from 000, ``capabilities`` from 004. Their price
columns (``input_rate_per_mtok``..., ``cost_per_1k_*_tokens``, ``pricing_source``) move to
``model_prices``, whose rows are never rewritten: a new price closes the current one.

Money is never a float. Every rate is a ``BigInteger`` of micro-USD: token rates per million
tokens, web search and neurons per thousand, code execution per second. Costs are then exact
integers of pico-USD (see ``shared.pricing_math``).
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from services.tenancy.models import Base
from shared.db_types import JSONType, UTCDateTime, utcnow


class SizeClass(enum.StrEnum):
    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"


class PriceTier(enum.StrEnum):
    STANDARD = "standard"
    BATCH = "batch"
    LONG_CONTEXT = "long_context"
    BATCH_LONG_CONTEXT = "batch_long_context"


def _enum(kind: type[enum.Enum], name: str) -> Enum:
    return Enum(
        kind,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [m.value for m in members],
    )


class ModelRecord(Base):
    __tablename__ = "models"
    __table_args__ = (
        UniqueConstraint("provider", "model_name"),
        Index("ix_models_is_active", "is_active"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    provider: Mapped[str] = mapped_column(String(50))
    model_name: Mapped[str] = mapped_column(String(100))
    display_name: Mapped[str] = mapped_column(String(200))
    billing_unit: Mapped[str] = mapped_column(String(16), default="tokens")
    context_window: Mapped[int] = mapped_column(BigInteger, default=0)
    context_default_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    supports_cache: Mapped[bool] = mapped_column(Boolean, default=False)
    supports_tools: Mapped[bool] = mapped_column(Boolean, default=True)
    supports_vision: Mapped[bool] = mapped_column(Boolean, default=False)
    supports_web_search: Mapped[bool] = mapped_column(Boolean, default=False)
    supports_fast_mode: Mapped[bool] = mapped_column(Boolean, default=False)
    capabilities: Mapped[list[str]] = mapped_column(JSONType, default=list)
    size_class: Mapped[SizeClass] = mapped_column(
        _enum(SizeClass, "model_size_class"), default=SizeClass.MEDIUM
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    metadata_json: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    __mapper_args__ = {"version_id_col": version}


#: The rate columns of ``model_prices``, all micro-USD integers.
RATE_COLUMNS = (
    "input_per_mtok_micros",
    "output_per_mtok_micros",
    "cache_write_per_mtok_micros",
    "cache_read_per_mtok_micros",
    "web_search_per_1k_micros",
    "neurons_per_1k_micros",
    "code_exec_per_second_micros",
)


class ModelPriceRecord(Base):
    """One price of one model and tier over [effective_from, effective_to); NULL = current."""

    __tablename__ = "model_prices"
    __table_args__ = (
        UniqueConstraint("model_id", "tier", "effective_from"),
        Index("ix_model_prices_model_id_effective_from_id", "model_id", "effective_from", "id"),
        CheckConstraint(
            "effective_to IS NULL OR effective_to > effective_from", name="range_not_empty"
        ),
        *(
            CheckConstraint(f"{column} >= 0", name=f"{column}_not_negative")
            for column in RATE_COLUMNS
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    model_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    tier: Mapped[PriceTier] = mapped_column(_enum(PriceTier, "price_tier"))
    input_per_mtok_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    output_per_mtok_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    cache_write_per_mtok_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    cache_read_per_mtok_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    web_search_per_1k_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    neurons_per_1k_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    code_exec_per_second_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    source: Mapped[str] = mapped_column(String(64), default="operator")
    effective_from: Mapped[datetime] = mapped_column(UTCDateTime())
    effective_to: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
