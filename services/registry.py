"""Which services exist and where each one's spec lives; imported lazily, one at a time."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported by each service's module: the gateway's process never needs it
    from shared.server import ServiceSpec

#: Start order for `quarterdeck up`: telemetry first so every other process can export to it.
SERVICE_NAMES = ("telemetry", "identity", "tenancy", "conversation", "tooling")
GATEWAY = "gateway"
#: Offsets from the base port (default 50051) used by `quarterdeck up`.
PORT_OFFSETS = {"identity": 0, "tenancy": 1, "conversation": 2, "tooling": 3, "telemetry": 4}


def spec_for(name: str) -> ServiceSpec[Any, Any]:
    if name not in SERVICE_NAMES:
        raise KeyError(f"unknown service {name!r}; services: {', '.join(SERVICE_NAMES)}")
    return importlib.import_module(f"services.{name}.service").SPEC
