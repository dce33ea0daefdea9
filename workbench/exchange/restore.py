"""EWS operations that bring back what a sync deleted (``workbench sync undo``).

A contact the sync deleted went to Deleted Items (MoveToDeletedItems) or Recoverable Items\\Deletions
(SoftDelete), or was hard-deleted. A move gives the item a new id, so it is found again by our CRM-id
extended property (which a delete keeps), then moved back to Contacts with MoveItem (a new id again).
When it is not there any more (purged, hard-deleted, retention over) the caller recreates it with
``Mailbox.create``: the same CRM id property, so the next sync links it, never duplicates it.

Like ``mailbox_ops``, every function takes an impersonated ``Account`` and raises only ``WorkbenchError``.
"""
from __future__ import annotations

from typing import Any, Sequence

from exchangelib import Contact

from workbench.errors import WorkbenchError
from workbench.exchange import mapping
from workbench.exchange.mailbox_ops import FIND_CHUNK, _errors, _mailbox, _per_item
from workbench.mailbox import Deleted, ItemRef

#: where a deleted contact can still be, in the order undo looks: (place, exchangelib Account attribute)
PLACES = (("deleted-items", "trash"), ("recoverable-items", "recoverable_items_deletions"))


def find_deleted(account: Any, crm_ids: Sequence[str], batch_size: int) -> dict[str, Deleted]:
    """{crm_id: the first contact carrying it in Deleted Items, else in Recoverable Items\\Deletions}."""
    mailbox = _mailbox(account)
    wanted = list(dict.fromkeys(i for i in crm_ids if i))
    found: dict[str, Deleted] = {}
    with _errors(mailbox):
        for place, attr in PLACES:
            folder = getattr(account, attr)
            left = [i for i in wanted if i not in found]
            for start in range(0, len(left), FIND_CHUNK):
                qs = folder.filter(**{f"{mapping.CRM_ID_FIELD}__in": left[start:start + FIND_CHUNK]})
                qs = qs.only(*mapping.SNAPSHOT_FIELDS)
                qs.page_size = batch_size
                qs.chunk_size = batch_size
                for item in qs:
                    if isinstance(item, Contact):
                        row = mapping.contact_to_row(item)
                        found.setdefault(row["crm_id"], Deleted(row["item_id"], row["change_key"], place, row))
    return found


def move_to_contacts(account: Any, item_ids: Sequence[str], batch_size: int) -> list[ItemRef | WorkbenchError]:
    """Bulk MoveItem into the contacts folder; the new ids (or a per-item error), in input order."""
    mailbox = _mailbox(account)
    if not item_ids:
        return []
    with _errors(mailbox):
        results = account.bulk_move(ids=[(i, None) for i in item_ids], to_folder=account.contacts,
                                    chunk_size=batch_size)
    out: list[ItemRef | WorkbenchError] = []
    for res in results:
        res = _per_item(res, mailbox)
        out.append(res if isinstance(res, WorkbenchError) else ItemRef(res[0], res[1]))
    return out
