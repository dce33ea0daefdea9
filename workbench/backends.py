"""Which mailbox backend serves a mailbox: the one place that knows the implementations.

The engine, the agent, verification and ``check`` ask here for a ``workbench.mailbox.MailboxBackend``
and know nothing else about Exchange.
"""
from __future__ import annotations

from typing import Any

from workbench.mailbox import MailboxBackend, PushCodec
from workbench.settings import ExchangeSettings


def open_backend(settings: ExchangeSettings, **kwargs: Any) -> MailboxBackend:
    """The organisation's backend for ``settings``. Passwords come from ``workbench.secrets`` unless given;
    other keyword arguments (``timeout``, ``retry_max_wait``, ``max_connections``) go to the backend."""
    from workbench.exchange.backend import open_ews
    return open_ews(settings, **kwargs)


def push_codec(settings: ExchangeSettings) -> PushCodec:
    """The push wire format the organisation's backend sends to the agent's listener."""
    from workbench.exchange.notifications import EwsPushCodec
    return EwsPushCodec()
