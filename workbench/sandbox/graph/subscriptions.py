"""Change notifications: ``/subscriptions`` (POST with the validation handshake, GET, PATCH, DELETE,
reauthorize), notifications posted to the listener (retried when not acknowledged in time) and the
lifecycle events reauthorizationRequired, subscriptionRemoved and missed."""
from __future__ import annotations

import datetime as dt
import ipaddress
import re
import secrets
import threading
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..store import Event, Mailbox
from . import rbac
from .contact_map import etag
from .ids import rest_id, user_id
from .state import GraphState
from .wire import GraphError, Request, Response, fmt, parse_time, utcnow

MAX_MINUTES = 10_080                 # contacts: at most 7 days
MAX_CLIENT_STATE = 128
CHANGE_TYPES = ("created", "updated", "deleted")
LIFECYCLE_EVENTS = ("reauthorizationRequired", "subscriptionRemoved", "missed")
BATCH = 100
_RESOURCE = re.compile(r"^/?(?:me|users/([^/]+))/(?:contactfolders/([^/]+)/)?contacts$", re.I)


@dataclass
class Timing:
    validation_timeout: float = 10.0     # the listener must answer the handshake within this
    ack_timeout: float = 3.0             # ... and acknowledge a notification within this
    retry_delays: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)   # then the notifications are missed
    reauth_grace: float = 3600.0         # after reauthorizationRequired, reauthorize within this or be removed
    tick: float = 0.05


@dataclass
class GraphSubscription:
    id: str
    client_id: str
    resource: str
    mailbox: str
    folder_id: str
    change_types: list[str]
    notification_url: str
    lifecycle_url: str | None
    client_state: str | None
    expiration: dt.datetime
    last_event: int = 0
    reauth_due: float | None = None      # monotonic deadline after reauthorizationRequired
    pending: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0
    next_try: float = 0.0
    sending: bool = False

    def to_graph(self, g: GraphState) -> dict[str, Any]:
        return {"id": self.id, "resource": self.resource, "applicationId": self.client_id,
                "changeType": ",".join(self.change_types), "clientState": self.client_state,
                "notificationUrl": self.notification_url, "lifecycleNotificationUrl": self.lifecycle_url,
                "expirationDateTime": fmt(self.expiration), "creatorId": self.client_id,
                "includeResourceData": False, "latestSupportedTlsVersion": "v1_2", "encryptionCertificate": None,
                "encryptionCertificateId": None, "notificationQueryOptions": None, "notificationUrlAppId": None}

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "client_id": self.client_id, "resource": self.resource, "mailbox": self.mailbox,
                "folder_id": self.folder_id, "change_types": self.change_types,
                "notification_url": self.notification_url, "lifecycle_url": self.lifecycle_url,
                "client_state": self.client_state, "expiration": fmt(self.expiration), "last_event": self.last_event}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "GraphSubscription":
        return cls(**{**d, "expiration": parse_time(d["expiration"], "expiration")})


def _check_url(name: str, url: Any) -> str:
    parts = urllib.parse.urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise GraphError(400, "ValidationError", f"{name} must be an http(s) URL, not {url!r}.")
    try:
        loopback = ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        loopback = parts.hostname == "localhost"
    if not loopback:
        raise GraphError(400, "ValidationError", f"{name} {url!r}: the sandbox only calls listeners on loopback.")
    return url


