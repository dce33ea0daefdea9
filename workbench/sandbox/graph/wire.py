"""Requests, responses and errors as the Graph sandbox passes them between its modules."""
from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from typing import Any


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def fmt(value: dt.datetime) -> str:
    """Graph's DateTimeOffset form: 2026-12-01T15:04:05Z."""
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str, name: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        raise GraphError(400, "BadRequest", f"{name} must be an ISO 8601 date-time, not {text!r}.") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


class GraphError(Exception):
    """An error answered the way Graph does: ``{"error": {"code", "message", "innerError"}}``."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(status, code, message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}

    def response(self, request_id: str = "") -> "Response":
        request_id = request_id or str(uuid.uuid4())
        body = {"error": {"code": self.code, "message": self.message,
                          "innerError": {"date": fmt(utcnow()), "request-id": request_id,
                                         "client-request-id": request_id}}}
        return Response(self.status, body, dict(self.headers), type_name="odata.error")


@dataclass
class Request:
    method: str
    path: str                               # without the query string
    query: dict[str, str]
    headers: dict[str, str]                 # lower-case names
    body: bytes = b""
    app: Any = None                         # the App the bearer token names (set by the router)
    roles: frozenset[str] = frozenset()
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def json(self) -> Any:
        if not self.body:
            raise GraphError(400, "BadRequest", "Empty Payload. JSON content expected.")
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            raise GraphError(400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type "
                                                "header is set and payload is of valid JSON format.") from None

    def json_object(self) -> dict[str, Any]:
        data = self.json()
        if not isinstance(data, dict):
            raise GraphError(400, "BadRequest", "The request body must be a JSON object.")
        return data

    def prefer(self) -> dict[str, str]:
        """The Prefer header as {name: value} (odata.maxpagesize=10, IdType="ImmutableId")."""
        out: dict[str, str] = {}
        for part in self.headers.get("prefer", "").split(","):
            name, _, value = part.strip().partition("=")
            if name:
                out[name.strip().lower()] = value.strip().strip('"')
        return out


@dataclass
class Response:
    status: int
    body: Any = None                        # JSON-able, bytes or None
    headers: dict[str, str] = field(default_factory=dict)
    type_name: str | None = None            # the CSDL type the JSON body claims (for the referee)
    drop: bool = False                      # close the connection without answering

    def payload(self) -> tuple[bytes, str]:
        if self.body is None:
            return b"", ""
        if isinstance(self.body, bytes):
            return self.body, self.headers.get("Content-Type", "text/plain")
        return json.dumps(self.body).encode(), "application/json; odata.metadata=minimal; odata.streaming=true"
