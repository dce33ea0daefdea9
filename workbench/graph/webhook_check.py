"""``workbench check``'s webhook step: Graph's validation handshake, sent the way Graph sends it, to
notification_url (POST ``?validationToken=``, empty text/plain body; the answer must be the token, 200
text/plain, within 10 s). The listener's TLS certificate is checked with the trust the workbench gives Graph
(the system CA store, or graph_ca_bundle), so a certificate only a private CA signed is found here before
Graph refuses it."""
from __future__ import annotations

import secrets

import httpx

from workbench.errors import WorkbenchError
from workbench.graph.errors_map import from_exception
from workbench.graph.transport import http_client, trust
from workbench.settings import ExchangeSettings

VALIDATION_TIMEOUT = 10.0           # seconds Graph waits for the answer


def handshake(settings: ExchangeSettings, timeout: float = VALIDATION_TIMEOUT) -> str:
    """The step's detail when the listener echoed the token; raises WorkbenchError otherwise."""
    url, token = settings.notification_url, secrets.token_urlsafe(24)
    with http_client(trust(settings.graph_ca_bundle), timeout, 1) as client:
        try:
            reply = client.post(url, params={"validationToken": token}, content=b"",
                                headers={"Content-Type": "text/plain; charset=utf-8"})
        except httpx.TimeoutException:
            raise WorkbenchError("GRAPH_WEBHOOK_HANDSHAKE", f"{url}: no answer within {timeout:g} s") from None
        except httpx.HTTPError as exc:
            err = from_exception(exc, where=url)
            if err.code == "GRAPH_TLS_UNTRUSTED":
                raise WorkbenchError("GRAPH_WEBHOOK_HANDSHAKE", f"the listener's certificate is not trusted: "
                                                                f"{err.detail}") from None
            raise WorkbenchError("LISTENER_UNREACHABLE", f"nothing answers at {err.detail}") from None
    kind = reply.headers.get("Content-Type", "").split(";")[0].strip()
    if reply.status_code != 200 or reply.text != token or kind != "text/plain":
        raise WorkbenchError("GRAPH_WEBHOOK_HANDSHAKE", f"{url} answered HTTP {reply.status_code} "
                             f"({kind or 'no content type'}), not the token as text/plain")
    seconds = reply.elapsed.total_seconds()
    return f"{url} echoed the validation token in {seconds:.2f} s"
