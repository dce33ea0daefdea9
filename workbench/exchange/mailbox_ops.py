"""The bulk EWS operations the sync engine calls; the engine never touches exchangelib itself.

Every function takes an impersonated ``Account`` (from ``ExchangeConnection.account``) and raises
only ``WorkbenchError`` (catalogue codes; transient ones carry ``context["back_off"]`` when Exchange
sent a BackOffMilliseconds hint). Per-item failures of a bulk call come back in the result list as
``WorkbenchError`` instances, in input order, so one bad contact does not stop the rest.

exchangelib is used with FailFast (the connection's default): a request is sent exactly once and the
engine decides what to resend. This matters because exchangelib's own retry resends a whole chunk
after a per-item ErrorServerBusy, which creates duplicates (ews-notes §1.3).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Mapping, Sequence

from exchangelib import Contact, Mailbox, Message
from exchangelib.errors import ErrorInvalidChangeKey, ErrorIrresolvableConflict
from exchangelib.items import HARD_DELETE, MOVE_TO_DELETED_ITEMS, NEVER_OVERWRITE, SOFT_DELETE
from exchangelib.services import UpdateItem

from workbench.errors import WorkbenchError
from workbench.exchange import mapping
from workbench.exchange.errors_map import to_workbench_error
from workbench.mailbox import CONFLICT, GONE, ItemRef

# A stale change key must come back per item, not abort the whole UpdateItem (ews-notes §1.4).
if ErrorIrresolvableConflict not in UpdateItem.ERRORS_TO_CATCH_IN_RESPONSE:
    UpdateItem.ERRORS_TO_CATCH_IN_RESPONSE = UpdateItem.ERRORS_TO_CATCH_IN_RESPONSE + (ErrorIrresolvableConflict,)

CONFLICT_ERRORS = (ErrorIrresolvableConflict, ErrorInvalidChangeKey)
FIND_CHUNK = 100      # CRM ids per FindItem restriction


@contextmanager
def _errors(mailbox: str | None) -> Iterator[None]:
    try:
        yield
    except WorkbenchError:
        raise
    except Exception as exc:
        raise to_workbench_error(exc, mailbox=mailbox) from None


def _mailbox(account: Any) -> str:
    return str(account.primary_smtp_address)


def _per_item(result: Any, mailbox: str) -> Any:
    if isinstance(result, BaseException):
        err = to_workbench_error(result, mailbox=mailbox)
        err.context["exchange_error"] = type(result).__name__
        if isinstance(result, CONFLICT_ERRORS) or err.code == "EWS_CONFLICT":
            err.context["item_problem"] = CONFLICT
        elif type(result).__name__ == "ErrorItemNotFound":
            err.context["item_problem"] = GONE
        return err
    return result


def open_mailbox(conn: Any, address: str) -> Any:
    """The impersonated account with its contacts folder resolved (GetFolder root + contacts)."""
    with _errors(address):
        account = conn.account(address)
    try:
        account.contacts          # noqa: B018 - resolves the folder, proves impersonation
    except Exception as exc:
        for name in ("root", "contacts"):
            account.__dict__.pop(name, None)
        raise to_workbench_error(exc, mailbox=address) from None
    return account


def read_snapshot(account: Any, batch_size: int) -> list[dict[str, Any]]:
    """Every contact of the contacts folder, mapped fields only, paged at ``batch_size``."""
    mailbox = _mailbox(account)
    with _errors(mailbox):
        qs = account.contacts.all().only(*mapping.SNAPSHOT_FIELDS)
        qs.page_size = batch_size
        qs.chunk_size = batch_size
        return [mapping.contact_to_row(c) for c in qs if isinstance(c, Contact)]


def find_by_crm_ids(account: Any, crm_ids: Sequence[str], batch_size: int) -> dict[str, list[dict[str, Any]]]:
    """Contacts of the contacts folder carrying one of ``crm_ids`` in our extended property."""
    mailbox = _mailbox(account)
    found: dict[str, list[dict[str, Any]]] = {}
    ids = list(dict.fromkeys(i for i in crm_ids if i))
    with _errors(mailbox):
        for start in range(0, len(ids), FIND_CHUNK):
            chunk = ids[start:start + FIND_CHUNK]
            qs = account.contacts.filter(**{f"{mapping.CRM_ID_FIELD}__in": chunk}).only(*mapping.SNAPSHOT_FIELDS)
            qs.page_size = batch_size
            qs.chunk_size = batch_size
            for c in qs:
                if isinstance(c, Contact):
                    row = mapping.contact_to_row(c)
                    found.setdefault(row["crm_id"], []).append(row)
    return found


def fetch_rows(account: Any, item_ids: Sequence[str]) -> dict[str, dict[str, Any] | None]:
    """Current rows of some items (None = gone); ``in_contacts`` tells whether it is still in Contacts."""
    mailbox = _mailbox(account)
    out: dict[str, dict[str, Any] | None] = {}
    if not item_ids:
        return out
    with _errors(mailbox):
        contacts_id = account.contacts.id
        results = account.fetch(ids=[(i, None) for i in item_ids],
                                only_fields=[*mapping.SNAPSHOT_FIELDS, "parent_folder_id"])
        for item_id, res in zip(item_ids, results):
            if isinstance(res, Contact):
                row = mapping.contact_to_row(res)
                parent = getattr(res, "parent_folder_id", None)
                row["in_contacts"] = parent is None or getattr(parent, "id", None) == contacts_id
                out[item_id] = row
            else:
                out[item_id] = None
    return out


def create_contacts(account: Any, payloads: Sequence[Mapping[str, Any]], batch_size: int) -> list[ItemRef | WorkbenchError]:
    """Bulk CreateItem. payload: fields (mapped CRM values), crm_id, categories, private."""
    mailbox = _mailbox(account)
    with _errors(mailbox):
        items = [mapping.new_contact(account, p["fields"], crm_id=p["crm_id"], categories=p["categories"],
                                     private=bool(p.get("private"))) for p in payloads]
        results = account.bulk_create(folder=account.contacts, items=items, chunk_size=batch_size)
    out: list[ItemRef | WorkbenchError] = []
    for res in results:
        res = _per_item(res, mailbox)
        out.append(res if isinstance(res, WorkbenchError) else ItemRef(res.id, res.changekey))
    return out


def update_contacts(account: Any, updates: Sequence[Mapping[str, Any]], batch_size: int) -> list[ItemRef | WorkbenchError]:
    """Bulk UpdateItem with NeverOverwrite (a stale change key comes back as EWS_CONFLICT for that item).

    update: item_id, change_key, fields (None = only CRM id + categories), crm_id, categories.
    """
    mailbox = _mailbox(account)
    with _errors(mailbox):
        pairs = [mapping.updated_contact(account, u["item_id"], u.get("change_key"), u.get("fields"),
                                         crm_id=u["crm_id"], categories=u["categories"]) for u in updates]
        results = account.bulk_update(items=pairs, conflict_resolution=NEVER_OVERWRITE, chunk_size=batch_size)
    out: list[ItemRef | WorkbenchError] = []
    for res in results:
        res = _per_item(res, mailbox)
        out.append(res if isinstance(res, WorkbenchError) else ItemRef(res[0], res[1]))
    return out


#: the delete_to setting -> DeleteItem DeleteType
DELETE_TYPES = {"deleted-items": MOVE_TO_DELETED_ITEMS, "recoverable-items": SOFT_DELETE, "hard": HARD_DELETE}


def delete_contacts(account: Any, refs: Sequence[tuple[str, str | None]], batch_size: int,
                    delete_to: str = "deleted-items") -> list[bool | WorkbenchError]:
    """Bulk DeleteItem. ``delete_to``: deleted-items (MoveToDeletedItems: the user can restore it from Deleted
    Items), recoverable-items (SoftDelete: Recoverable Items\\Deletions, restorable with "Recover deleted
    items" until the retention period ends), hard (HardDelete: gone)."""
    mailbox = _mailbox(account)
    with _errors(mailbox):
        results = account.bulk_delete(ids=list(refs), delete_type=DELETE_TYPES[delete_to], chunk_size=batch_size)
    return [_per_item(r, mailbox) if isinstance(r, BaseException) else True for r in results]


def send_mail(account: Any, recipients: Sequence[str], subject: str, body: str) -> None:
    """Send a plain-text message as ``account`` and keep a copy in its Sent Items."""
    mailbox = _mailbox(account)
    with _errors(mailbox):
        msg = Message(account=account, folder=account.sent, subject=subject, body=body,
                      to_recipients=[Mailbox(email_address=r) for r in recipients])
        msg.send_and_save()

