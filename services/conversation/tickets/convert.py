"""Stream tickets between their rows and their protobuf messages (never with the secret)."""

from __future__ import annotations

from quarterdeck.conversation.v1 import stream_tickets_pb2 as pb
from services.conversation.tickets.models import StreamTicketRecord
from shared.timestamps import to_timestamp


def ticket_to_proto(row: StreamTicketRecord) -> pb.StreamTicket:
    return pb.StreamTicket(
        id=str(row.id),
        tenant_id=str(row.tenant_id),
        conversation_id=str(row.conversation_id),
        created_by=row.created_by,
        session_key=row.session_key or "",
        use_count=row.use_count,
        expire_time=to_timestamp(row.expires_at),
        create_time=to_timestamp(row.created_at),
        last_use_time=to_timestamp(row.last_used_at),
    )
