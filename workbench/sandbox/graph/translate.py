"""``POST /users/{id}/translateExchangeIds``: between restId, restImmutableEntryId, ewsId, entryId and
immutableEntryId for the items the EWS sandbox holds in that mailbox (at most 1,000 ids)."""
from __future__ import annotations

from typing import Any

from ..store import Mailbox
from . import ids
from .state import GraphState
from .wire import GraphError, Request, Response

FORMATS = ("entryId", "ewsId", "immutableEntryId", "restId", "restImmutableEntryId")
MAX_IDS = 1000


def _to_ews(g: GraphState, mb: Mailbox, value: str, kind: str) -> str | None:
    if kind == "ewsId":
        return value
    if kind == "restId":
        return ids.ews_id(value)
    if kind == "entryId":
        return ids.ews_from_entry_id(mb, value)
    return g.ids.from_immutable(mb, value, urlsafe=kind == "restImmutableEntryId")


def _from_ews(g: GraphState, mb: Mailbox, ews: str, kind: str) -> str | None:
    if kind == "ewsId":
        return ews
    if kind == "restId":
        return ids.rest_id(ews)
    if kind == "entryId":
        return ids.entry_id(mb, ews)
    return g.ids.immutable_entry_id(mb, ews, urlsafe=kind == "restImmutableEntryId")


def handle(g: GraphState, request: Request, mb: Mailbox) -> Response:
    data = {k.lower(): v for k, v in request.json_object().items()}
    inputs, source, target = data.get("inputids"), data.get("sourceidtype"), data.get("targetidtype")
    if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs) or not inputs:
        raise GraphError(400, "ErrorInvalidParameter", "inputIds must be a non-empty collection of strings.")
    if len(inputs) > MAX_IDS:
        raise GraphError(400, "ErrorInvalidParameter", f"inputIds holds at most {MAX_IDS} ids, not {len(inputs)}.")
    for name, value in (("sourceIdType", source), ("targetIdType", target)):
        if value not in FORMATS:
            raise GraphError(400, "ErrorInvalidParameter", f"{name} {value!r} is not one of {', '.join(FORMATS)}.")
    out: list[dict[str, Any]] = []
    with g.store.lock:
        for value in inputs:
            ews = _to_ews(g, mb, value, source)
            if ews is None or mb.item(ews) is None:
                out.append({"sourceId": value, "errorDetails": {
                    "code": "ErrorInvalidIdMalformed" if ews is None else "ErrorItemNotFound",
                    "message": "Id is malformed." if ews is None else "The item was not found in the mailbox."}})
                continue
            out.append({"sourceId": value, "targetId": _from_ews(g, mb, ews, target)})
    return Response(200, {"@odata.context": f"{g.graph_url}/$metadata#Collection(microsoft.graph.convertIdResult)",
                          "value": out}, type_name="Collection(microsoft.graph.convertIdResult)")
