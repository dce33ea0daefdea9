"""Opening the agent's listener where notification_url points, with the errors a user can act on."""
from __future__ import annotations

from typing import Any, Callable

from workbench.agent.events import Log
from workbench.agent.listener import Decide, ListenAddress, Listener, tls_context
from workbench.backends import push_codec
from workbench.errors import WorkbenchError


def open_listener(settings: Any, options: Any, decide: Decide, log: Log,
                  client_state: Callable[[], str]) -> Listener:
    """A started listener for ``settings.notification_url`` (``options``: bind, tls_cert, tls_key;
    ``client_state()``: what Graph notifications must carry)."""
    address = ListenAddress.from_url(settings.notification_url, options.bind)
    tls = None
    if address.scheme == "https":
        if not options.tls_cert:
            raise WorkbenchError("SETTINGS_INCOMPLETE",
                                 "notification_url is https: give the listener's certificate with --tls-cert "
                                 "(and --tls-key) or WORKBENCH_AGENT_TLS_CERT / WORKBENCH_AGENT_TLS_KEY")
        try:
            tls = tls_context(options.tls_cert, options.tls_key)
        except (OSError, ValueError) as exc:
            raise WorkbenchError("CERT_FILE_INVALID", f"listener certificate {options.tls_cert}: {exc}") from None
    try:
        return Listener(address, push_codec(settings, client_state), decide, log, tls).start()
    except OSError as exc:
        raise WorkbenchError("LISTENER_UNREACHABLE",
                             f"cannot listen on {address.host}:{address.port} for {settings.notification_url}: "
                             f"{exc.strerror or exc}") from None


def listening_url(listener: Listener | None) -> str | None:
    if listener is None:
        return None
    a = listener.address
    return f"{a.scheme}://{a.host}:{listener.port}{a.path}"
