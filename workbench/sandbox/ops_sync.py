"""SyncFolderItems with an opaque sync state that encodes the folder's change sequence number."""
from __future__ import annotations

import base64
import json

from lxml import etree

from .context import Context
from .items import Shape, render
from .soap import EwsError, Responses, m, sub, t


def encode_state(folder_id: str, seq: int) -> str:
    return base64.b64encode(json.dumps({"v": 1, "f": folder_id, "s": seq}).encode()).decode()


def decode_state(state: str, folder_id: str) -> int:
    try:
        data = json.loads(base64.b64decode(state, validate=True))
        if data["v"] == 1 and data["f"] == folder_id and isinstance(data["s"], int) and data["s"] >= 0:
            return data["s"]
    except (ValueError, KeyError, TypeError):
        pass
    raise EwsError("ErrorInvalidSyncStateData", "Synchronization state data is corrupt or otherwise invalid.")


def sync_folder_items(ctx: Context, op: etree._Element) -> Responses:
    out = Responses("SyncFolderItems")
    try:
        shape = Shape.parse(op.find(m("ItemShape")))
        holder = op.find(m("SyncFolderId"))
        if holder is None or not len(holder):
            raise EwsError("ErrorInvalidRequest", "SyncFolderId is required.")
        max_changes = int(op.findtext(m("MaxChangesReturned")) or "0")
        if not 1 <= max_changes <= 512:
            raise EwsError("ErrorInvalidArgument", "MaxChangesReturned must be between 1 and 512.")
        ignore_el = op.find(m("Ignore"))
        ignore = {i.get("Id") for i in ignore_el} if ignore_el is not None else set()
        with ctx.store.lock:
            folder = ctx.folder(holder[0])
            state = (op.findtext(m("SyncState")) or "").strip()
            since = decode_state(state, folder.id) if state else 0
            if since > folder.seq:
                raise EwsError("ErrorInvalidSyncStateData", "The sync state is ahead of the folder.")
            changes: list[tuple[str, object]] = []
            last = since
            more = False
            for seq, item_id in folder.changes_since(since):
                if len(changes) >= max_changes:
                    more = True
                    break
                last = seq
                if item_id in ignore:
                    continue
                item = folder.items.get(item_id)
                if item is not None:
                    changes.append(("Create" if item.created_seq > since else "Update", item))
                elif folder.tombstones[item_id].created_seq <= since:
                    changes.append(("Delete", item_id))
            msg = out.success()
            sub(msg, m("SyncState"), encode_state(folder.id, last if more else folder.seq))
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
