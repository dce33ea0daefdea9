"""Microsoft Graph change notifications as the agent's listener sees them (``workbench.mailbox.PushCodec``).

- The validation handshake: Graph POSTs ``?validationToken=...`` when a subscription is created or its URL
  changes and wants the token back, 200 ``text/plain``, within 10 s (``validation_reply``).
- Change notifications: a JSON ``changeNotificationCollection``; each item of ``value`` names its
  ``subscriptionId``, ``changeType`` and ``resource`` and echoes the subscription's ``clientState``. A body in
  which any item carries another clientState than ours is refused whole (403, nothing fetched): only Graph,
  which we told the secret, can send a notification the agent acts on.
- Lifecycle notifications (``lifecycleEvent``: reauthorizationRequired, subscriptionRemoved, missed) become
  events of that kind (``workbench.mailbox.LIFECYCLE_EVENTS``); the agent acts on them
  (``workbench.agent.webhooks``).
- Replies: 202 with no body keeps the subscription (Graph has no "unsubscribe" answer: the agent DELETEs a
  subscription it ends); a refusal is a small JSON error.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any, Callable
from urllib.parse import parse_qs

from workbench.mailbox import LIFECYCLE_EVENTS, PushEvent, PushNotification, PushRefused

MAX_BODY = 1024 * 1024               # bytes; Graph sends at most a few hundred notifications per POST
MAX_TOKEN = 1024                     # characters of a validation token we echo
CHANGE_TYPES = ("created", "updated", "deleted")


def validation_token(query: str) -> str | None:
    """The ``validationToken`` of a request's query string, None when there is none; raises PushRefused for one
    we will not echo (empty, too long, control characters)."""
    values = parse_qs(query, keep_blank_values=True).get("validationToken")
    if values is None:
        return None
    token = values[0]
    if not token or len(token) > MAX_TOKEN or not token.isprintable():
        raise PushRefused("validationToken must be 1 to 1024 printable characters")
    return token


def derive_client_state(credential: Any, tenant_id: str, client_id: str) -> str:
    """The clientState of our subscriptions: an HMAC of the app's credential (the secret, or the certificate's
    private key), so every agent of the app checks the same value after a restart and none is stored. It
    changes when the credential does; the watchdog then re-subscribes the silent subscriptions."""
    key = credential["private_key"] if isinstance(credential, dict) else credential
    mac = hmac.new(str(key).encode("utf-8"), f"workbench clientState {tenant_id} {client_id}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode("ascii")


class GraphPushCodec:
    """``client_state()``: the clientState our subscriptions carry (asked when a notification arrives, so the
    backend's credential is read only once the agent needs it)."""

    max_body = MAX_BODY
    content_type = "application/json"
    ok_status = 202

    def __init__(self, client_state: Callable[[], str]) -> None:
        self._client_state = client_state

    def validation_reply(self, query: str) -> bytes | None:
        token = validation_token(query)
        return None if token is None else token.encode("utf-8")

    def parse(self, body: bytes) -> list[PushNotification]:
        items = _items(body)
        try:
            expected = self._client_state()
        except Exception as exc:   # the credential could not be read now: Graph retries a 5xx, then sends `missed`
            raise PushRefused(f"the agent cannot check clientState now: {type(exc).__name__}", 503) from None
        for item in items:
            got = item.get("clientState")
            if not isinstance(got, str) or not hmac.compare_digest(got.encode(), expected.encode()):
                raise PushRefused(f"subscription {str(item.get('subscriptionId'))[:40]}: wrong clientState", 403)
        return [_notification(item) for item in items]

    def ok_reply(self) -> bytes:
        return b""

    def unsubscribe_reply(self) -> bytes:
        return b""

    def fault_reply(self, reason: str, *, client: bool = True) -> bytes:
        code = "BadRequest" if client else "InternalServerError"
        return json.dumps({"error": {"code": code, "message": reason[:300]}}).encode()


def _items(body: bytes) -> list[dict[str, Any]]:
    if len(body) > MAX_BODY:
        raise PushRefused(f"body of {len(body)} bytes exceeds {MAX_BODY}", 413)
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PushRefused(f"not JSON: {exc}"[:200]) from None
    value = doc.get("value") if isinstance(doc, dict) else None
    if not isinstance(value, list) or not value or not all(isinstance(i, dict) for i in value):
        raise PushRefused("not a change notification collection: 'value' must be a non-empty list of objects")
    for item in value:
        if not isinstance(item.get("subscriptionId"), str) or not item["subscriptionId"]:
            raise PushRefused("a notification without subscriptionId")
        kind = item.get("lifecycleEvent", item.get("changeType"))
        if kind not in LIFECYCLE_EVENTS and kind not in CHANGE_TYPES:
            raise PushRefused(f"changeType / lifecycleEvent {str(kind)[:40]!r}: one of "
                              f"{', '.join(CHANGE_TYPES + LIFECYCLE_EVENTS)}")
    return value


def _notification(item: dict[str, Any]) -> PushNotification:
    kind = item.get("lifecycleEvent") or item["changeType"]
    data = item.get("resourceData") if isinstance(item.get("resourceData"), dict) else {}
    item_id = data.get("id") if isinstance(data.get("id"), str) else None
    return PushNotification(item["subscriptionId"], None, False, [PushEvent(kind, None, item_id)])
