"""The EWS request pipeline: SOAP header checks, version, impersonation, injected faults, dispatch,
request log and body capture. Transport and authentication live in server.py."""
from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass
from typing import Callable

from lxml import etree

from . import ops_folders, ops_items, ops_misc, ops_sync, notify
from .context import Context
from .faults import Faults
from .notify import Subscriptions
from .schema import RequestSchema
from .soap import SOAP, Responses, SoapFault, envelope, fault, local, parse, serialize, t
from .store import Store, User

# version configured -> (build, Version attribute, request versions it accepts)
_V2010 = ("Exchange2007", "Exchange2007_SP1", "Exchange2010", "Exchange2010_SP1", "Exchange2010_SP2")
_V2013 = _V2010 + ("Exchange2013", "Exchange2013_SP1")
_V2016 = _V2013 + ("Exchange2015", "Exchange2016", "V2015_10_05", "V2016_01_06", "V2016_04_13", "V2016_07_13",
                   "V2016_10_10")
# Exchange 2019 and Subscription Edition add no RequestServerVersion value: their newest is Exchange2016 (and
# the V2016_* dates). Builds: 2010 SP3, 2013 CU23, 2016 CU23, 2019 CU15 (15.2.1748.10), SE RTM (15.2.2562.17).
VERSIONS: dict[str, tuple[tuple[int, int, int, int], str, tuple[str, ...]]] = {
    "Exchange2010": ((14, 3, 123, 4), "Exchange2010_SP2", _V2010),
    "Exchange2013": ((15, 0, 1497, 2), "Exchange2013_SP1", _V2013),
    "Exchange2016": ((15, 1, 2507, 6), "Exchange2016", _V2016),
    "Exchange2019": ((15, 2, 1748, 10), "Exchange2016", _V2016),
    "ExchangeSE": ((15, 2, 2562, 17), "Exchange2016", _V2016),
}

Handler = Callable[[Context, etree._Element], Responses]
OPERATIONS: dict[str, Handler] = {
    "GetFolder": ops_folders.get_folder,
    "FindFolder": ops_folders.find_folder,
    "FindItem": ops_items.find_item,
    "GetItem": ops_items.get_item,
    "CreateItem": ops_items.create_item,
    "UpdateItem": ops_items.update_item,
    "DeleteItem": ops_items.delete_item,
    "MoveItem": ops_items.move_item,
    "SyncFolderItems": ops_sync.sync_folder_items,
    "Subscribe": notify.subscribe,
    "GetEvents": notify.get_events,
    "Unsubscribe": notify.unsubscribe,
    "ConvertId": ops_misc.convert_id,
    "ResolveNames": ops_misc.resolve_names,
}
MAILBOXLESS = {"ConvertId", "ResolveNames"}
WRITES = {"CreateItem", "UpdateItem", "DeleteItem", "MoveItem"}


