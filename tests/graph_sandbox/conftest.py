"""Fixtures for the Graph sandbox suite: one running sandbox (EWS + Graph over the same mailboxes),
plain httpx clients that trust only the sandbox CA, fresh in-scope mailboxes per test, and the CSDL
referee checking every JSON body the Graph sandbox sent or accepted during each test; ``ews_alice`` is
exchangelib on the EWS side of the same sandbox."""
from __future__ import annotations

import itertools
import json
import os
from pathlib import Path
from typing import Any, Callable, Iterator

import ssl

import httpx
import pytest
import requests.adapters
from exchangelib import IMPERSONATION, NTLM, Account, Configuration, Credentials, FailFast, Version
from exchangelib.protocol import BaseProtocol, close_connections
from exchangelib.version import EXCHANGE_2016

from workbench.sandbox import Sandbox
from workbench.sandbox.graph import Timing, csdl

REPO = Path(__file__).resolve().parents[2]
CSDL_FILE = Path(os.environ.get("GRAPH_SCHEMA_DIR", REPO.parent / "shared" / "graph-schema")) / "v1.0-csdl.xml"
SCOPE = "https://graph.microsoft.com/.default"
# short timings so the suite stays fast; the defaults (10 s handshake, 3 s acknowledgement) are documented
FAST = Timing(validation_timeout=1.0, ack_timeout=0.5, retry_delays=(0.1, 0.2), reauth_grace=0.6, tick=0.02)
SEED = {"domain": "example.com", "mailboxes": [
    {"primary_address": "alice.jones@example.com", "aliases": ["a.jones@example.com"],
     "contacts": [{"display_name": "Seed One", "given_name": "Seed", "surname": "One", "email": "seed.one@client.com",
                   "categories": ["PegaSASync"]}]},
    {"primary_address": "bob.smith@example.com", "contacts": []},
]}
_numbers = itertools.count(1)
# request bodies tests send invalid on purpose (the referee must find them invalid; their answers are checked)
INVALID_ON_PURPOSE: list[Any] = []


@pytest.fixture(scope="session")
def referee() -> csdl.Schema | None:
    return csdl.load(CSDL_FILE) if CSDL_FILE.is_file() else None


def check_bodies(captured: list[tuple[str, str, Any]], referee: csdl.Schema | None) -> None:
    if referee is None:
        return
    bad = []
    for direction, type_name, body in captured:
        problems = referee.check(type_name, body)
        if direction == "request" and body in INVALID_ON_PURPOSE:
            assert problems, f"the referee accepted a body sent invalid on purpose: {body}"
            continue
        if problems:
            bad.append(f"{direction} {type_name}: {problems[:3]}\n{json.dumps(body)[:500]}")
    assert not bad, "JSON bodies not valid against the Graph CSDL:\n" + "\n".join(bad[:5])


@pytest.fixture
def invalid_on_purpose() -> Callable[[Any], Any]:
    """``invalid_on_purpose(body)`` -> body: exempt it from the referee, which must still find it invalid."""
    def mark(body: Any) -> Any:
        INVALID_ON_PURPOSE.append(body)
        return body
    return mark


@pytest.fixture(scope="session")
def graph_sb(tmp_path_factory: pytest.TempPathFactory, referee) -> Iterator[Sandbox]:
    base = tmp_path_factory.mktemp("graph-sandbox")
    (base / "seed").mkdir()
    (base / "seed" / "exchange_seed.json").write_text(json.dumps(SEED))
    with Sandbox(base / "state", seed=base / "seed", capture=True, graph=True, graph_timing=FAST,
                 status_minute_seconds=0.4) as sb:
        yield sb
        check_bodies(sb.graph.captured, referee)


@pytest.fixture(autouse=True)
def _referee_each_test(request: pytest.FixtureRequest, referee) -> Iterator[None]:
    """Every JSON body of a test that used the shared Graph sandbox is checked against the CSDL."""
    if "graph_sb" not in request.fixturenames:
        yield
        return
    sb: Sandbox = request.getfixturevalue("graph_sb")
    start = len(sb.graph.captured)
    yield
    check_bodies(sb.graph.captured[start:], referee)


