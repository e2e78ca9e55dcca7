"""agents, the tool catalogue (seeded), permissions, tool calls, memory and checkpoints

Revision ID: 0002_catalogue_calls_memory
Revises: 2a0960e53eb3
Create Date: 2026-12-03 17:49:33.478162
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db_types
from services.tooling.tools import seed_catalogue

revision: str = "0002_catalogue_calls_memory"
down_revision: str | None = "2a0960e53eb3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "base_tools",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=50), nullable=False),
        sa.Column("handler_class", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("default_config_schema", shared.db_types.JSONType, nullable=True),
        sa.Column("created_at", shared.db_types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_base_tools")),
        sa.UniqueConstraint("type", name=op.f("uq_base_tools_type")),
    )
    op.create_table(
        "checkpoint_blobs",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("thread_id", sa.String(length=255), nullable=False),
        sa.Column("checkpoint_ns", sa.String(length=255), nullable=False),
        sa.Column("channel", sa.String(length=255), nullable=False),
        sa.Column("version", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("blob", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id",
            "thread_id",
            "checkpoint_ns",
            "channel",
            "version",
            name=op.f("pk_checkpoint_blobs"),
        ),
    )
    op.create_table(
        "checkpoint_writes",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("thread_id", sa.String(length=255), nullable=False),
        sa.Column("checkpoint_ns", sa.String(length=255), nullable=False),
        sa.Column("checkpoint_id", sa.String(length=255), nullable=False),
        sa.Column("task_id", sa.String(length=255), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("blob", sa.LargeBinary(), nullable=False),
        sa.Column("task_path", sa.String(length=1024), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id",
            "thread_id",
            "checkpoint_ns",
            "checkpoint_id",
            "task_id",
            "idx",
            name=op.f("pk_checkpoint_writes"),
        ),
    )
    op.create_table(
        "checkpoints",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("thread_id", sa.String(length=255), nullable=False),
        sa.Column("checkpoint_ns", sa.String(length=255), nullable=False),
        sa.Column("checkpoint_id", sa.String(length=255), nullable=False),
        sa.Column("parent_checkpoint_id", sa.String(length=255), nullable=True),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("checkpoint", sa.LargeBinary(), nullable=False),
        sa.Column("metadata", shared.db_types.JSONType, nullable=False),
        sa.Column("channel_versions", shared.db_types.JSONType, nullable=False),
        sa.Column("created_at", shared.db_types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "thread_id", "checkpoint_ns", "checkpoint_id", name=op.f("pk_checkpoints")
        ),
    )
    with op.batch_alter_table("checkpoints", schema=None) as batch_op:
        batch_op.create_index(
            "ix_checkpoints_parent",
            ["tenant_id", "thread_id", "checkpoint_ns", "parent_checkpoint_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_checkpoints_tenant_id_order", ["tenant_id", "checkpoint_id"], unique=False
        )

    op.create_table(
        "memory_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column(
            "scope",
            sa.Enum(
                "global",
                "project",
                "session",
                "user",
                name="memory_scope",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("scope_key", sa.String(length=255), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("value", shared.db_types.JSONType, nullable=False),
        sa.Column("confidence", sa.SmallInteger(), nullable=False),
        sa.Column(
            "source",
            sa.Enum(
                "user",
                "assistant",
                "system",
                name="memory_source",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("conversation_id", sa.String(length=64), nullable=True),
        sa.Column("session_key", sa.String(length=255), nullable=True),
        sa.Column("created_at", shared.db_types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", shared.db_types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "confidence BETWEEN 0 AND 100", name=op.f("ck_memory_entries_confidence_range")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memory_entries")),
        sa.UniqueConstraint(
            "tenant_id",
            "scope",
            "scope_key",
            "key",
            name=op.f("uq_memory_entries_tenant_id_scope_scope_key_key"),
        ),
    )
    with op.batch_alter_table("memory_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_memory_entries_conversation_id", ["conversation_id"], unique=False
        )
        batch_op.create_index("ix_memory_entries_created_at", ["created_at"], unique=False)
        batch_op.create_index(
            "ix_memory_entries_scope_updated",
            ["tenant_id", "scope", "updated_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_memory_entries_session_key", ["tenant_id", "session_key"], unique=False
        )

    op.create_table(
        "output_formats",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("schema", shared.db_types.JSONType, nullable=True),
        sa.Column("renderer_hint", shared.db_types.JSONType, nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", shared.db_types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_output_formats")),
        sa.UniqueConstraint("name", name=op.f("uq_output_formats_name")),
    )
    op.create_table(
        "agents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("is_global", sa.Boolean(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role_name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "inactive",
                "paused",
                "maintenance",
                "archived",
                name="agent_status",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("mode", sa.String(length=50), nullable=False),
        sa.Column(
            "safety_level",
            sa.Enum(
                "strict",
                "moderate",
                "permissive",
                name="safety_level",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("tenant_scope", sa.String(length=32), nullable=False),
        sa.Column("allowed_tenants", shared.db_types.JSONType, nullable=False),
        sa.Column("blocked_tenants", shared.db_types.JSONType, nullable=False),
        sa.Column("auth_strategy", sa.String(length=64), nullable=True),
        sa.Column("required_roles", shared.db_types.JSONType, nullable=False),
        sa.Column("requires_human_approval", sa.Boolean(), nullable=False),
        sa.Column("approvals_policy", shared.db_types.JSONType, nullable=False),
        sa.Column("integrations", shared.db_types.JSONType, nullable=False),
        sa.Column("mcp_services", shared.db_types.JSONType, nullable=False),
        sa.Column("tool_permissions", shared.db_types.JSONType, nullable=False),
        sa.Column("rate_limits", shared.db_types.JSONType, nullable=False),
        sa.Column("budgets", shared.db_types.JSONType, nullable=False),
        sa.Column("model_policy", shared.db_types.JSONType, nullable=False),
        sa.Column("cost_policy", shared.db_types.JSONType, nullable=False),
        sa.Column("pii_policy", shared.db_types.JSONType, nullable=False),
        sa.Column("security_policy", shared.db_types.JSONType, nullable=False),
        sa.Column("findings_policy", shared.db_types.JSONType, nullable=False),
        sa.Column("notification_policy", shared.db_types.JSONType, nullable=False),
        sa.Column("telemetry_enabled", sa.Boolean(), nullable=False),
        sa.Column("telemetry_policy", shared.db_types.JSONType, nullable=False),
        sa.Column("model", sa.String(length=100), nullable=True),
        sa.Column("llm_model_id", sa.Uuid(), nullable=True),
        sa.Column("prompt_template", sa.Text(), nullable=True),
        sa.Column("default_output_format_id", sa.Uuid(), nullable=True),
        sa.Column("handler_class", sa.String(length=255), nullable=True),
        sa.Column("specialties", shared.db_types.JSONType, nullable=False),
        sa.Column("backstory", sa.Text(), nullable=True),
        sa.Column("personality_emoji", sa.String(length=16), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("metadata", shared.db_types.JSONType, nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("owner_user_id", sa.String(length=64), nullable=True),
        sa.Column("user_email", sa.String(length=320), nullable=True),
        sa.Column("additional_alert_emails", shared.db_types.JSONType, nullable=False),
        sa.Column("backup_user_email", sa.String(length=320), nullable=True),
        sa.Column("alert_escalation_email", sa.String(length=320), nullable=True),
        sa.Column("total_tasks_completed", sa.Integer(), nullable=False),
        sa.Column("total_tokens_used", sa.BigInteger(), nullable=False),
        sa.Column("average_latency_ms", sa.Float(), nullable=False),
        sa.Column("success_rate", sa.Float(), nullable=False),
        sa.Column("last_health_check_at", shared.db_types.UTCDateTime(), nullable=True),
        sa.Column("last_run_at", shared.db_types.UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("config_version", sa.Integer(), nullable=False),
        sa.Column("config_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", shared.db_types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", shared.db_types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "(tenant_id IS NULL) = is_global", name=op.f("ck_agents_global_has_no_tenant")
        ),
        sa.CheckConstraint("config_version >= 1", name=op.f("ck_agents_config_version_positive")),
        sa.ForeignKeyConstraint(
            ["default_output_format_id"],
            ["output_formats.id"],
            name=op.f("fk_agents_default_output_format_id_output_formats"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agents")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_agents_tenant_id_name")),
    )
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.create_index("ix_agents_active", ["is_active"], unique=False)
        batch_op.create_index("ix_agents_role_name", ["role_name"], unique=False)
        batch_op.create_index("ix_agents_status", ["status"], unique=False)
        batch_op.create_index(
            "uq_agents_global_name",
            ["name"],
            unique=True,
            sqlite_where=sa.text("tenant_id IS NULL"),
            postgresql_where=sa.text("tenant_id IS NULL"),
        )

    op.create_table(
        "tool_configs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("base_tool_id", sa.Uuid(), nullable=False),
        sa.Column("config", shared.db_types.JSONType, nullable=False),
        sa.Column("input_schema", shared.db_types.JSONType, nullable=False),
        sa.Column("output_format_id", sa.Uuid(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("requires_approval", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", shared.db_types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", shared.db_types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["base_tool_id"],
            ["base_tools.id"],
            name=op.f("fk_tool_configs_base_tool_id_base_tools"),
        ),
        sa.ForeignKeyConstraint(
            ["output_format_id"],
            ["output_formats.id"],
            name=op.f("fk_tool_configs_output_format_id_output_formats"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tool_configs")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_tool_configs_tenant_id_name")),
    )
    with op.batch_alter_table("tool_configs", schema=None) as batch_op:
        batch_op.create_index("ix_tool_configs_active", ["is_active"], unique=False)
        batch_op.create_index("ix_tool_configs_base", ["base_tool_id"], unique=False)
        batch_op.create_index(
            "uq_tool_configs_global_name",
            ["name"],
            unique=True,
            sqlite_where=sa.text("tenant_id IS NULL"),
            postgresql_where=sa.text("tenant_id IS NULL"),
        )

    op.create_table(
        "agent_tools",
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("tool_id", sa.Uuid(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("created_at", shared.db_types.UTCDateTime(), nullable=False),
        sa.CheckConstraint("priority >= 0", name=op.f("ck_agent_tools_priority_not_negative")),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_agent_tools_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tool_id"],
            ["tool_configs.id"],
            name=op.f("fk_agent_tools_tool_id_tool_configs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("agent_id", "tool_id", name=op.f("pk_agent_tools")),
    )
    with op.batch_alter_table("agent_tools", schema=None) as batch_op:
        batch_op.create_index(
            "ix_agent_tools_agent_priority", ["agent_id", "priority"], unique=False
        )
        batch_op.create_index("ix_agent_tools_tool", ["tool_id"], unique=False)

    op.create_table(
        "tenant_agent_permissions",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("output_override_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", shared.db_types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", shared.db_types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_tenant_agent_permissions_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["output_override_id"],
            ["output_formats.id"],
            name=op.f("fk_tenant_agent_permissions_output_override_id_output_formats"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "agent_id", name=op.f("pk_tenant_agent_permissions")),
    )
    with op.batch_alter_table("tenant_agent_permissions", schema=None) as batch_op:
        batch_op.create_index("ix_tenant_agent_perms_agent", ["agent_id"], unique=False)
        batch_op.create_index(
            "ix_tenant_agent_perms_lookup",
            ["tenant_id", "agent_id"],
            unique=False,
            sqlite_where=sa.text("enabled"),
            postgresql_where=sa.text("enabled"),
        )
        batch_op.create_index(
            "ix_tenant_agent_perms_tenant", ["tenant_id", "enabled"], unique=False
        )

    op.create_table(
        "tenant_tool_permissions",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("tool_id", sa.Uuid(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", shared.db_types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tool_id"],
            ["tool_configs.id"],
            name=op.f("fk_tenant_tool_permissions_tool_id_tool_configs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "tool_id", name=op.f("pk_tenant_tool_permissions")),
    )
    with op.batch_alter_table("tenant_tool_permissions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tenant_tool_perms_lookup",
            ["tenant_id", "tool_id"],
            unique=False,
            sqlite_where=sa.text("enabled"),
            postgresql_where=sa.text("enabled"),
        )
        batch_op.create_index("ix_tenant_tool_perms_tenant", ["tenant_id", "enabled"], unique=False)
        batch_op.create_index("ix_tenant_tool_perms_tool", ["tool_id"], unique=False)

    op.create_table(
        "tool_calls",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("agent_config_version", sa.Integer(), nullable=False),
        sa.Column("tool_id", sa.Uuid(), nullable=False),
        sa.Column("tool_name", sa.String(length=100), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("conversation_id", sa.String(length=64), nullable=True),
        sa.Column("request_id", sa.String(length=255), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "started",
                "ok",
                "error",
                "timeout",
                "pending_approval",
                "denied",
                "approved",
                name="tool_call_status",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("args", shared.db_types.JSONType, nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("error_reason", sa.String(length=64), nullable=True),
        sa.Column("trace_id", sa.String(length=32), nullable=True),
        sa.Column("span_id", sa.String(length=16), nullable=True),
        sa.Column("decided_by", sa.String(length=255), nullable=True),
        sa.Column("decided_at", shared.db_types.UTCDateTime(), nullable=True),
        sa.Column("deny_reason", sa.Text(), nullable=True),
        sa.Column("created_at", shared.db_types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", shared.db_types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_tool_calls_agent_id_agents")
        ),
        sa.ForeignKeyConstraint(
            ["tool_id"], ["tool_configs.id"], name=op.f("fk_tool_calls_tool_id_tool_configs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tool_calls")),
        sa.UniqueConstraint(
            "tenant_id", "request_id", name=op.f("uq_tool_calls_tenant_id_request_id")
        ),
    )
    with op.batch_alter_table("tool_calls", schema=None) as batch_op:
        batch_op.create_index("ix_tool_calls_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_tool_calls_status", ["status"], unique=False)
        batch_op.create_index(
            "ix_tool_calls_tenant_created", ["tenant_id", "created_at", "id"], unique=False
        )
        batch_op.create_index("ix_tool_calls_tenant_run", ["tenant_id", "run_id"], unique=False)
        batch_op.create_index("ix_tool_calls_tool_name", ["tool_name"], unique=False)

    op.create_table(
        "tool_results",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tool_call_id", sa.Uuid(), nullable=False),
        sa.Column("result_data", shared.db_types.JSONType, nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_at", shared.db_types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tool_call_id"],
            ["tool_calls.id"],
            name=op.f("fk_tool_results_tool_call_id_tool_calls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tool_results")),
        sa.UniqueConstraint("tool_call_id", name=op.f("uq_tool_results_tool_call_id")),
    )
    with op.batch_alter_table("tool_results", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tool_results_created_at"), ["created_at"], unique=False
        )

    seed_catalogue.seed(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("tool_results", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tool_results_created_at"))

    op.drop_table("tool_results")
    with op.batch_alter_table("tool_calls", schema=None) as batch_op:
        batch_op.drop_index("ix_tool_calls_tool_name")
        batch_op.drop_index("ix_tool_calls_tenant_run")
        batch_op.drop_index("ix_tool_calls_tenant_created")
        batch_op.drop_index("ix_tool_calls_status")
        batch_op.drop_index("ix_tool_calls_created_at")

    op.drop_table("tool_calls")
    with op.batch_alter_table("tenant_tool_permissions", schema=None) as batch_op:
        batch_op.drop_index("ix_tenant_tool_perms_tool")
        batch_op.drop_index("ix_tenant_tool_perms_tenant")
        batch_op.drop_index(
            "ix_tenant_tool_perms_lookup",
            sqlite_where=sa.text("enabled"),
            postgresql_where=sa.text("enabled"),
        )

    op.drop_table("tenant_tool_permissions")
    with op.batch_alter_table("tenant_agent_permissions", schema=None) as batch_op:
        batch_op.drop_index("ix_tenant_agent_perms_tenant")
        batch_op.drop_index(
            "ix_tenant_agent_perms_lookup",
            sqlite_where=sa.text("enabled"),
            postgresql_where=sa.text("enabled"),
        )
        batch_op.drop_index("ix_tenant_agent_perms_agent")

    op.drop_table("tenant_agent_permissions")
    with op.batch_alter_table("agent_tools", schema=None) as batch_op:
        batch_op.drop_index("ix_agent_tools_tool")
        batch_op.drop_index("ix_agent_tools_agent_priority")

    op.drop_table("agent_tools")
    with op.batch_alter_table("tool_configs", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_tool_configs_global_name",
            sqlite_where=sa.text("tenant_id IS NULL"),
            postgresql_where=sa.text("tenant_id IS NULL"),
        )
        batch_op.drop_index("ix_tool_configs_base")
        batch_op.drop_index("ix_tool_configs_active")

    op.drop_table("tool_configs")
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_agents_global_name",
            sqlite_where=sa.text("tenant_id IS NULL"),
            postgresql_where=sa.text("tenant_id IS NULL"),
        )
        batch_op.drop_index("ix_agents_status")
        batch_op.drop_index("ix_agents_role_name")
        batch_op.drop_index("ix_agents_active")

    op.drop_table("agents")
    op.drop_table("output_formats")
    with op.batch_alter_table("memory_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_memory_entries_session_key")
        batch_op.drop_index("ix_memory_entries_scope_updated")
        batch_op.drop_index("ix_memory_entries_created_at")
        batch_op.drop_index("ix_memory_entries_conversation_id")

    op.drop_table("memory_entries")
    with op.batch_alter_table("checkpoints", schema=None) as batch_op:
        batch_op.drop_index("ix_checkpoints_tenant_id_order")
        batch_op.drop_index("ix_checkpoints_parent")

    op.drop_table("checkpoints")
    op.drop_table("checkpoint_writes")
    op.drop_table("checkpoint_blobs")
    op.drop_table("base_tools")