@dataclass(frozen=True)
class RequestRecord:
    time: float
    user: str
    mailbox: str | None
    operation: str
    items: int              # response messages (one per item or folder of the request)
    errors: int             # of those, error messages
    status: int             # HTTP status (0 = connection dropped)
    outcome: str            # NoError, the fault or first error code, "dropped", ...
    flags: tuple[str, ...] = ()   # request features: "SyncState" (non-empty), "Restriction", "SortOrder"

    def to_json(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Outcome:
    status: int
    body: bytes
    content_type: str = "text/xml; charset=utf-8"
    drop: bool = False


class EwsService:
    def __init__(self, store: Store, faults: Faults, subscriptions: Subscriptions, version: str,
                 minute_seconds: float, capture: bool, schema: RequestSchema | None = None):
        if version not in VERSIONS:
            raise ValueError(f"version must be one of {sorted(VERSIONS)}")
        self.store, self.faults, self.subscriptions = store, faults, subscriptions
        self.version = version
        self.minute_seconds = minute_seconds
        build, name, self.accepted = VERSIONS[version]
        self.server_version = {"MajorVersion": str(build[0]), "MinorVersion": str(build[1]),
                               "MajorBuildNumber": str(build[2]), "MinorBuildNumber": str(build[3]),
                               "Version": name}
        self.capture = capture
        self.schema = schema
        self.captured: list[tuple[str, bytes]] = []
        self.log: list[RequestRecord] = []
        self._log_lock = threading.Lock()

    # --- bookkeeping
    def record(self, direction: str, body: bytes) -> None:
        if self.capture:
            with self._log_lock:
                self.captured.append((direction, body))

    def note(self, user: str, mailbox: str | None, operation: str, items: int, errors: int, status: int,
             outcome: str, flags: tuple[str, ...] = ()) -> None:
        with self._log_lock:
            self.log.append(RequestRecord(time.time(), user, mailbox, operation, items, errors, status, outcome,
                                          flags))

    def push_note(self, mailbox: str, operation: str, items: int, outcome: str) -> None:
        self.note("(sandbox)", mailbox, operation, items, 0, 0, outcome)

    def _fault(self, exc: SoapFault) -> Outcome:
        return Outcome(500, serialize(fault(exc.code, exc.text, exc.back_off_ms, self.server_version,
                                            exc.violation)))

    # --- the pipeline
    def handle(self, user: User, body: bytes) -> Outcome:
        self.record("request", body)
        op_name, mailbox_addr = "?", None
        try:
            env = parse(body)
            header = env.find(f"{{{SOAP}}}Header")
            soap_body = env.find(f"{{{SOAP}}}Body")
            if soap_body is None or not len(soap_body):
                raise SoapFault("ErrorInvalidRequest", "The request is invalid: the SOAP Body is empty.")
            op = soap_body[0]
            op_name = local(op)
            if header is None or header.find(t("RequestServerVersion")) is None:
                raise SoapFault("ErrorSchemaValidation", "The request failed schema validation: the SOAP header "
                                "with t:RequestServerVersion is missing.")
            requested = header.find(t("RequestServerVersion")).get("Version", "")
            if requested not in self.accepted:
                raise SoapFault("ErrorInvalidServerVersion",
                                f"The specified server version {requested!r} is invalid for this server.")
            handler = OPERATIONS.get(op_name)
            if handler is None:
                raise SoapFault("ErrorInvalidRequest", f"The request is invalid: operation {op_name} is not "
                                "offered by this server.")
            if self.schema is not None:
                self.schema.check(env)
            decision = self.faults.decide()
            if decision.latency_s:
                time.sleep(decision.latency_s)
            if decision.drop:
                self.note(user.username, None, op_name, 0, 0, 0, "dropped")
                return Outcome(0, b"", drop=True)
            if decision.http_error:
                self.note(user.username, None, op_name, 0, 0, decision.http_error, "injected HTTP error")
                page = f"<html><body><h1>{decision.http_error} - Service unavailable</h1></body></html>"
                return Outcome(decision.http_error, page.encode(), "text/html")
            if decision.throttle_ms is not None:
                raise SoapFault("ErrorServerBusy", "The server cannot service this request right now. "
                                "Try again later.", decision.throttle_ms)
            mailbox = self._impersonate(user, header, op_name)
            mailbox_addr = mailbox.primary if mailbox else None
            ctx = Context(self.store, self.faults, self.subscriptions, user, mailbox, requested,
                          self.minute_seconds)
            responses = handler(ctx, op)
        except SoapFault as exc:
            outcome = self._fault(exc)
            self.record("response", outcome.body)
            self.note(user.username, mailbox_addr, op_name, 0, 0, 500, exc.code)
            return outcome
        payload = serialize(envelope(responses.root, self.server_version))
        self.record("response", payload)
        first_error = next((c.text for c in responses.root.iter("{*}ResponseCode") if c.text != "NoError"),
                           "NoError")
        flags = tuple(local(c) for c in op if local(c) in ("Restriction", "SortOrder")
                      or (local(c) == "SyncState" and (c.text or "").strip()))
        self.note(user.username, mailbox_addr, op_name, responses.count, responses.errors, 200, first_error, flags)
        return Outcome(200, payload)

    def _impersonate(self, user: User, header: etree._Element, op_name: str):
        sid = header.find(f"{t('ExchangeImpersonation')}/{t('ConnectingSID')}")
        if sid is None:
            own = self.store.find_mailbox(user.mailbox) if user.mailbox else None
            if own is None and op_name not in MAILBOXLESS:
                raise SoapFault("ErrorNonExistentMailbox", f"{user.username} has no mailbox; "
                                "use ExchangeImpersonation to open one.")
            return own
        if not user.can_impersonate:
            raise SoapFault("ErrorImpersonateUserDenied",
                            "The account does not have permission to impersonate the requested user.")
        # one of PrincipalName (the UPN: the primary address here), SID, PrimarySmtpAddress, SmtpAddress
        security_id = sid.findtext(t("SID"))
        if security_id is not None:
            target = self.store.find_mailbox_by_sid(security_id)
        else:
            target = self.store.find_mailbox(sid.findtext(t("PrimarySmtpAddress")) or sid.findtext(t("SmtpAddress"))
                                             or sid.findtext(t("PrincipalName")) or "")
        if target is None:
            raise SoapFault("ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it.")
        if target.impersonation_denied or self.faults.impersonation_denied((target.primary, *target.aliases)):
            raise SoapFault("ErrorImpersonateUserDenied",
                            "The account does not have permission to impersonate the requested user.")
        return target
