"""The Graph implementation of the mailbox-backend protocol: Exchange Online with an app-only identity.

One ``GraphBackend`` holds one httpx client (trust, pooling, timeouts), one msal token source and one
``Transport``, and a pool for each mailbox run at once; ``open(address)`` resolves the operator's contacts folder
(which proves the app may open it).
"""
from __future__ import annotations

import datetime as dt
import threading
from typing import Sequence
from urllib.parse import quote

import httpx

from workbench.errors import WorkbenchError
from workbench.graph.auth import TokenSource, credential, resource_scope
from workbench.graph.mailbox import GraphMailbox, user_path
from workbench.graph.probe import probe_mailbox
from workbench.graph.transport import MAX_BATCH, Transport, http_client, trust
from workbench.graph.webhooks import derive_client_state
from workbench.mailbox import BackendInfo, BackendLimits, Probe, Subscription
from workbench.settings import ExchangeSettings

MAX_IN_FLIGHT = 4                  # Exchange Online's MailboxConcurrency per app and mailbox
TRANSLATE_CHUNK = 1000            # ids per translateExchangeIds request
MAX_SUBSCRIPTION_MINUTES = 4230    # Graph's longest lifetime of a subscription to contacts (just under 3 days)


class GraphBackend:
    kind = "graph"

    def __init__(self, settings: ExchangeSettings, transport: Transport, tokens: TokenSource,
                 request_timeout: float, client_state: str) -> None:
        self.settings, self.transport, self.tokens = settings, transport, tokens
        self.limits = BackendLimits(max_batch=MAX_BATCH, max_in_flight=MAX_IN_FLIGHT)
        self.request_timeout = request_timeout
        self._lock = threading.Lock()
        #: HTTP pools for the mailboxes, as many as mailboxes run at once, made when first needed: with one
        #: pool for every lane of every mailbox the lanes queued on httpcore's pool lock (docs/graph.md). A
        #: fixed number, not one per mailbox: the agent opens a mailbox for every job over one backend.
        self._stripes: list[Transport | None] = [None] * max(1, int(settings.max_concurrent_mailboxes))
        self._stripe_of: dict[str, int] = {}            # mailbox address -> its pool's index
        #: the secret Graph echoes in every notification of our subscriptions (the listener checks it); derived
        #: from the app's credential (``workbench.graph.webhooks.derive_client_state``), so it survives restarts
        self.client_state = client_state

    def __enter__(self) -> "GraphBackend":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def identify(self) -> BackendInfo:
        return BackendInfo(kind=self.kind, endpoint=self.transport.endpoint, server="Exchange Online",
                           detail="Microsoft Graph " + self.transport.endpoint.rsplit("/", 1)[-1])

    def ping(self) -> None:
        """A token, then one request that needs no mailbox (the app's subscriptions)."""
        self.transport.call("GET", "/subscriptions")

    def roles(self) -> list[str]:
        """The application roles the token holds (its ``roles`` claim; the token is not verified here: Graph
        does that)."""
        import jwt
        token = self.tokens.token()["access_token"]
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise WorkbenchError("GRAPH_PROTOCOL", f"the access token is not a JWT: {exc}") from None
        return list(claims.get("roles") or [])

    def open(self, address: str) -> GraphMailbox:
        body = self.transport.call("GET", f"{user_path(address)}/contactFolders/contacts", params={"$select": "id"},
                                   mailbox=address) or {}
        if not body.get("id"):
            raise WorkbenchError("GRAPH_PROTOCOL", f"mailbox {address}: the contacts folder has no id")
        return GraphMailbox(self._stripe(address), address, body["id"], self.limits.max_in_flight)

    def _stripe(self, address: str) -> Transport:
        """A mailbox's pool: the mailboxes get them in turn in the order they are first opened, and keep theirs
        (a run opens each mailbox to read it, then again to write), so the mailboxes a run works on at once,
        started in order, get different ones."""
        with self._lock:
            n = self._stripe_of.setdefault(address.lower(), len(self._stripe_of) % len(self._stripes))
            if self._stripes[n] is None:
                self._stripes[n] = self.transport.of_its_own()
            return self._stripes[n]

    def probe(self, email: str) -> Probe:
        return probe_mailbox(self.transport, email)

    def translate_ids(self, address: str, item_ids: Sequence[str], to: str) -> dict[str, str | None]:
        """EWS ids -> Graph immutable ids (``to="graph"``) or back (``to="ews"``) with translateExchangeIds, at most
        1,000 per request; None for an item the mailbox no longer holds."""
        source, target = ("ewsId", "restImmutableEntryId") if to == "graph" else ("restImmutableEntryId", "ewsId")
        out: dict[str, str | None] = {}
        ids = list(dict.fromkeys(item_ids))
        for start in range(0, len(ids), TRANSLATE_CHUNK):
            chunk = ids[start:start + TRANSLATE_CHUNK]
            body = self.transport.call("POST", f"{user_path(address)}/translateExchangeIds", mailbox=address,
                                       body={"inputIds": chunk, "sourceIdType": source, "targetIdType": target}) or {}
            got = {r.get("sourceId"): r.get("targetId") for r in body.get("value", []) if isinstance(r, dict)}
            out.update({i: got.get(i) for i in chunk})
        return out

    def send_mail(self, recipients: Sequence[str], subject: str, body: str) -> None:
        sender = self.settings.graph_service_mailbox
        message = {"subject": subject, "body": {"contentType": "text", "content": body},
                   "toRecipients": [{"emailAddress": {"address": r}} for r in recipients]}
        self.transport.call("POST", f"{user_path(sender)}/sendMail", body={"message": message, "saveToSentItems": True},
                            mailbox=sender)

    def _expiry(self, minutes: int) -> str:
        until = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=min(minutes, MAX_SUBSCRIPTION_MINUTES))
        return until.strftime("%Y-%m-%dT%H:%M:%SZ")

    def subscribe(self, address: str, callback_url: str, frequency_minutes: int,
                  watermark: str | None = None) -> Subscription:
        """``frequency_minutes`` is the lifetime asked for (renewed before it ends); Graph has no watermark:
        a missed notification is caught up by delta."""
        body = {"changeType": "created,updated,deleted", "notificationUrl": callback_url,
                "lifecycleNotificationUrl": callback_url, "resource": f"users/{address}/contacts",
                "expirationDateTime": self._expiry(frequency_minutes), "clientState": self.client_state}
        try:
            got = self.transport.call("POST", "/subscriptions", body=body, mailbox=address) or {}
        except WorkbenchError as err:
            raise _subscription_error(err) from None
        return Subscription(str(got.get("id", "")), "", got.get("expirationDateTime"))

    def renew(self, address: str, subscription: Subscription, callback_url: str,
              frequency_minutes: int) -> Subscription:
        try:
            got = self.transport.call("PATCH", f"/subscriptions/{quote(subscription.subscription_id, safe='')}",
                                      body={"expirationDateTime": self._expiry(frequency_minutes)},
                                      mailbox=address) or {}
        except WorkbenchError as err:
            raise _subscription_error(err) from None
        return Subscription(subscription.subscription_id, "", got.get("expirationDateTime"))

    def unsubscribe(self, address: str, subscription: Subscription) -> None:
        try:
            self.transport.call("DELETE", f"/subscriptions/{quote(subscription.subscription_id, safe='')}",
                                mailbox=address)
        except WorkbenchError as err:
            if err.code != "GRAPH_MAILBOX_NOT_FOUND":      # gone already: what we wanted
                raise _subscription_error(err) from None

    def close(self) -> None:
        with self._lock:
            stripes, self._stripes = self._stripes, [None] * len(self._stripes)
        for http in (*(t.http for t in stripes if t is not None), self.transport.http):
            http.close()


