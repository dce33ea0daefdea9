"""Fixtures for the sandbox Exchange suite: running sandboxes, exchangelib accounts that trust only the
sandbox CA, and XSD validation of every SOAP body the sandboxes exchanged."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterator

import pytest
import requests.adapters
from exchangelib import (IMPERSONATION, NTLM, Account, Configuration, Contact, Credentials, EWSTimeZone,
                         ExtendedProperty, FailFast, Version)
from exchangelib.protocol import BaseProtocol, close_connections
from exchangelib.version import EXCHANGE_2016, Build

from tests.ews_schema import BodyValidator, require_schema_dir
from workbench.sandbox import Sandbox

UTC = EWSTimeZone("UTC")


class CrmId(ExtendedProperty):
    property_set_id = "c11ff724-aa03-4555-9952-8fa248a11c3e"
    property_name = "CrmContactId"
    property_type = "String"


SEED = {
    "domain": "example.com",
    "mailboxes": [
        {"primary_address": "alice.jones@example.com", "aliases": ["a.jones@example.com"],
         "impersonation_denied": False,
         "contacts": [
             {"given_name": "Seed", "surname": "One", "display_name": "Seed One", "email": "seed.one@client.com",
              "business_phone": "+1 555 0101", "mobile_phone": "+1 555 0102", "company_name": "Client Co",
              "job_title": "Buyer", "street": "1 Main St", "city": "Springfield", "state": "IL",
              "postal_code": "62701", "country": "US", "categories": ["PegaSASync"], "private": False},
             {"display_name": "Private Person", "email": None, "private": True, "categories": []},
         ]},
        {"primary_address": "bob.smith@example.com", "aliases": [], "contacts": []},
        {"primary_address": "carol.denied@example.com", "impersonation_denied": True, "contacts": []},
    ],
}


# ---------------------------------------------------------------- trust: only the sandbox CAs

_CA_BUNDLE: list[Path] = []


class SandboxCAAdapter(requests.adapters.HTTPAdapter):
    """Forces verify=<bundle of sandbox CAs> so that REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE cannot override it."""
    CA_FILE = ""

    def send(self, request, *args, **kwargs):  # type: ignore[no-untyped-def]
        kwargs["verify"] = self.CA_FILE
        return super().send(request, *args, **kwargs)


@pytest.fixture(scope="session")
def trust(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[Sandbox], None]]:
    bundle = tmp_path_factory.mktemp("trust") / "sandbox-cas.pem"
    previous = BaseProtocol.HTTP_ADAPTER_CLS

    def add(sb: Sandbox) -> None:
        if sb.info.ca_cert and sb.info.ca_cert not in _CA_BUNDLE:
            _CA_BUNDLE.append(sb.info.ca_cert)
            bundle.write_text("".join(p.read_text() for p in _CA_BUNDLE))
        SandboxCAAdapter.CA_FILE = str(bundle)
        BaseProtocol.HTTP_ADAPTER_CLS = SandboxCAAdapter
        close_connections()

    # exchangelib's field registry is class-global: the workbench's own mapping may have registered
    # crm_id already (same worker process); use it then, and never deregister what is not ours.
    ours = not any(f.name == "crm_id" for f in Contact.FIELDS)
    if ours:
        Contact.register("crm_id", CrmId)
    yield add
    if ours:
        Contact.deregister("crm_id")
    BaseProtocol.HTTP_ADAPTER_CLS = previous
    close_connections()


# ---------------------------------------------------------------- schema validation of captured bodies

@pytest.fixture(scope="session")
def validator() -> BodyValidator:
    """Fails (never skips) every sandbox test when the EWS schema is missing."""
    return BodyValidator(require_schema_dir())


# request bodies that tests send malformed on purpose (their answers are still validated)
INTENTIONALLY_INVALID: set[bytes] = set()


@pytest.fixture
def intentionally_invalid() -> set[bytes]:
    return INTENTIONALLY_INVALID


def check_captured(sb: Sandbox, validator: BodyValidator, start: int = 0) -> int:
    """Validate the bodies captured since ``start``; returns the new position."""
    captured = sb.captured
    bad = []
    for direction, body in captured[start:]:
        if direction == "request" and body in INTENTIONALLY_INVALID:
            continue
        errors = validator.errors(body)
        if errors:
            bad.append(f"{direction}: {errors[:3]}\n{body[:600]!r}")
    assert not bad, "schema-invalid SOAP bodies:\n" + "\n".join(bad[:5])
    return len(captured)


def write_seed(directory: Path, seed: dict = SEED) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "exchange_seed.json").write_text(json.dumps(seed))
    return directory


# ---------------------------------------------------------------- sandboxes

@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory, trust, validator) -> Iterator[Sandbox]:
    base = tmp_path_factory.mktemp("sandbox")
    with Sandbox(base / "state", seed=write_seed(base / "seed"), capture=True, status_minute_seconds=0.4,
                 schema_dir=validator.directory) as sb:
        trust(sb)
        yield sb
        check_captured(sb, validator)


@pytest.fixture(autouse=True)
def _validate_each_test(request: pytest.FixtureRequest, validator) -> Iterator[None]:
    """Every test that used the shared sandbox has its exchanged bodies validated at teardown."""
    if "sandbox" not in request.fixturenames:
        yield
        return
    sb: Sandbox = request.getfixturevalue("sandbox")
    start = len(sb.captured)
    yield
    check_captured(sb, validator, start)


@pytest.fixture
def make_sandbox(tmp_path: Path, trust, validator) -> Iterator[Callable[..., Sandbox]]:
    """Start extra sandboxes (own state dir unless given); each is stopped and its bodies validated."""
    started: list[Sandbox] = []

    def make(**kwargs) -> Sandbox:
        kwargs.setdefault("state_dir", tmp_path / f"state{len(started)}")
        kwargs.setdefault("capture", True)
        kwargs.setdefault("schema_dir", validator.directory)
        sb = Sandbox(**kwargs).start()
        started.append(sb)
        trust(sb)
        return sb

    yield make
    for sb in started:
        sb.stop()
        check_captured(sb, validator)
    close_connections()


def make_account(sb: Sandbox, mailbox: str, username: str | None = None, password: str | None = None,
                 retry=None, build: Build | None = EXCHANGE_2016) -> Account:
    """An exchangelib Account with impersonation against the sandbox (NTLM, pinned version)."""
    close_connections()   # protocols are cached per (endpoint, credentials) with their retry policy
    creds = Credentials(username or sb.info.service_account.username, password or sb.info.service_account.password)
    config = Configuration(credentials=creds, service_endpoint=sb.info.url, auth_type=NTLM,
                           version=Version(build=build) if build else None, retry_policy=retry or FailFast(),
                           max_connections=2)
    return Account(mailbox, config=config, access_type=IMPERSONATION, autodiscover=False, default_timezone=UTC)


@pytest.fixture(scope="session")
def account() -> Callable[..., Account]:
    """``account(sb, mailbox, username=None, password=None, retry=None, build=EXCHANGE_2016)``."""
    return make_account


@pytest.fixture
def alice(sandbox: Sandbox) -> Account:
    return make_account(sandbox, "alice.jones@example.com")
