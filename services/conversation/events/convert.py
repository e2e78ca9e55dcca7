"""Ledger events between their rows and their protobuf messages."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from quarterdeck.conversation.v1 import events_pb2 as pb
from services.conversation.events.models import LedgerEventRecord
from shared.json_values import dict_to_struct
from shared.timestamps import to_timestamp


def event_to_proto(row: LedgerEventRecord | Row[Any]) -> pb.LedgerEvent:
    """A stored event (its record, or a row of the ledger's EVENT_COLUMNS) as sent."""
    return pb.LedgerEvent(
        sequence_number=row.event_id,
        conversation_id=str(row.conversation_id),
        segment_id=str(row.segment_id),
        kind=row.kind,
        schema_version=row.schema_version,
        run_id=row.workflow_run_id or "",
        response_id=row.response_id or "",
        agent=row.agent or "",
        item_id=row.item_id or "",
        output_index=row.output_index or 0,
        content_index=row.content_index or 0,
        tool_call_id=row.tool_call_id or "",
        payload=dict_to_struct(row.payload_json),
        server_time=to_timestamp(row.server_timestamp),
    )
