"""Reading server-sent events the way a browser's EventSource does, over httpx streaming."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class SseEvent:
    id: str | None = None
    event: str = "message"
    data_lines: list[str] = field(default_factory=list)

    @property
    def data(self) -> Any:
        return json.loads("\n".join(self.data_lines))

    @property
    def cursor(self) -> int:
        assert self.id is not None
        return int(self.id)


@dataclass
class SseItem:
    """An event, or a comment line (``comment`` set) such as a heartbeat."""

    event: SseEvent | None = None
    comment: str | None = None


async def sse_items(response: httpx.Response) -> AsyncIterator[SseItem]:
    """The events and comments of a text/event-stream response, as they arrive."""
    current = SseEvent()
    pending = False
    async for line in response.aiter_lines():
        if line == "":
            if pending:
                yield SseItem(event=current)
            current, pending = SseEvent(), False
        elif line.startswith(":"):
            yield SseItem(comment=line[1:].strip())
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            pending = True
            if name == "id":
                current.id = value
            elif name == "event":
                current.event = value
            elif name == "data":
                current.data_lines.append(value)
