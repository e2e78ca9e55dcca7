"""The tool catalogue (seed 004): base tool types, output formats and tool configurations.

A tool configuration is global (no tenant; platform operators manage it) or a tenant's own.
Names are unique per owner: a unique constraint for tenants' tools (NULL tenants never collide),
a partial unique index for the global ones.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from services.tooling.models import Base, where
from shared.db_types import JSONType, UTCDateTime, utcnow


class BaseToolRecord(Base):
    __tablename__ = "base_tools"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    type: Mapped[str] = mapped_column(String(50), unique=True)
    handler_class: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    default_config_schema: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class OutputFormatRecord(Base):
    __tablename__ = "output_formats"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    schema: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    renderer_hint: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ToolConfigRecord(Base):
    __tablename__ = "tool_configs"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        Index("uq_tool_configs_global_name", "name", unique=True, **where("tenant_id IS NULL")),
        Index("ix_tool_configs_base", "base_tool_id"),
        Index("ix_tool_configs_active", "is_active"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    #: The owning tenant (a tenancy id); NULL for a global tool.
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    name: Mapped[str] = mapped_column(String(100))
    base_tool_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("base_tools.id"))
    config: Mapped[dict[str, Any]] = mapped_column(JSONType)
    input_schema: Mapped[dict[str, Any]] = mapped_column(JSONType)
    output_format_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("output_formats.id"))
    description: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    requires_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Header values that are secrets, as encrypted JSON ({name: value}); never returned.
    sealed_secret_headers: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: Which encryption key sealed them (rotation finds the rows of an old key).
    secret_key_version: Mapped[str | None] = mapped_column(String(16), index=True)
    #: The names of the secret headers, for display.
    secret_header_names: Mapped[list[str]] = mapped_column(JSONType, default=list)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    __mapper_args__ = {"version_id_col": version}


class TenantDatabaseRecord(Base):
    """A database a tenant registered for its DB_QUERY tools; the DSN is sealed with the tool
    secret keys (shared.secret_box) and never returned."""

    __tablename__ = "tenant_databases"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    name: Mapped[str] = mapped_column(String(100))
    #: "postgresql" or "sqlite".
    dialect: Mapped[str] = mapped_column(String(16))
    #: Host and port, or the SQLite file's name: for display.
    location: Mapped[str] = mapped_column(String(300))
    sealed_dsn: Mapped[bytes] = mapped_column(LargeBinary)
    #: Which encryption key sealed the DSN (rotation finds the rows of an old key).
    secret_key_version: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
