"""Which mailbox backend serves a mailbox: the one place that knows the implementations.

The engine, the agent, verification and ``check`` ask here for a ``workbench.mailbox.MailboxBackend``
and know nothing else about Exchange. The organisation's ``backend`` setting picks EWS or Graph; when some
operators override it (a hybrid organisation), ``open_backend`` gives a ``RoutingBackend`` that sends each
mailbox to its operator's backend, opening each implementation on first use.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

from workbench.mailbox import BackendInfo, Mailbox, MailboxBackend, Probe, PushCodec, PushNotification, Subscription
from workbench.settings import ExchangeSettings

# One thread at a time imports an implementation. Two threads importing a package with circular imports
# (exchangelib, requests) at once can each get the other's half-initialised module: an agent's first two jobs
# and its listener failed with "cannot import name 'HTTPAdapter' from partially initialized module".
_importing = threading.Lock()


def open_kind(kind: str, settings: ExchangeSettings, **kwargs: Any) -> MailboxBackend:
    """One implementation: ``kind`` "ews" or "graph"."""
    with _importing:
        if kind == "graph":
            from workbench.graph.backend import open_graph as opener
        else:
            from workbench.exchange.backend import open_ews as opener
    return opener(settings, **kwargs)


def open_backend(settings: ExchangeSettings, **kwargs: Any) -> MailboxBackend:
    """The organisation's backend for ``settings``. Secrets come from ``workbench.secrets`` unless given;
    other keyword arguments (``timeout``, ``retry_max_wait``, ``max_connections``) go to the backend."""
    if settings.backends_in_use == {settings.backend}:
        return open_kind(settings.backend, settings, **kwargs)
    return RoutingBackend(settings, **kwargs)


@contextmanager
def graph_for_moves(settings: ExchangeSettings, **kwargs: Any) -> Iterator[MailboxBackend]:
    """The Graph backend for moving operators between backends, one connection (one token) for every mailbox
    inside the ``with``: ``translate_ids(address, item_ids, to)`` gives the ids the other backend knows the
    items by, through translateExchangeIds (None for an item no longer there); ``unsubscribe`` ends the push
    subscription of a mailbox leaving Graph."""
    backend = open_kind("graph", settings, **kwargs)
    try:
        yield backend
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


def push_codec(settings: ExchangeSettings, client_state: Callable[[], str]) -> PushCodec:
    """The push wire format(s) the backends in use send to the agent's listener; ``client_state()`` is the
    Graph subscriptions' clientState (``graph_client_state``), asked for only when a Graph notification arrives."""
    with _importing:
        from workbench.exchange.notifications import EwsPushCodec
        from workbench.graph.webhooks import GraphPushCodec
    kinds = settings.backends_in_use
    if kinds == {"ews"}:
        return EwsPushCodec()
    if kinds == {"graph"}:
        return GraphPushCodec(client_state)
    return HybridPushCodec(EwsPushCodec(), GraphPushCodec(client_state))


def graph_client_state(backend: MailboxBackend) -> str:
    """The clientState of the Graph subscriptions ``backend`` (Graph, or a hybrid's Graph side) makes."""
    if isinstance(backend, RoutingBackend):
        backend = backend.backend_of_kind("graph")
    return backend.client_state          # type: ignore[attr-defined]


class HybridPushCodec:
    """Both formats at one notification_url: a JSON body is Graph's, anything else EWS's. Replies are EWS's
    (Graph reads only the status of a 2xx); the handshake is Graph's."""

    def __init__(self, ews: PushCodec, graph: PushCodec) -> None:
        self.ews, self.graph = ews, graph
        self.max_body = max(ews.max_body, graph.max_body)
        self.content_type, self.ok_status = ews.content_type, ews.ok_status

    def validation_reply(self, query: str) -> bytes | None:
        return self.graph.validation_reply(query)

    def parse(self, body: bytes) -> list[PushNotification]:
        return (self.graph if body.lstrip()[:1] == b"{" else self.ews).parse(body)

    def ok_reply(self) -> bytes:
        return self.ews.ok_reply()

    def unsubscribe_reply(self) -> bytes:
        return self.ews.unsubscribe_reply()

    def fault_reply(self, reason: str, *, client: bool = True) -> bytes:
        return self.ews.fault_reply(reason, client=client)
