"""User edits on the Exchange side, made with exchangelib through the sandbox (as Outlook would)."""
from __future__ import annotations

from typing import Any

from workbench.exchange import mailbox_ops as ops
from workbench.exchange.mapping import CRM_ID_FIELD


def _item(acc: Any, crm_id: str):
    items = list(acc.contacts.filter(**{CRM_ID_FIELD: crm_id}))
    assert len(items) == 1, f"{crm_id}: {len(items)} items"
    return items[0]


def edit(env: Any, address: str, crm_id: str, **changes: Any) -> None:
    with env.connect() as conn:
        acc = ops.open_mailbox(conn, address)
        item = _item(acc, crm_id)
        for k, v in changes.items():
            setattr(item, k, v)
        item.save(update_fields=list(changes))


def trash(env: Any, address: str, crm_id: str) -> None:
    with env.connect() as conn:
        acc = ops.open_mailbox(conn, address)
        _item(acc, crm_id).move_to_trash()


def add_contact(env: Any, address: str, **values: Any) -> None:
    from exchangelib import Contact
    with env.connect() as conn:
        acc = ops.open_mailbox(conn, address)
        Contact(account=acc, folder=acc.contacts, **values).save()
