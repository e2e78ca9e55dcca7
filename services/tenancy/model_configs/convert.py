"""Tenant model configs as their protobuf messages (the API key never leaves as stored)."""

from __future__ import annotations

from quarterdeck.tenancy.v1 import model_configs_pb2 as pb
from services.tenancy.model_configs.models import TenantModelConfigRecord
from shared.timestamps import to_timestamp


def config_to_proto(row: TenantModelConfigRecord) -> pb.TenantModelConfig:
    return pb.TenantModelConfig(
        tenant_id=str(row.tenant_id),
        llm_model_id=str(row.llm_model_id),
        api_key_hint=row.api_key_hint,
        rate_limit_rpm=row.rate_limit_rpm,
        rate_limit_tpm=row.rate_limit_tpm,
        version=row.version,
        create_time=to_timestamp(row.created_at),
        update_time=to_timestamp(row.updated_at),
    )
