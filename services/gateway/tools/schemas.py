"""The tool catalogue: base tools, output formats and tool configurations, mapped from their
messages, and the bodies. Secret headers are write-only: bodies take them, no response carries
them, only their names."""

from __future__ import annotations

from typing import Annotated, Any

from google.protobuf.field_mask_pb2 import FieldMask
from pydantic import Field, field_validator

from quarterdeck.tooling.v1 import tools_pb2 as pb
from services.gateway.proto_json import JsonObject, Text, Version, refuse_null
from services.gateway.proto_models import ProtoModel
from services.gateway.schemas import RequestBody
from shared.json_values import dict_to_struct

SecretHeaders = Annotated[
    dict[Text, Text],
    Field(
        description="Headers sent with every call whose values are secrets (an API key). "
        "Write-only: stored encrypted, never returned; responses list only their names.",
        json_schema_extra={"writeOnly": True},
    ),
]


class BaseTool(ProtoModel, message=pb.BaseTool):
    type: str = Field(description='The tool type, such as "HTTP_GET" or "MCP".')
    default_config_schema: dict[str, Any] = Field(
        description="The JSON schema a tool configuration of this type satisfies."
    )


class BaseToolList(ProtoModel, message=pb.ListBaseToolsResponse):
    base_tools: list[BaseTool] = Field(description="By type.")


class OutputFormat(ProtoModel, message=pb.OutputFormat):
    pass


class OutputFormatList(ProtoModel, message=pb.ListOutputFormatsResponse):
    output_formats: list[OutputFormat] = Field(description="By name.")


class ToolConfig(
    ProtoModel,
    message=pb.ToolConfig,
    exclude=("secret_headers",),
    nullable=("tenant_id", "output_format_id"),
):
    """A tool an agent can be given."""

    tenant_id: str | None = Field(description="The owning tenant; null for a global tool.")
    base_tool_type: str = Field(description='The base type, such as "HTTP_GET".')
    config: dict[str, Any] = Field(
        description='The type\'s configuration; for HTTP tools {"endpoint", "method", '
        '"headers", "timeout"}, path parameters in the endpoint filled from the arguments.'
    )
    input_schema: dict[str, Any] = Field(description="The JSON schema of the arguments.")
    version: int = Field(description="The optimistic-concurrency version; send it on PATCH.")
    secret_header_names: list[str] = Field(description="The names of the stored secret headers.")


class ToolConfigList(ProtoModel, message=pb.ListToolConfigsResponse):
    tools: list[ToolConfig] = Field(description="By name, then id.")
    next_page_token: str = Field(
        description="Pass as page_token, with the same filters, for the next page; empty on the "
        "last page."
    )


class ImportedTools(ProtoModel, message=pb.ImportMcpToolsResponse):
    tools: list[ToolConfig] = Field(description="The server's tools as stored, by name.")


class CreateToolBody(RequestBody):
    """A tool of a base type; its config is checked against the base type's schema."""

    name: Text = Field(
        description="What the model calls it: 1 to 100 of a-z, 0-9, '_', '-' and '.'; unique "
        "per owner."
    )
    base_tool_id: Text = Field(description="The base tool's id (GET /v1/base-tools).")
    config: JsonObject = Field(default_factory=dict)
    input_schema: JsonObject = Field(description="The JSON schema the arguments must satisfy.")
    output_format_id: Text = ""
    description: Text = ""
    is_active: bool = True
    requires_approval: bool = Field(
        default=False, description="Each call waits for a tenant admin's approval."
    )
    secret_headers: SecretHeaders = Field(default_factory=dict, repr=False)
    is_global: bool = Field(
        default=False,
        description="A global tool (platform operators); an operator leaving tenant_id out "
        "makes one too.",
    )

    def to_proto(self, tenant_id: str, request_id: str) -> pb.CreateToolConfigRequest:
        return pb.CreateToolConfigRequest(
            tool=pb.ToolConfig(
                tenant_id="" if self.is_global else tenant_id,
                name=self.name,
                base_tool_id=self.base_tool_id,
                config=dict_to_struct(self.config),
                input_schema=dict_to_struct(self.input_schema),
                output_format_id=self.output_format_id,
                description=self.description,
                is_active=self.is_active,
                requires_approval=self.requires_approval,
                secret_headers=self.secret_headers,
            ),
            request_id=request_id,
        )


class UpdateToolBody(RequestBody):
    """The fields to change; those left out stay as they are. The base type is fixed."""

    version: Version
    name: Text | None = None
    config: JsonObject | None = None
    input_schema: JsonObject | None = None
    output_format_id: Text | None = Field(default=None, description='"" removes it.')
    description: Text | None = None
    is_active: bool | None = None
    requires_approval: bool | None = None
    secret_headers: SecretHeaders | None = Field(
        default=None, description="Replaces the stored ones; {} removes them.", repr=False
    )

    @field_validator("*", mode="before")
    @classmethod
    def _no_nulls(cls, value: Any) -> Any:
        return refuse_null(value)

    def to_proto(self, tenant_id: str, tool_id: str) -> pb.UpdateToolConfigRequest:
        sent = self.mask_paths()  # every field but version is one of the tool's
        tool = pb.ToolConfig(id=tool_id, tenant_id=tenant_id, version=self.version)
        for name in sent:
            value = getattr(self, name)
            if name in ("config", "input_schema"):
                getattr(tool, name).CopyFrom(dict_to_struct(value))
            elif name == "secret_headers":
                tool.secret_headers.update(value)
            else:
                setattr(tool, name, value)
        return pb.UpdateToolConfigRequest(tool=tool, update_mask=FieldMask(paths=sent))


class ImportMcpToolsBody(RequestBody):
    server_url: Text = Field(
        description="The MCP server's Streamable HTTP endpoint, such as "
        '"https://mcp.example.com/mcp"; reached through the egress guard.'
    )
    name_prefix: Text = Field(
        default="", description='Put before each tool\'s name, such as "crm." (at most 30).'
    )
    timeout_seconds: float = Field(
        default=0, ge=0, le=3600, description="How long one call may take; 30 when 0."
    )
    is_global: bool = Field(
        default=False,
        description="Import global tools (platform operators); an operator leaving tenant_id "
        "out does too.",
    )

    def to_proto(self, tenant_id: str) -> pb.ImportMcpToolsRequest:
        return pb.ImportMcpToolsRequest(
            tenant_id="" if self.is_global else tenant_id,
            server_url=self.server_url,
            name_prefix=self.name_prefix,
            timeout_seconds=self.timeout_seconds,
        )
