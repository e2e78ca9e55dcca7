"""The tool catalogue between its rows and its protobuf messages."""

from __future__ import annotations

from quarterdeck.tooling.v1 import tools_pb2 as pb
from services.tooling.tools.models import BaseToolRecord, OutputFormatRecord, ToolConfigRecord
from shared.json_values import dict_to_struct
from shared.timestamps import to_timestamp


def base_tool_to_proto(row: BaseToolRecord) -> pb.BaseTool:
    return pb.BaseTool(
        id=str(row.id),
        type=row.type,
        handler_class=row.handler_class,
        description=row.description or "",
        default_config_schema=dict_to_struct(row.default_config_schema),
        create_time=to_timestamp(row.created_at),
    )


def output_format_to_proto(row: OutputFormatRecord) -> pb.OutputFormat:
    return pb.OutputFormat(
        id=str(row.id),
        name=row.name,
        schema=dict_to_struct(row.schema),
        renderer_hint=dict_to_struct(row.renderer_hint),
        description=row.description or "",
        create_time=to_timestamp(row.created_at),
    )


def tool_to_proto(row: ToolConfigRecord, base_type: str) -> pb.ToolConfig:
    return pb.ToolConfig(
        id=str(row.id),
        tenant_id=str(row.tenant_id or ""),
        name=row.name,
        base_tool_id=str(row.base_tool_id),
        base_tool_type=base_type,
        config=dict_to_struct(row.config),
        input_schema=dict_to_struct(row.input_schema),
        output_format_id=str(row.output_format_id or ""),
        description=row.description or "",
        is_active=row.is_active,
        requires_approval=row.requires_approval,
        version=row.version,
        create_time=to_timestamp(row.created_at),
        update_time=to_timestamp(row.updated_at),
        secret_header_names=row.secret_header_names or [],
    )
