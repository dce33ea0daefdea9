"""The in-process sandbox Exchange: ``with Sandbox(state_dir) as sb: sb.info.url ...``."""
from __future__ import annotations

import json
import secrets
import ssl
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .admin import AdminServer
from .certs import issue_server_certificate
from .faults import Faults
from .http_base import serve_in_threads, stop_servers
from .items import Item, new_id
from .notify import Subscription, Subscriptions
from .push import PushSender
from .schema import RequestSchema, find_schema_dir
from .server import EwsHTTPServer
from .service import VERSIONS, EwsService, RequestRecord
from .store import Mailbox, Store, User, now
from .files import write_private

SERVICE_ACCOUNT = "svc-sync@example.com"
STATE_FILE = "state.json"
INFO_FILE = "sandbox.json"
SEED_FILE = "exchange_seed.json"


@dataclass(frozen=True)
class ServiceAccount:
    username: str
    password: str


@dataclass(frozen=True)
class SandboxInfo:
    url: str
    ca_cert: Path | None
    service_account: ServiceAccount
    mailboxes: list[str]
    admin_url: str
    version: str
    schema_dir: Path | None = None      # where the EWS schema that checks every request came from
    graph: dict[str, Any] | None = None     # the Graph sandbox's connection data (started with graph=True)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["ca_cert"] = str(self.ca_cert) if self.ca_cert else None
        d["schema_dir"] = str(self.schema_dir) if self.schema_dir else None
        if d["graph"] is None:
            del d["graph"]
        return d


@dataclass
class MailboxView:
    """A snapshot of one mailbox for tests and the admin endpoint (item dicts, see ``Item.as_dict``)."""
    primary_address: str
    aliases: list[str]
    contacts: list[dict[str, Any]] = field(default_factory=list)
    deleted_items: list[dict[str, Any]] = field(default_factory=list)
    sent_items: list[dict[str, Any]] = field(default_factory=list)
    inbox: list[dict[str, Any]] = field(default_factory=list)
    recoverable_items: list[dict[str, Any]] = field(default_factory=list)   # Recoverable Items\Deletions
    sid: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def contact_from_seed(data: dict[str, Any], folder_id: str = "") -> Item:
    """A contact item from the seed format (see docs/sandbox.md)."""
    if not data.get("display_name"):
        raise ValueError("a seed contact needs display_name")
    stamp = now()
    item = Item(id=new_id(b"SBXI"), kind="Contact", folder_id=folder_id, created=stamp, modified=stamp)
    simple = {"display_name": "DisplayName", "given_name": "GivenName", "surname": "Surname",
              "company_name": "CompanyName", "job_title": "JobTitle", "file_as": "FileAs"}
    for key, element in simple.items():
        if data.get(key):
            item.text[element] = str(data[key])
    item.text["Sensitivity"] = "Private" if data.get("private") else "Normal"
    if data.get("email"):
        item.indexed["EmailAddresses"] = {"EmailAddress1": data["email"]}
    phones = {label: data[key] for key, label in (("business_phone", "BusinessPhone"), ("mobile_phone", "MobilePhone"),
                                                  ("home_phone", "HomePhone")) if data.get(key)}
    if phones:
        item.indexed["PhoneNumbers"] = phones
    address = {part: data[key] for key, part in (("street", "Street"), ("city", "City"), ("state", "State"),
                                                 ("country", "CountryOrRegion"), ("postal_code", "PostalCode"))
               if data.get(key)}
    if address:
        item.addresses["Business"] = address
    if data.get("categories"):
        item.lists["Categories"] = list(data["categories"])
    return item