class Subscriptions:
    def __init__(self, g: GraphState, timing: Timing | None = None):
        self.g, self.timing = g, timing or Timing()
        self.live: dict[str, GraphSubscription] = {}
        self.lock = threading.RLock()
        self.wake = threading.Event()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="graph-notify")
        self._client = httpx.Client(verify=False, trust_env=False)  # noqa: S501 - listeners use their own certs
        self._thread = threading.Thread(target=self._run, name="graph-subscriptions", daemon=True)
        self._listening: set[str] = set()

    def start(self) -> None:
        with self.lock:
            for sub in self.live.values():
                self._listen(sub.mailbox)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._client.close()

    def _listen(self, primary: str) -> None:
        if primary in self._listening:
            return
        mb = self.g.store.find_mailbox(primary)
        if mb is not None:
            mb.listeners.append(lambda _mb: self.wake.set())
            self._listening.add(primary)

    # --- the REST surface
    def handle(self, request: Request, rest: list[str]) -> Response:
        method = request.method
        if not rest and method == "POST":
            return self.create(request)
        if not rest and method == "GET":
            with self.lock:
                value = [s.to_graph(self.g) for s in self.live.values() if s.client_id == request.app.client_id]
            return Response(200, {"@odata.context": f"{self.g.graph_url}/$metadata#subscriptions", "value": value},
                            type_name="Collection(microsoft.graph.subscription)")
        sub = self._own(request, rest[0]) if rest else None
        if sub is not None and len(rest) == 1 and method == "GET":
            return self._entity(sub, 200)
        if sub is not None and len(rest) == 1 and method == "PATCH":
            return self.renew(request, sub)
        if sub is not None and len(rest) == 1 and method == "DELETE":
            self.remove(sub.id)
            return Response(204)
        if sub is not None and len(rest) == 2 and rest[1].lower() == "reauthorize" and method == "POST":
            with self.lock:
                sub.reauth_due = None
            return Response(204)
        raise GraphError(400, "BadRequest", f"Unsupported request {method} {request.path}.")

    def _own(self, request: Request, sid: str) -> GraphSubscription:
        with self.lock:
            sub = self.live.get(sid)
        if sub is None or sub.client_id != request.app.client_id:
            raise GraphError(404, "ResourceNotFound", f"The object '{sid}' doesn't exist.")
        return sub

    def _entity(self, sub: GraphSubscription, status: int) -> Response:
        body = {"@odata.context": f"{self.g.graph_url}/$metadata#subscriptions/$entity", **sub.to_graph(self.g)}
        return Response(status, body, type_name="microsoft.graph.subscription")

    def _expiration(self, value: Any) -> dt.datetime:
        if not isinstance(value, str):
            raise GraphError(400, "ValidationError", "expirationDateTime is required.")
        when = parse_time(value, "expirationDateTime")
        if when <= utcnow():
            raise GraphError(400, "ValidationError", "Subscription expiration must be in the future.")
        if when > utcnow() + dt.timedelta(minutes=MAX_MINUTES):
            raise GraphError(400, "ValidationError", f"Subscription expiration can only be {MAX_MINUTES} minutes "
                                                     "in the future.")
        return when

    def create(self, request: Request) -> Response:
        data = request.json_object()
        change_types = [c.strip() for c in str(data.get("changeType", "")).split(",") if c.strip()]
        if not change_types or any(c not in CHANGE_TYPES for c in change_types):
            raise GraphError(400, "ValidationError", f"changeType {data.get('changeType')!r}: a comma-separated "
                                                     f"list of {', '.join(CHANGE_TYPES)}.")
        match = _RESOURCE.match(str(data.get("resource", "")))
        if match is None or match.group(1) is None:
            raise GraphError(400, "InvalidRequest", f"resource {data.get('resource')!r}: the sandbox subscribes to "
                             "/users/{id}/contacts or /users/{id}/contactFolders/{id}/contacts.")
        mb = self.g.mailbox(match.group(1))
        rbac.require(request.app, request.roles, rbac.READ, mb.primary)
        folder = self.g.folder(mb, match.group(2)) if match.group(2) else mb.by_name["contacts"]
        state = data.get("clientState")
        if state is not None and (not isinstance(state, str) or len(state) > MAX_CLIENT_STATE):
            raise GraphError(400, "ValidationError", f"clientState holds at most {MAX_CLIENT_STATE} characters.")
        url = _check_url("notificationUrl", data.get("notificationUrl"))
        lifecycle = data.get("lifecycleNotificationUrl")
        lifecycle = _check_url("lifecycleNotificationUrl", lifecycle) if lifecycle is not None else None
        expiration = self._expiration(data.get("expirationDateTime"))
        for target in filter(None, (url, lifecycle)):
            self._validate(target)
        with self.g.store.lock:
            last = mb.event_count
        sub = GraphSubscription(str(uuid.uuid4()), request.app.client_id, data["resource"], mb.primary, folder.id,
                                change_types, url, lifecycle, state, expiration, last)
        with self.lock:
            self.live[sub.id] = sub
            self._listen(mb.primary)
        return self._entity(sub, 201)

    def _validate(self, url: str) -> None:
        token = secrets.token_urlsafe(24)
        try:
            reply = self._client.post(url, params={"validationToken": token}, content=b"",
                                      headers={"Content-Type": "text/plain; charset=utf-8"},
                                      timeout=self.timing.validation_timeout)
        except httpx.TimeoutException:
            raise GraphError(400, "ValidationError", "Subscription validation request failed. Notification "
                             f"endpoint {url} did not answer within {self.timing.validation_timeout:g} s.") from None
        except httpx.HTTPError as exc:
            raise GraphError(400, "ValidationError", "Subscription validation request failed. Notification "
                             f"endpoint {url} could not be reached ({type(exc).__name__}).") from None
        if reply.status_code != 200 or reply.text != token:
            raise GraphError(400, "ValidationError", "Subscription validation request failed. Notification "
                             "endpoint must respond with 200 OK and the validation token as text/plain "
                             f"(got HTTP {reply.status_code}).")

    def renew(self, request: Request, sub: GraphSubscription) -> Response:
        data = request.json_object()
        unknown = set(data) - {"expirationDateTime", "notificationUrl", "@odata.type"}
        if unknown:
            raise GraphError(400, "ValidationError", f"Only expirationDateTime and notificationUrl can be changed, "
                                                     f"not {sorted(unknown)[0]}.")
        expiration = self._expiration(data.get("expirationDateTime"))
        url = _check_url("notificationUrl", data["notificationUrl"]) if "notificationUrl" in data else None
        if url is not None:
            self._validate(url)
        with self.lock:
            sub.expiration, sub.reauth_due = expiration, None
            sub.notification_url = url or sub.notification_url
        return self._entity(sub, 200)

    def remove(self, sid: str) -> GraphSubscription | None:
        with self.lock:
            return self.live.pop(sid, None)

    # --- lifecycle events
    def lifecycle(self, sid: str, event: str) -> None:
        """Send a lifecycle event (reauthorizationRequired, subscriptionRemoved, missed) as Graph would."""
        if event not in LIFECYCLE_EVENTS:
            raise ValueError(f"lifecycle event must be one of {LIFECYCLE_EVENTS}, not {event!r}")
        with self.lock:
            sub = self.live.get(sid)
            if sub is None:
                raise KeyError(sid)
            if event == "reauthorizationRequired":
                sub.reauth_due = time.monotonic() + self.timing.reauth_grace
            if event == "subscriptionRemoved":
                self.live.pop(sid, None)
        self._send_lifecycle(sub, event)

    def _send_lifecycle(self, sub: GraphSubscription, event: str) -> None:
        if sub.lifecycle_url is None:
            return
        body = {"value": [{"lifecycleEvent": event, "subscriptionId": sub.id, "resource": sub.resource,
                           "subscriptionExpirationDateTime": fmt(sub.expiration), "clientState": sub.client_state,
                           "tenantId": self.g.registry.tenant_id}]}
        self._pool.submit(self._post, sub.lifecycle_url, body)

    def _post(self, url: str, body: dict[str, Any]) -> bool:
        self.g.capture.add("notification", "microsoft.graph.changeNotificationCollection", body)
        try:
            reply = self._client.post(url, json=body, timeout=self.timing.ack_timeout)
        except httpx.HTTPError:
            return False
        return 200 <= reply.status_code < 300

    # --- notifications
    def _run(self) -> None:
        while not self._stop.is_set():
            self.wake.wait(self.timing.tick)
            self.wake.clear()
            with self.g.store.lock, self.lock:
                due = self._collect()
            for sub, batch in due:
                self._pool.submit(self._deliver, sub, batch)

    def _collect(self) -> list[tuple[GraphSubscription, list[dict[str, Any]]]]:
        """New changes into each subscription's pending list; what is due to be sent (caller holds locks)."""
        now_m, now_utc, due, removed = time.monotonic(), utcnow(), [], []
        for sub in list(self.live.values()):
            if sub.expiration <= now_utc:
                self.live.pop(sub.id, None)
                continue
            if sub.reauth_due is not None and now_m >= sub.reauth_due:
                self.live.pop(sub.id, None)
                removed.append(sub)
                continue
            mb = self.g.store.find_mailbox(sub.mailbox)
            if mb is None:
                continue
            for event in mb.events_after(sub.last_event):
                sub.pending.extend(self._notifications(sub, mb, event))
            sub.last_event = mb.event_count
            if sub.pending and not sub.sending and now_m >= sub.next_try:
                sub.sending = True
                due.append((sub, sub.pending[:BATCH]))
        for sub in removed:
            self._send_lifecycle(sub, "subscriptionRemoved")
        return due

    def _notifications(self, sub: GraphSubscription, mb: Mailbox, event: Event) -> list[dict[str, Any]]:
        changes: list[tuple[str, str]] = []
        if event.folder_id == sub.folder_id and event.type in ("CreatedEvent", "MovedEvent", "CopiedEvent"):
            changes.append(("created", event.item_id))
        elif event.folder_id == sub.folder_id and event.type == "ModifiedEvent":
            changes.append(("updated", event.item_id))
        elif event.folder_id == sub.folder_id and event.type == "DeletedEvent":
            changes.append(("deleted", event.item_id))
        if event.type == "MovedEvent" and event.old_folder_id == sub.folder_id and event.old_item_id:
            changes.append(("deleted", event.old_item_id))
        out = []
        uid = user_id(mb.primary)
        for change, item_id in changes:
            if change not in sub.change_types:
                continue
            item = mb.item(item_id)
            if change != "deleted" and (item is None or item.kind != "Contact"):
                continue
            rid = rest_id(item_id)
            data = {"@odata.type": "#Microsoft.Graph.Contact", "@odata.id": f"Users/{uid}/Contacts/{rid}", "id": rid}
            if item is not None and change != "deleted":
                data["@odata.etag"] = etag(item)
            out.append({"subscriptionId": sub.id, "subscriptionExpirationDateTime": fmt(sub.expiration),
                        "changeType": change, "resource": f"Users/{uid}/Contacts/{rid}", "resourceData": data,
                        "clientState": sub.client_state, "tenantId": self.g.registry.tenant_id})
        return out

    def _deliver(self, sub: GraphSubscription, batch: list[dict[str, Any]]) -> None:
        ok = self._post(sub.notification_url, {"value": batch})
        missed = False
        with self.lock:
            sub.sending = False
            if ok:
                del sub.pending[:len(batch)]
                sub.attempts = 0
            else:
                sub.attempts += 1
                if sub.attempts > len(self.timing.retry_delays):
                    del sub.pending[:len(batch)]
                    sub.attempts, missed = 0, True
                else:
                    sub.next_try = time.monotonic() + self.timing.retry_delays[sub.attempts - 1]
        if missed:
            self._send_lifecycle(sub, "missed")
        self.wake.set()

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return [{**s.to_json(), "pending": len(s.pending), "attempts": s.attempts,
                     "reauthorization_due": s.reauth_due is not None} for s in self.live.values()]

    def to_json(self) -> list[dict[str, Any]]:
        with self.lock:
            return [s.to_json() for s in self.live.values()]

    def load(self, items: list[dict[str, Any]]) -> None:
        with self.lock:
            for raw in items:
                sub = GraphSubscription.from_json(raw)
                self.live[sub.id] = sub
