"""SyncFolderItems with an opaque sync state: the folder's change sequence reached, plus the items given.

Like Exchange's ICS state (a "seen" change set and a "given" id set), the state records which items the
client holds: a change is ``Create`` for an item the client was never given and ``Update`` for one it
was, a delete is reported only for an item it was given. This matters across pages of a first sync:
an item created before a page boundary and modified before that page was served is not in that page
(its newest change lies beyond the boundary), so a later page must report it as ``Create``.
The given set is kept as ranges of the items' creation sequence numbers (compact for bulk-created folders).
"""
from __future__ import annotations

import base64
import bisect
import json
import zlib

from lxml import etree

from .context import Context
from .items import Shape, render
from .soap import EwsError, Responses, SoapFault, m, sub, t

Ranges = list[list[int]]          # sorted, disjoint, inclusive [first, last] runs


def _contains(ranges: Ranges, value: int) -> bool:
    i = bisect.bisect_right(ranges, [value, float("inf")]) - 1
    return i >= 0 and ranges[i][0] <= value <= ranges[i][1]


def _merge(ranges: Ranges, added: set[int], removed: set[int]) -> Ranges:
    runs = sorted([list(r) for r in ranges] + [[v, v] for v in added])
    merged: Ranges = []
    for first, last in runs:
        if merged and first <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], last)
        else:
            merged.append([first, last])
    for value in sorted(removed):
        i = bisect.bisect_right(merged, [value, float("inf")]) - 1
        if i < 0 or not merged[i][0] <= value <= merged[i][1]:
            continue
        first, last = merged[i]
        pieces = [p for p in ([first, value - 1], [value + 1, last]) if p[0] <= p[1]]
        merged[i:i + 1] = pieces
    return merged


def encode_state(folder_id: str, seq: int, given: Ranges) -> str:
    raw = json.dumps({"v": 2, "f": folder_id, "s": seq, "g": given}, separators=(",", ":")).encode()
    return base64.b64encode(zlib.compress(raw)).decode()


def decode_state(state: str, folder_id: str) -> tuple[int, Ranges]:
    """(sequence reached, ranges given); version 1 states (sequence only) count every item up to it as given."""
    try:
        blob = base64.b64decode(state, validate=True)
        data = json.loads(zlib.decompress(blob) if blob[:1] == b"\x78" else blob)
        seq = data["s"]
        if data["f"] == folder_id and isinstance(seq, int) and seq >= 0:
            if data["v"] == 1:
                return seq, [[1, seq]] if seq else []
            given = data["g"]
            if data["v"] == 2 and all(isinstance(a, int) and isinstance(b, int) and a <= b for a, b in given):
                return seq, [[a, b] for a, b in given]
    except (ValueError, KeyError, TypeError, zlib.error):
        pass
    raise EwsError("ErrorInvalidSyncStateData", "Synchronization state data is corrupt or otherwise invalid.")


def _max_changes(op: etree._Element) -> int:
    """1..512 (t:MaxSyncChangesReturnedType); the schema check normally answers first, this guards without it."""
    text = (op.findtext(m("MaxChangesReturned")) or "").strip()
    if not text.isdigit() or not 1 <= int(text) <= 512:
        raise SoapFault("ErrorSchemaValidation", "The request failed schema validation: MaxChangesReturned "
                        f"{text!r} is not an integer between 1 and 512.")
    return int(text)


def sync_folder_items(ctx: Context, op: etree._Element) -> Responses:
    out = Responses("SyncFolderItems")
    max_changes = _max_changes(op)
    try:
        shape = Shape.parse(op.find(m("ItemShape")))
        holder = op.find(m("SyncFolderId"))
        if holder is None or not len(holder):
            raise EwsError("ErrorInvalidRequest", "SyncFolderId is required.")
        ignore_el = op.find(m("Ignore"))
        ignore = {i.get("Id") for i in ignore_el} if ignore_el is not None else set()
        with ctx.store.lock:
            folder = ctx.folder(holder[0])
            state = (op.findtext(m("SyncState")) or "").strip()
            since, given = decode_state(state, folder.id) if state else (0, [])
            if since > folder.seq:
                raise EwsError("ErrorInvalidSyncStateData", "The sync state is ahead of the folder.")
            changes: list[tuple[str, object]] = []
            added: set[int] = set()
            removed: set[int] = set()
            last = since
            more = False
            for seq, item_id in folder.changes_since(since):
                if len(changes) >= max_changes:
                    more = True
                    break
                last = seq
                item = folder.items.get(item_id)
                if item is not None:
                    known = _contains(given, item.created_seq) or item.created_seq in added
                    added.add(item.created_seq)          # an ignored item is one the client already has
                    if item_id not in ignore:
                        changes.append(("Update" if known else "Create", item))
                    continue
                created = folder.tombstones[item_id].created_seq
                if _contains(given, created) or created in added:
                    removed.add(created)
                    added.discard(created)
                    if item_id not in ignore:
                        changes.append(("Delete", item_id))
            msg = out.success()
            sub(msg, m("SyncState"), encode_state(folder.id, last if more else folder.seq,
                                                  _merge(given, added, removed)))
            sub(msg, m("IncludesLastItemInRange"), "false" if more else "true")
            changes_el = sub(msg, m("Changes"))
            for kind, payload in changes:
                node = sub(changes_el, t(kind))
                if kind == "Delete":
                    sub(node, t("ItemId"), Id=str(payload))
                else:
                    render(payload, node, shape)  # type: ignore[arg-type]
    except EwsError as err:
        msg = out.error(err)   # exchangelib reads these two before it looks at the response code
        sub(msg, m("SyncState"), "")
        sub(msg, m("IncludesLastItemInRange"), "true")
    return out
