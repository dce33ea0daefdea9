"""JSON batching: ``POST /$batch`` with at most 20 requests, run in order of their dependencies; a
request whose dependency failed gets 424; each part has its own status (a 429 can sit inside a 200)."""
from __future__ import annotations

import json
import urllib.parse
from typing import TYPE_CHECKING, Any

from .wire import GraphError, Request, Response

if TYPE_CHECKING:
    from .routing import GraphApp

MAX_REQUESTS = 20
METHODS = {"GET", "POST", "PATCH", "PUT", "DELETE"}


def _validate(data: Any) -> list[dict[str, Any]]:
    parts = data.get("requests") if isinstance(data, dict) else None
    if not isinstance(parts, list) or not parts:
        raise GraphError(400, "BadRequest", "Invalid batch payload format: 'requests' must be a non-empty array.")
    if len(parts) > MAX_REQUESTS:
        raise GraphError(400, "BadRequest", f"Number of batch requests exceeds the limit of {MAX_REQUESTS} "
                                            f"({len(parts)} given).")
    ids: set[str] = set()
    for i, part in enumerate(parts):
        if not isinstance(part, dict) or not isinstance(part.get("id"), str) or not part["id"]:
            raise GraphError(400, "BadRequest", f"Batch request {i}: 'id' must be a non-empty string.")
        if part["id"] in ids:
            raise GraphError(400, "BadRequest", f"Batch request id '{part['id']}' is used twice.")
        ids.add(part["id"])
        if str(part.get("method", "")).upper() not in METHODS or not isinstance(part.get("url"), str):
            raise GraphError(400, "BadRequest", f"Batch request '{part['id']}': 'method' must be one of "
                                                f"{sorted(METHODS)} and 'url' a relative URL.")
        if "body" in part and not any(k.lower() == "content-type" for k in part.get("headers", {}) or {}):
            raise GraphError(400, "BadRequest", f"Batch request '{part['id']}': a body needs a Content-Type header.")
    for part in parts:
        depends = part.get("dependsOn", [])
        if not isinstance(depends, list) or any(d not in ids or d == part["id"] for d in depends):
            raise GraphError(400, "BadRequest", f"Batch request '{part['id']}': dependsOn names an unknown request.")
    return parts


def _order(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Requests in an order where each comes after what it depends on (400 on a cycle)."""
    by_id, done, out = {p["id"]: p for p in parts}, set(), []

    def visit(part: dict[str, Any], path: tuple[str, ...]) -> None:
        if part["id"] in done:
            return
        if part["id"] in path:
            raise GraphError(400, "BadRequest", f"Batch requests depend on each other in a cycle: {path}.")
        for dep in part.get("dependsOn", []):
            visit(by_id[dep], (*path, part["id"]))
        done.add(part["id"])
        out.append(part)

    for part in parts:
        visit(part, ())
    return out


def _sub_request(outer: Request, part: dict[str, Any]) -> Request:
    url = part["url"] if part["url"].startswith("/") else "/" + part["url"]
    split = urllib.parse.urlsplit(url)
    query = {k: v[-1] for k, v in urllib.parse.parse_qs(split.query, keep_blank_values=True).items()}
    headers = {k.lower(): str(v) for k, v in (part.get("headers") or {}).items()}
    for name in ("authorization",):
        headers[name] = outer.headers.get(name, "")
    body = part.get("body")
    raw = json.dumps(body).encode() if body is not None else b""
    return Request(part["method"].upper(), "/v1.0" + urllib.parse.unquote(split.path), query, headers, raw,
                   outer.app, outer.roles)


def handle(app: "GraphApp", request: Request) -> Response:
    if request.method != "POST":
        raise GraphError(405, "BadRequest", "$batch takes POST.")
    parts = _order(_validate(request.json()))
    statuses: dict[str, int] = {}
    responses: list[dict[str, Any]] = []
    for part in parts:
        failed = [d for d in part.get("dependsOn", []) if not 200 <= statuses[d] < 300]
        if failed:
            statuses[part["id"]] = 424
            responses.append({"id": part["id"], "status": 424, "headers": {"Content-Type": "application/json"},
                              "body": GraphError(424, "BadRequest", f"Failed dependency: {failed[0]}.")
                              .response().body})
            continue
        sub = _sub_request(request, part)
        app.capture_request(sub)
        answer = app.dispatch(sub, in_batch=True)
        statuses[part["id"]] = answer.status
        entry: dict[str, Any] = {"id": part["id"], "status": answer.status,
                                 "headers": {k: v for k, v in answer.headers.items()}}
        if answer.body is not None:
            entry["headers"].setdefault("Content-Type", "application/json")
            entry["body"] = answer.body
        responses.append(entry)
    return Response(200, {"responses": responses}, type_name="odata.batchResponse")
