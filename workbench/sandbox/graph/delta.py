"""Delta query on a contact folder: pages of changes by the folder's change log, opaque $skiptoken /
$deltatoken, deletes as @removed with a reason, 410 syncStateNotFound for an invalidated state.

A token holds the folder, its delta epoch, the change sequence reached, the sequence the round started
from (creates after it are not reported as deletes) and whether the round is the initial one.
"""
from __future__ import annotations

import base64
import json
from typing import Any

from ..store import Folder, Mailbox
from . import contact_map as cm
from . import query
from .contacts import render
from .state import GraphState
from .wire import GraphError, Request, Response

DEFAULT_PAGE = 10
MAX_PAGE = 1000


def encode(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).rstrip(b"=").decode()


def decode(token: str, folder: Folder, g: GraphState) -> dict[str, Any]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        ok = isinstance(data, dict) and {"f", "e", "c", "b", "i"} <= set(data)
    except (ValueError, TypeError):
        ok = False
    if not ok or data["f"] != folder.id:
        raise GraphError(400, "BadRequest", "The delta or skip token is not valid for this folder: request a "
                                            "new delta without a token.")
    if data["e"] != g.epoch(folder):
        raise GraphError(410, "syncStateNotFound", "The sync state generation is not found. Resync is required: "
                                                   "start again with a delta request without a token.")
    return data


def _page_size(request: Request) -> int:
    raw = request.prefer().get("odata.maxpagesize")
    if raw is None:
        return DEFAULT_PAGE
    try:
        size = int(raw)
    except ValueError:
        raise GraphError(400, "BadRequest", f"Prefer: odata.maxpagesize={raw!r} is not a whole number.") from None
    return max(1, min(size, MAX_PAGE))


def handle(g: GraphState, request: Request, mb: Mailbox, folder: Folder) -> Response:
    unsupported = sorted(set(request.query) - {"$select", "$skiptoken", "$deltatoken"})
    if unsupported:
        raise GraphError(400, "BadRequest", f"Query option {unsupported[0]} is not supported by contacts delta "
                                            "(only $select, then the $skiptoken/$deltatoken of the links).")
    token = request.query.get("$skiptoken") or request.query.get("$deltatoken")
    size = _page_size(request)
    with g.store.lock:
        if token:
            state = decode(token, folder, g)
            select = state.get("sel")
            if request.query.get("$deltatoken"):          # a new round starts from the delta link
                state = {**state, "b": state["c"], "i": False}
        else:
            select = query.parse_select(request.query.get("$select"), cm.PROPERTIES, cm.ENTITY)
            state = {"f": folder.id, "e": g.epoch(folder), "c": 0, "b": 0, "i": True}
        value, cursor, more = _collect(g, request, mb, folder, state, size, select)
        state = {**state, "c": cursor}
        if select is not None:
            state["sel"] = select
    path = request.path.removeprefix("/v1.0")
    body: dict[str, Any] = {"@odata.context": g.context(mb, "contacts/$delta"), "value": value}
    if more:
        body["@odata.nextLink"] = g.link(path, {"$skiptoken": encode(state)})
    else:
        body["@odata.deltaLink"] = g.link(path, {"$deltatoken": encode({**state, "b": cursor, "i": False})})
    return Response(200, body, type_name="Collection(microsoft.graph.contact)")


def _collect(g: GraphState, request: Request, mb: Mailbox, folder: Folder, state: dict[str, Any], size: int,
             select: list[str] | None) -> tuple[list[dict[str, Any]], int, bool]:
    """Up to ``size`` entries after the cursor; the new cursor; whether anything reportable is left."""
    value: list[dict[str, Any]] = []
    cursor = state["c"]
    for seq, item_id in folder.changes_since(cursor):
        entry = _entry(g, request, mb, folder, state, item_id, select)
        if entry is not None:
            if len(value) == size:
                return value, cursor, True
            value.append(entry)
        cursor = seq
    return value, folder.seq, False


def _entry(g: GraphState, request: Request, mb: Mailbox, folder: Folder, state: dict[str, Any], item_id: str,
           select: list[str] | None) -> dict[str, Any] | None:
    """What delta reports for one change-log entry, or None (not a contact, or a delete not to report)."""
    item = folder.items.get(item_id)
    if item is not None:
        return render(g, request, mb, item, select) if item.kind == "Contact" else None
    stone = folder.tombstones.get(item_id)
    if state["i"] or stone is None or stone.created_seq > state["b"]:
        return None
    reason = "changed" if g.ids.was_moved(mb, item_id) else "deleted"
    immutable = request.prefer().get("idtype", "").lower() == "immutableid"
    moved, current = (g.ids.moved.get(mb.primary, {}) if immutable else {}), item_id
    for _ in range(len(moved)):             # an immutable id survives moves: name the item where it is now
        if current not in moved:
            break
        current = moved[current]
    return {"@odata.type": "#microsoft.graph.contact", "id": g.public_id(request, mb, current),
            "@removed": {"reason": reason}}
