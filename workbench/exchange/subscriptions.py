"""Push subscriptions and incremental SyncFolderItems for the agent, through exchangelib.

- ``subscribe_push(conn, mailbox, callback_url, frequency_minutes)``: a push subscription on the
  mailbox's Contacts folder (Created/Modified/Deleted/Moved/Copied events, StatusFrequency = the
  notification frequency); returns (subscription id, watermark).
- ``sync_pages(conn, mailbox, sync_state, batch_size)``: SyncFolderItems from ``sync_state`` (None = from
  the beginning), one request of at most ``batch_size`` changes at a time, yielded page by page with the
  sync state that follows it, so the caller stores a state only once that page's changes are committed.
  exchangelib's ``Folder.sync_items`` loops internally and reveals the state only at the end; this calls
  its ``SyncFolderItems`` service one page at a time instead.

Every failure leaves as a ``WorkbenchError`` from the catalogue.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

from workbench.errors import WorkbenchError
from workbench.exchange.errors_map import to_workbench_error

PUSH_EVENT_TYPES = ("CreatedEvent", "ModifiedEvent", "DeletedEvent", "MovedEvent", "CopiedEvent")


class SyncStateInvalid(Exception):
    """Exchange refused the stored sync state (ErrorInvalidSyncStateData): start again without one."""


@dataclass
class SyncPage:
    upserts: list[dict[str, Any]] = field(default_factory=list)   # mapped rows (see workbench.exchange.mapping)
    deleted_item_ids: list[str] = field(default_factory=list)
    sync_state: str | None = None
    last: bool = True                                            # IncludesLastItemInRange
    from_state: bool = False                                     # the request carried a sync state

    @property
    def changes(self) -> int:
        return len(self.upserts) + len(self.deleted_item_ids)


def subscribe_push(conn: Any, mailbox: str, callback_url: str, frequency_minutes: int,
                   watermark: str | None = None) -> tuple[str, str]:
    """Create a push subscription on ``mailbox``'s Contacts folder; returns (subscription_id, watermark)."""
    try:
        account = conn.account(mailbox)
        sid, new_watermark = account.contacts.subscribe_to_push(
            callback_url=callback_url, event_types=list(PUSH_EVENT_TYPES), watermark=watermark,
            status_frequency=int(frequency_minutes))
    except WorkbenchError:
        raise
    except Exception as exc:  # exchangelib, HTTP, TLS -> catalogue
        raise to_workbench_error(exc, mailbox=mailbox) from None
    return str(sid), str(new_watermark or "")


def sync_pages(conn: Any, mailbox: str, sync_state: str | None, batch_size: int) -> Iterator[SyncPage]:
    """SyncFolderItems on the Contacts folder from ``sync_state``, page by page, until the last item in range."""
    from exchangelib.services import SyncFolderItems
    from exchangelib.items import ID_ONLY

    from workbench.exchange import mapping

    try:
        account = conn.account(mailbox)
        folder = account.contacts
        # only the mapped fields (as a full snapshot reads them), not exchangelib's default of every field
        additional = {f for f in folder.normalize_fields(fields=list(mapping.SNAPSHOT_FIELDS))
                      if not f.field.is_attribute}
    except WorkbenchError:
        raise
    except Exception as exc:
        raise to_workbench_error(exc, mailbox=mailbox) from None
    state = sync_state or None
    while True:
        svc = SyncFolderItems(account=account)
        page = SyncPage(from_state=bool(state))
        try:
            for change_type, item in svc.call(folder=folder, shape=ID_ONLY, additional_fields=additional,
                                              sync_state=state, ignore=None,
                                              max_changes_returned=int(batch_size), sync_scope=None):
                if change_type in ("create", "update"):
                    if type(item).__name__ != "Contact":
                        continue          # distribution lists and other items in the folder are not synced
                    page.upserts.append(mapping.contact_to_row(item))
                elif change_type == "delete":
                    page.deleted_item_ids.append(item.id)
        except WorkbenchError:
            raise
        except Exception as exc:
            if type(exc).__name__ == "ErrorInvalidSyncStateData":
                raise SyncStateInvalid(str(exc)) from None
            raise to_workbench_error(exc, mailbox=mailbox) from None
        page.sync_state = svc.sync_state
        page.last = bool(svc.includes_last_item_in_range) or svc.sync_state == state
        yield page
        if page.last:
            return
        state = svc.sync_state