def _subscription_error(err: WorkbenchError) -> WorkbenchError:
    """A 404 names a subscription Graph no longer knows; a 4xx a refused one; the rest stays as it is."""
    status = int(err.context.get("graph_status") or 0)
    if status == 404:
        return WorkbenchError("GRAPH_SUBSCRIPTION_GONE", err.detail, **err.context)
    if err.code in ("GRAPH_PROTOCOL", "GRAPH_MAILBOX_NOT_FOUND") and 400 <= status < 500:
        return WorkbenchError("GRAPH_SUBSCRIPTION_REFUSED", err.detail, **err.context)
    return err


def open_graph(settings: ExchangeSettings, *, secret: str | None = None, timeout: float = 30.0,
               retry_max_wait: float = 30.0, max_connections: int | None = None) -> GraphBackend:
    """A GraphBackend for ``settings``; the client secret (when no certificate is set) from ``workbench.secrets``
    unless given. ``retry_max_wait`` bounds the Retry-After waits inside one $batch."""
    connections = max_connections or MAX_IN_FLIGHT * max(1, int(settings.max_concurrent_mailboxes))
    verify = trust(settings.graph_ca_bundle)

    def pool() -> httpx.Client:
        return http_client(verify, timeout, connections)
    http = pool()
    try:
        cred = credential(settings.graph_certificate_path, settings.graph_client_id, secret)
        authority = f"{settings.graph_authority_host.rstrip('/')}/{settings.graph_tenant_id}"
        tokens = TokenSource(authority, settings.graph_client_id, cred, resource_scope(settings.graph_endpoint), http)
        transport = Transport(settings.graph_endpoint, http, tokens.bearer, max_wait=retry_max_wait, pool=pool)
    except BaseException:
        http.close()
        raise
    return GraphBackend(settings, transport, tokens, timeout,
                        derive_client_state(cred, settings.graph_tenant_id, settings.graph_client_id))
