"""The EWS implementation of the mailbox-backend protocol (``workbench.mailbox``), over exchangelib.

One ``EwsBackend`` wraps one ``ExchangeConnection`` (NTLM, impersonation, the keystore's trust); an
``EwsMailbox`` wraps one impersonated account. The bulk operations are ``mailbox_ops``; push and
incremental changes are ``subscriptions``; the address probe is ``probe``.
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping, Sequence

from workbench.errors import WorkbenchError
from workbench.exchange import mailbox_ops as ops
from workbench.exchange import restore as rx
from workbench.exchange import subscriptions as subs
from workbench.exchange.client import ExchangeConnection, connect
from workbench.exchange.probe import probe_mailbox
from workbench.mailbox import (BackendInfo, BackendLimits, ChangePage, Deleted, ItemRef, Probe, StateInvalid,
                               Subscription)
from workbench.settings import ExchangeSettings


class EwsMailbox:
    """One operator's Contacts folder through ExchangeImpersonation."""

    def __init__(self, conn: ExchangeConnection, account: Any) -> None:
        self._conn, self.account = conn, account
        self.address = str(account.primary_smtp_address)

    def snapshot(self, batch_size: int) -> list[dict[str, Any]]:
        return ops.read_snapshot(self.account, batch_size)

    def changes_since(self, state: str | None, batch_size: int) -> Iterator[ChangePage]:
        try:
            for page in subs.sync_pages(self._conn, self.address, state, batch_size):
                yield ChangePage(upserts=page.upserts, deleted_item_ids=page.deleted_item_ids,
                                 state=page.sync_state, last=page.last, from_state=page.from_state)
        except subs.SyncStateInvalid as exc:
            raise StateInvalid(str(exc)) from None

    def find_by_crm_ids(self, crm_ids: Sequence[str], batch_size: int) -> dict[str, list[dict[str, Any]]]:
        return ops.find_by_crm_ids(self.account, crm_ids, batch_size)

    def fetch_rows(self, item_ids: Sequence[str]) -> dict[str, dict[str, Any] | None]:
        return ops.fetch_rows(self.account, item_ids)

    def create(self, payloads: Sequence[Mapping[str, Any]], batch_size: int) -> list[ItemRef | WorkbenchError]:
        return ops.create_contacts(self.account, payloads, batch_size)

    def update(self, updates: Sequence[Mapping[str, Any]], batch_size: int) -> list[ItemRef | WorkbenchError]:
        return ops.update_contacts(self.account, updates, batch_size)

    def delete(self, refs: Sequence[tuple[str, str | None]], batch_size: int,
               delete_to: str = "deleted-items") -> list[bool | WorkbenchError]:
        return ops.delete_contacts(self.account, refs, batch_size, delete_to)

    def find_deleted(self, crm_ids: Sequence[str], batch_size: int) -> dict[str, Deleted]:
        return rx.find_deleted(self.account, crm_ids, batch_size)

    def restore(self, item_ids: Sequence[str], batch_size: int) -> list[ItemRef | WorkbenchError]:
        return rx.move_to_contacts(self.account, item_ids, batch_size)


class EwsBackend:
    """Exchange Server (2016, 2019, SE) over EWS with NTLM impersonation, as the seed prescribes."""

    kind = "ews"

    def __init__(self, conn: ExchangeConnection) -> None:
        self.conn = conn
        self.settings = conn.settings
        # EWS takes a whole batch in one request; requests per mailbox run one after another
        self.limits = BackendLimits(max_batch=max(1, int(conn.settings.batch_size)), max_in_flight=1)
        self.request_timeout = float(conn.request_timeout)

    def __enter__(self) -> "EwsBackend":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def identify(self) -> BackendInfo:
        version = self.conn.server_version()
        return BackendInfo(kind=self.kind, endpoint=self.conn.url, server=version.reported,
                           detail=f"build {version.build}, API {version.api_version}")

    def ping(self) -> None:
        self.conn.ping()

    def open(self, address: str) -> EwsMailbox:
        return EwsMailbox(self.conn, ops.open_mailbox(self.conn, address))

    def probe(self, email: str) -> Probe:
        return probe_mailbox(self.conn, email)

    def send_mail(self, recipients: Sequence[str], subject: str, body: str) -> None:
        service = ops.open_mailbox(self.conn, self.settings.impersonation_account)
        ops.send_mail(service, recipients, subject, body)

    def subscribe(self, address: str, callback_url: str, frequency_minutes: int,
                  watermark: str | None = None) -> Subscription:
        sid, mark = subs.subscribe_push(self.conn, address, callback_url, frequency_minutes, watermark)
        return Subscription(sid, mark)

    def renew(self, address: str, subscription: Subscription, callback_url: str,
              frequency_minutes: int) -> Subscription:
        """EWS push has no renew: a new subscription from the old one's watermark loses no event."""
        return self.subscribe(address, callback_url, frequency_minutes, subscription.watermark or None)

    def unsubscribe(self, address: str, subscription: Subscription) -> None:
        """Nothing to send: EWS ends a push subscription when the listener answers Unsubscribe."""

    def close(self) -> None:
        self.conn.close()


def open_ews(settings: ExchangeSettings, **kwargs: Any) -> EwsBackend:
    """An EwsBackend for ``settings``; passwords from ``workbench.secrets`` unless given (see ``connect``)."""
    return EwsBackend(connect(settings, **kwargs))
