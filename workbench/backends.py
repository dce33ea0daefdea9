"""Which mailbox backend serves a mailbox: the one place that knows the implementations.

The engine, the agent, verification and ``check`` ask here for a ``workbench.mailbox.MailboxBackend``
and know nothing else about Exchange. The organisation's ``backend`` setting picks EWS or Graph; when some
operators override it (a hybrid organisation), ``open_backend`` gives a ``RoutingBackend`` that sends each
mailbox to its operator's backend, opening each implementation on first use.
"""
from __future__ import annotations

import threading
from typing import Any, Sequence

from workbench.mailbox import BackendInfo, Mailbox, MailboxBackend, Probe, PushCodec, Subscription
from workbench.settings import ExchangeSettings


def open_kind(kind: str, settings: ExchangeSettings, **kwargs: Any) -> MailboxBackend:
    """One implementation: ``kind`` "ews" or "graph"."""
    if kind == "graph":
        from workbench.graph.backend import open_graph
        return open_graph(settings, **kwargs)
    from workbench.exchange.backend import open_ews
    return open_ews(settings, **kwargs)


def open_backend(settings: ExchangeSettings, **kwargs: Any) -> MailboxBackend:
    """The organisation's backend for ``settings``. Secrets come from ``workbench.secrets`` unless given;
    other keyword arguments (``timeout``, ``retry_max_wait``, ``max_connections``) go to the backend."""
    if settings.backends_in_use == {settings.backend}:
        return open_kind(settings.backend, settings, **kwargs)
    return RoutingBackend(settings, **kwargs)


def translate_item_ids(settings: ExchangeSettings, address: str, item_ids: Sequence[str], to: str,
                       **kwargs: Any) -> dict[str, str | None]:
    """The ids the other backend knows ``address``'s items by (``to`` "graph": EWS ids -> Graph immutable ids;
    "ews": back), through Graph's translateExchangeIds; None for an item no longer there."""
    backend = open_kind("graph", settings, **kwargs)
    try:
        return backend.translate_ids(address, item_ids, to)    # type: ignore[attr-defined]
    finally:
        backend.close()


class RoutingBackend:
    """Hybrid: each mailbox through its operator's backend; the failure e-mail through the organisation's."""

    def __init__(self, settings: ExchangeSettings, **kwargs: Any) -> None:
        self.settings, self._kwargs = settings, kwargs
        self.kind = settings.backend
        self._open: dict[str, MailboxBackend] = {}
        self._lock = threading.Lock()
        home = self.backend_of_kind(settings.backend)
        self.limits, self.request_timeout = home.limits, home.request_timeout

    def backend_of_kind(self, kind: str) -> MailboxBackend:
        with self._lock:
            if kind not in self._open:
                self._open[kind] = open_kind(kind, self.settings, **self._kwargs)
            return self._open[kind]

    def backend_for(self, address: str) -> MailboxBackend:
        return self.backend_of_kind(self.settings.backend_for(address))

    def identify(self) -> BackendInfo:
        return self.backend_of_kind(self.kind).identify()

    def ping(self) -> None:
        for kind in sorted(self.settings.backends_in_use):
            self.backend_of_kind(kind).ping()

    def open(self, address: str) -> Mailbox:
        return self.backend_for(address).open(address)

    def probe(self, email: str) -> Probe:
        return self.backend_for(email).probe(email)

    def send_mail(self, recipients: Sequence[str], subject: str, body: str) -> None:
        self.backend_of_kind(self.kind).send_mail(recipients, subject, body)

    def subscribe(self, address: str, callback_url: str, frequency_minutes: int,
                  watermark: str | None = None) -> Subscription:
        return self.backend_for(address).subscribe(address, callback_url, frequency_minutes, watermark)

    def renew(self, address: str, subscription: Subscription, callback_url: str,
              frequency_minutes: int) -> Subscription:
        return self.backend_for(address).renew(address, subscription, callback_url, frequency_minutes)

    def unsubscribe(self, address: str, subscription: Subscription) -> None:
        self.backend_for(address).unsubscribe(address, subscription)

    def close(self) -> None:
        with self._lock:
            backends, self._open = list(self._open.values()), {}
        for backend in backends:
            backend.close()


def push_codec(settings: ExchangeSettings) -> PushCodec:
    """The push wire format the organisation's backend sends to the agent's listener."""
    from workbench.exchange.notifications import EwsPushCodec
    return EwsPushCodec()
