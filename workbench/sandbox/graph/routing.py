"""Routing of Graph requests: identity-platform paths, then /v1.0 with a bearer token, faults, throttling,
RBAC, and the resource handlers. Every request is recorded (and its JSON bodies captured on request)."""
from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

from . import batch, contacts, delta, identity, mail, rbac, translate
from .faults import GraphFaults
from .identity import Identity
from .state import GraphState
from .subscriptions import Subscriptions
from .throttle import Throttle
from .wire import GraphError, Request, Response, fmt, utcnow

MAX_LOG = 50_000


@dataclass
class GraphRecord:
    time: str
    client_id: str
    method: str
    path: str
    mailbox: str
    status: int
    code: str
    batch: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class GraphApp:
    def __init__(self, state: GraphState, ident: Identity, faults: GraphFaults, throttle: Throttle,
                 subscriptions: Subscriptions):
        self.state, self.identity, self.faults, self.throttle = state, ident, faults, throttle
        self.subscriptions = subscriptions
        self.log: list[GraphRecord] = []
        self._log_lock = threading.Lock()

    # --- entry point of the transport
    def handle(self, request: Request) -> Response:
        found = identity.handle(self.identity, request)
        if found is not None:
            return found
        if not request.path.lower().startswith("/v1.0/"):
            return GraphError(400, "BadRequest", f"Invalid version: {request.path.split('/')[1:2]}").response()
        try:
            request.app, request.roles = self.identity.authenticate(request)
        except GraphError as err:
            return self._finish(request, err.response(request.request_id), "")
        self.capture_request(request)
        if request.path.lower() == "/v1.0/$batch":
            return self._finish(request, self._guard(lambda: batch.handle(self, request), request), "")
        return self.dispatch(request)

    def dispatch(self, request: Request, in_batch: bool = False) -> Response:
        """One resource request (a top-level one or a part of a $batch), faults and limits applied."""
        decision = self.faults.decide()
        if decision.drop and not in_batch:
            return Response(0, drop=True)
        mailbox = ""
        try:
            parts = [p for p in request.path.split("/") if p][1:]
            users = len(parts) >= 2 and parts[0].lower() == "users"
            mb = self.state.mailbox(parts[1]) if users else None
            mailbox = mb.primary if mb else ""
            if decision.throttle:
                raise GraphError(429, "TooManyRequests", "Too many requests (injected).",
                                 {"Retry-After": str(self.faults.config.retry_after_s)})
            if decision.http_error:
                raise GraphError(decision.http_error, "ServiceUnavailable" if decision.http_error == 503 else
                                 "InternalServerError", "The service is temporarily unavailable (injected).",
                                 {"Retry-After": str(self.faults.config.retry_after_s)})
            if mb is not None:
                with self.throttle.admit(request.app.client_id, mb.primary):
                    if decision.latency_s:
                        time.sleep(decision.latency_s)
                    response = self._user(request, mb, parts[2:])
            else:
                if decision.latency_s:
                    time.sleep(decision.latency_s)
                response = self._other(request, parts)
        except GraphError as err:
            response = err.response(request.request_id)
        return self._finish(request, response, mailbox, in_batch)

    def _guard(self, call: Callable[[], Response], request: Request) -> Response:
        try:
            return call()
        except GraphError as err:
            return err.response(request.request_id)

    # --- resources
    def _user(self, request: Request, mb: Any, rest: list[str]) -> Response:
        g, method = self.state, request.method
        low = [p.lower() for p in rest]
        app, roles = request.app, request.roles
        need = rbac.READ if method == "GET" else rbac.WRITE
        if not low:
            rbac.require(app, roles, rbac.DIRECTORY, mb.primary)
            return mail.user(g, mb)
        if low == ["sendmail"] and method == "POST":
            rbac.require(app, roles, rbac.SEND, mb.primary)
            return mail.send_mail(g, request, mb)
        if low == ["translateexchangeids"] and method == "POST":
            rbac.require(app, roles, rbac.DIRECTORY, mb.primary)
            return translate.handle(g, request, mb)
        folder = None
        if low[0] == "contactfolders":
            rbac.require(app, roles, rbac.READ, mb.primary)
            if len(low) == 1 and method == "GET":
                return contacts.list_folders(g, request, mb)
            if len(low) < 2:
                raise _no_route(request)
            folder = g.folder(mb, rest[1])
            if len(low) == 2 and method == "GET":
                return contacts.get_folder(g, request, mb, folder)
            rest, low = rest[2:], low[2:]
        if not low or low[0] != "contacts":
            raise _no_route(request)
        rbac.require(app, roles, need, mb.primary)
        target = folder or mb.by_name["contacts"]
        tail, tail_raw = low[1:], rest[1:]
        if not tail:
            if method == "GET":
                return contacts.list_contacts(g, request, mb, target)
            if method == "POST":
                return contacts.create_contact(g, request, mb, target)
        elif tail == ["delta"] and method == "GET":
            return delta.handle(g, request, mb, target)
        elif len(tail) == 1:
            if method == "GET":
                return contacts.get_contact(g, request, mb, folder, tail_raw[0])
            if method == "PATCH":
                return contacts.update_contact(g, request, mb, folder, tail_raw[0])
            if method == "DELETE":
                return contacts.delete_contact(g, request, mb, folder, tail_raw[0])
        elif len(tail) == 2 and tail[1] == "permanentdelete" and method == "POST":
            return contacts.delete_contact(g, request, mb, folder, tail_raw[0], permanent=True)
        raise _no_route(request)

    def _other(self, request: Request, parts: list[str]) -> Response:
        if parts and parts[0].lower() == "subscriptions":
            return self.subscriptions.handle(request, parts[1:])
        raise _no_route(request)

    # --- records
    def capture_request(self, request: Request) -> None:
        if request.method in ("POST", "PATCH") and request.body and self.state.capture.enabled:
            type_name = request_type(request)
            try:
                self.state.capture.add("request", type_name, request.json())
            except GraphError:
                pass

    def _finish(self, request: Request, response: Response, mailbox: str, in_batch: bool = False) -> Response:
        self.state.capture.add("response", response.type_name, response.body)
        code = response.body["error"]["code"] if response.type_name == "odata.error" else ""
        record = GraphRecord(fmt(utcnow()), request.app.client_id if request.app else "", request.method,
                             request.path, mailbox, response.status, code, in_batch)
        with self._log_lock:
            self.log.append(record)
            if len(self.log) > MAX_LOG:
                del self.log[: len(self.log) - MAX_LOG]
        return response


def request_type(request: Request) -> str | None:
    """The CSDL type a request body claims, from its route."""
    low = [p.lower() for p in request.path.split("/") if p][1:]
    if low == ["$batch"]:
        return "odata.batchRequest"
    if low[:1] == ["subscriptions"]:
        return "microsoft.graph.subscription" if len(low) <= 2 else None
    if low[-1:] == ["sendmail"]:
        return "action:sendMail"
    if low[-1:] == ["translateexchangeids"]:
        return "action:translateExchangeIds"
    if "contacts" in low:
        return "microsoft.graph.contact"
    return None


def _no_route(request: Request) -> GraphError:
    return GraphError(400, "BadRequest", f"Resource not found for the segment '{request.path.split('/')[-1]}' "
                                         f"({request.method} {request.path}).")