class Sandbox:
    """A running sandbox Exchange (EWS over HTTPS + NTLM on 127.0.0.1) plus its admin endpoint."""

    def __init__(self, state_dir: Path, seed: Path | None = None, version: str = "Exchange2016", http: bool = False,
                 port: int = 0, capture: bool = False, password: str | None = None, admin_port: int = 0,
                 status_minute_seconds: float = 60.0, service_account: str = SERVICE_ACCOUNT,
                 autosave_seconds: float = 10.0, schema_dir: Path | None = None, graph: bool = False,
                 graph_port: int = 0, graph_admin_port: int = 0, graph_timing: Any = None):
        """``schema_dir``: the EWS schema every request is checked against (default: $EWS_SCHEMA_DIR, then
        ../shared/ews-schema). A ``schema_dir`` given without messages.xsd makes start() fail; when no
        schema is found by default the sandbox runs unchecked and says so (``info.schema_dir`` None).
        ``graph``: also run the local Microsoft Graph over the same mailboxes (``self.graph``)."""
        if version not in VERSIONS:
            raise ValueError(f"version must be one of {sorted(VERSIONS)}, not {version!r}")
        self.state_dir = Path(state_dir)
        self.seed = Path(seed) if seed else None
        self.version, self.http, self.port, self.admin_port = version, http, port, admin_port
        self.capture = capture
        self.password = password or secrets.token_urlsafe(18)
        if ":" in self.password or "\n" in self.password:
            raise ValueError("passwords may not contain ':' or line breaks")
        self.minute_seconds = status_minute_seconds
        self.service_account = service_account.lower()
        self.autosave_seconds = autosave_seconds
        self.schema_dir = schema_dir
        self.graph_enabled, self.graph_port, self.graph_admin_port = graph, graph_port, graph_admin_port
        self.graph_timing = graph_timing
        self.graph: Any = None                  # a GraphSandbox when started with graph=True
        self.store = Store()
        self.faults = Faults()
        self._server: EwsHTTPServer | None = None
        self._admin: AdminServer | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._saved_marker = -1
        self.info: SandboxInfo
        self.service: EwsService
        self.subscriptions: Subscriptions

    # --- lifecycle
    def start(self) -> "Sandbox":
        self.state_dir.mkdir(parents=True, exist_ok=True)
        state_file = self.state_dir / STATE_FILE
        if state_file.exists():
            self.store.load(state_file)
        if self.seed is not None:
            self.load_seed(self.seed)
        if self.store.find_mailbox(self.service_account) is None:
            self.store.add_mailbox(Mailbox(self.service_account, display_name="Sync Service"))
        self.store.add_user(User(self.service_account, self.password, can_impersonate=True,
                                 mailbox=self.service_account))
        self.subscriptions = Subscriptions(self.store, self._push_sender)
        schema = self._request_schema()
        self.service = EwsService(self.store, self.faults, self.subscriptions, self.version, self.minute_seconds,
                                  self.capture, schema)
        tls = None
        ca_cert = None
        if not self.http:
            cert = issue_server_certificate(self.state_dir)
            tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            tls.minimum_version = ssl.TLSVersion.TLSv1_2
            tls.load_cert_chain(cert.cert_chain, cert.key)
            ca_cert = cert.ca_cert
        self._server = EwsHTTPServer(self.port, self.service, self.store, tls)
        self._server.write_user_file()
        if self.graph_enabled:
            self._start_graph(tls, ca_cert)
        self._admin = AdminServer(self, self.admin_port)
        scheme = "http" if self.http else "https"
        self.info = SandboxInfo(
            url=f"{scheme}://127.0.0.1:{self._server.server_address[1]}/EWS/Exchange.asmx", ca_cert=ca_cert,
            service_account=ServiceAccount(self.service_account, self.password),
            mailboxes=sorted(self.store.mailboxes), admin_url=f"http://127.0.0.1:{self._admin.server_address[1]}",
            version=self.version, schema_dir=schema.directory if schema else None,
            graph=self.graph.info if self.graph else None)
        self._threads = serve_in_threads(((self._server.serve_forever, "sandbox-ews"),
                                          (self._admin.serve_forever, "sandbox-admin"),
                                          (self._autosave, "sandbox-autosave")))
        self._write_info()
        return self

    def _request_schema(self) -> RequestSchema | None:
        directory = find_schema_dir(self.schema_dir)
        if directory is None and self.schema_dir is not None:
            raise FileNotFoundError(f"no EWS schema (messages.xsd) in {self.schema_dir}")
        return RequestSchema(directory) if directory else None

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()
        if self.graph is not None:
            self.graph.stop()
        self.subscriptions.stop_all()
        stop_servers(self._server, self._admin, self._threads)
        self._server = None
        self.save()

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- persistence
    def save(self) -> None:
        with self.store.lock:
            self._saved_marker = self._change_marker()
        self.store.save(self.state_dir / STATE_FILE)
        if self.graph is not None:
            self.graph.save()

    def _start_graph(self, tls: ssl.SSLContext | None, ca_cert: Path | None) -> None:
        from .graph import GraphSandbox
        domain = self.service_account.split("@", 1)[1] if "@" in self.service_account else "example.com"
        self.graph = GraphSandbox(self.store, self.state_dir, tls, ca_cert, self.graph_port, self.graph_admin_port,
                                  self.capture, self.graph_timing, domain).start()

    def _change_marker(self) -> int:
        return sum(mb.event_count for mb in self.store.mailboxes.values()) + len(self.store.mailboxes) \
            + len(self.store.users) + (self.graph.change_marker() if self.graph is not None else 0)

    def _autosave(self) -> None:
        while not self._stopping.wait(self.autosave_seconds):
            with self.store.lock:
                changed = self._change_marker() != self._saved_marker
            if changed:
                self.save()

    def _write_info(self) -> None:
        write_private(self.state_dir / INFO_FILE, json.dumps(self.info.to_json(), indent=2) + "\n")

    def load_seed(self, seed: Path) -> None:
        """Add the mailboxes of DIR/exchange_seed.json (or a seed file) that the state does not have yet."""
        path = seed / SEED_FILE if seed.is_dir() else seed
        data = json.loads(path.read_text(encoding="utf-8"))
        for mb in data.get("mailboxes", []):
            if self.store.find_mailbox(mb["primary_address"]) is None:
                self.add_mailbox(mb["primary_address"], mb.get("aliases", ()), mb.get("contacts", ()),
                                 impersonation_denied=bool(mb.get("impersonation_denied")),
                                 display_name=mb.get("display_name", ""))

    # --- test and demo API
    @property
    def requests(self) -> list[RequestRecord]:
        with self.service._log_lock:
            return list(self.service.log)

    @property
    def captured(self) -> list[tuple[str, bytes]]:
        """(direction, SOAP body) pairs when started with capture=True: request, response, push-out, push-reply."""
        with self.service._log_lock:
            return list(self.service.captured)

    def add_user(self, username: str, password: str, can_impersonate: bool = False,
                 mailbox: str | None = None) -> None:
        if ":" in password or "\n" in password:
            raise ValueError("passwords may not contain ':' or line breaks")
        self.store.add_user(User(username.lower(), password, can_impersonate, mailbox))
        if self._server is not None:
            self._server.write_user_file()

    def add_mailbox(self, primary_address: str, aliases: Iterable[str] = (), contacts: Iterable[dict] = (),
                    impersonation_denied: bool = False, display_name: str = "") -> None:
        with self.store.lock:
            mailbox = self.store.add_mailbox(Mailbox(primary_address, tuple(aliases), display_name,
                                                     impersonation_denied))
            folder = mailbox.by_name["contacts"]
            for data in contacts:
                mailbox.create(folder, contact_from_seed(data))
        if self._server is not None:
            self.info = SandboxInfo(**{**self.info.__dict__, "mailboxes": sorted(self.store.mailboxes)})
            self._write_info()

    def mailbox(self, address: str) -> MailboxView:
        with self.store.lock:
            mb = self.store.find_mailbox(address)
            if mb is None:
                raise KeyError(address)

            def dump(name: str) -> list[dict[str, Any]]:
                folder = mb.by_name[name]
                return [folder.items[i].as_dict() for i in folder.ordered_ids()]
            return MailboxView(mb.primary, list(mb.aliases), dump("contacts"), dump("deleteditems"),
                               dump("sentitems"), dump("inbox"), dump("recoverableitemsdeletions"), mb.sid)

    def drop_subscription(self, subscription_id: str) -> None:
        """End a subscription as Exchange would when it gives up on it (no more notifications)."""
        self.subscriptions.end(subscription_id)

    def _push_sender(self, subscription: Subscription) -> PushSender:
        return PushSender(subscription, self.store, self.subscriptions, self.minute_seconds,
                          self.service.server_version, self.service.record, self.service.push_note)
