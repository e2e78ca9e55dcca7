"""What every area's resources and bodies build on: the request-body base, the health answer, and
the error body every route documents."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class RequestBody(BaseModel):
    """Request bodies refuse unknown fields, so a misspelt field is an error, not a no-op."""

    model_config = ConfigDict(extra="forbid")

    def mask_paths(self) -> list[str]:
        """The fields the client sent, version aside: the update mask of a PATCH (AIP-134)."""
        sent = self.model_fields_set - {"version"}
        return [name for name in type(self).model_fields if name in sent]


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class ErrorDetail(BaseModel):
    """A google.rpc detail message (ErrorInfo, BadRequest, ...) in its JSON form."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    type: str = Field(alias="@type", examples=["type.googleapis.com/google.rpc.BadRequest"])


class ErrorStatus(BaseModel):
    code: int = Field(description="The HTTP status.", examples=[400])
    status: str = Field(description="The canonical gRPC code name.", examples=["INVALID_ARGUMENT"])
    message: str
    details: list[ErrorDetail]


class ErrorResponse(BaseModel):
    """Google's JSON error shape, used by every error response."""

    error: ErrorStatus