@pytest.fixture(autouse=True)
def _clear_graph_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "graph_sb" in request.fixturenames:
        sb: Sandbox = request.getfixturevalue("graph_sb")
        sb.graph.faults.clear()
        sb.graph.throttle.configure(concurrency=4, window_requests=10_000, window_seconds=600)


def http(sb: Sandbox, **kwargs: Any) -> httpx.Client:
    """A plain httpx client that trusts only the sandbox CA (REQUESTS_CA_BUNDLE & co. ignored)."""
    return httpx.Client(verify=ssl.create_default_context(cafile=sb.info.graph["ca_cert"]), trust_env=False,
                        timeout=10, **kwargs)


def token(sb: Sandbox, client_id: str | None = None, secret: str | None = None) -> str:
    g = sb.info.graph
    with http(sb) as c:
        r = c.post(f"{g['authority']}/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": client_id or g["client_id"],
            "client_secret": secret or g["client_secret"], "scope": SCOPE})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


@pytest.fixture(scope="session")
def app_token(graph_sb: Sandbox) -> str:
    return token(graph_sb)


@pytest.fixture
def graph(graph_sb: Sandbox, app_token: str) -> Iterator[httpx.Client]:
    """httpx client on the Graph base URL with the default app's bearer token."""
    with http(graph_sb, base_url=graph_sb.info.graph["graph_url"] + "/",
              headers={"Authorization": f"Bearer {app_token}"}) as client:
        yield client


@pytest.fixture
def client_for(graph_sb: Sandbox) -> Iterator[Callable[[str], httpx.Client]]:
    """``client_for(token)``: an httpx client on the Graph base URL with that bearer token."""
    opened: list[httpx.Client] = []

    def make(bearer: str | None) -> httpx.Client:
        c = http(graph_sb, base_url=graph_sb.info.graph["graph_url"] + "/",
                 headers={"Authorization": f"Bearer {bearer}"} if bearer else {})
        opened.append(c)
        return c
    yield make
    for c in opened:
        c.close()


@pytest.fixture
def mailbox(graph_sb: Sandbox) -> str:
    """A fresh, empty mailbox inside the default app's RBAC scope."""
    address = f"user{next(_numbers)}@example.com"
    graph_sb.add_mailbox(address)
    app = graph_sb.graph.default_app
    graph_sb.graph.set_scope(app.client_id, [*(app.scope or []), address])
    return address


@pytest.fixture
def admin(graph_sb: Sandbox) -> Iterator[httpx.Client]:
    """The Graph sandbox's admin endpoint (plain HTTP on loopback)."""
    with httpx.Client(base_url=graph_sb.info.graph["admin_url"], trust_env=False, timeout=10) as c:
        yield c


class _TrustSandboxCA(requests.adapters.HTTPAdapter):
    CA_FILE = ""

    def send(self, request, *args, **kwargs):  # type: ignore[no-untyped-def]
        kwargs["verify"] = self.CA_FILE              # REQUESTS_CA_BUNDLE must not win
        return super().send(request, *args, **kwargs)


@pytest.fixture
def ews_alice(graph_sb: Sandbox) -> Iterator[Account]:
    """exchangelib on the EWS side of the same sandbox, impersonating alice (trust = the sandbox CA)."""
    previous = BaseProtocol.HTTP_ADAPTER_CLS
    _TrustSandboxCA.CA_FILE = str(graph_sb.info.ca_cert)
    BaseProtocol.HTTP_ADAPTER_CLS = _TrustSandboxCA
    close_connections()
    creds = Credentials(graph_sb.info.service_account.username, graph_sb.info.service_account.password)
    config = Configuration(credentials=creds, service_endpoint=graph_sb.info.url, auth_type=NTLM,
                           version=Version(build=EXCHANGE_2016), retry_policy=FailFast(), max_connections=1)
    yield Account("alice.jones@example.com", config=config, access_type=IMPERSONATION, autodiscover=False)
    close_connections()
    BaseProtocol.HTTP_ADAPTER_CLS = previous
