"""A client that talks to the sandbox as independent EWS clients do: raw SOAP over HTTPS + NTLM.

No exchangelib here: ``requests`` + ``requests_ntlm``, trust = the sandbox CA only, and the SOAP written
out as Microsoft's documentation shows it. Every request sent and every response received is validated
against messages.xsd/types.xsd (a request a test breaks on purpose is sent with ``invalid=True``; its
answer is still validated). A missing schema directory fails the suite (tests/ews_schema.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import pytest
import requests
from lxml import etree
from requests_ntlm import HttpNtlmAuth

from tests.ews_schema import BodyValidator, require_schema_dir
from workbench.sandbox import Sandbox

NS = {"s": "http://schemas.xmlsoap.org/soap/envelope/",
      "t": "http://schemas.microsoft.com/exchange/services/2006/types",
      "m": "http://schemas.microsoft.com/exchange/services/2006/messages",
      "e": "http://schemas.microsoft.com/exchange/services/2006/errors"}
ALICE, BOB, CAROL = "alice@example.com", "bob@example.com", "carol.denied@example.com"
CRM_SET = "5b0e6f0c-2d3a-4c59-9a8e-7f1d3c6b2e91"
SEED = {"mailboxes": [
    {"primary_address": ALICE, "aliases": ["a.liddell@example.com"], "contacts": [
        {"display_name": f"Seed {n:02d}", "given_name": "Seed", "surname": f"{n:02d}",
         "email": f"seed{n}@client.example", "categories": ["PegaSASync"]} for n in range(1, 8)]},
    {"primary_address": BOB, "contacts": []},
    {"primary_address": CAROL, "impersonation_denied": True, "contacts": []},
]}


def envelope(body: str, *, version: str = "Exchange2016", impersonate: str | None = None) -> str:
    """The t:/m: style of Microsoft's request examples, with ExchangeImpersonation by SmtpAddress."""
    sid = (f"<t:ExchangeImpersonation><t:ConnectingSID><t:SmtpAddress>{impersonate}</t:SmtpAddress>"
           "</t:ConnectingSID></t:ExchangeImpersonation>") if impersonate else ""
    return ('<?xml version="1.0" encoding="utf-8"?>'
            '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" '
            'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">'
            f'<soap:Header><t:RequestServerVersion Version="{version}"/>{sid}</soap:Header>'
            f"<soap:Body>{body}</soap:Body></soap:Envelope>")


@dataclass
class Answer:
    status: int
    xml: etree._Element

    def find(self, path: str) -> etree._Element | None:
        return self.xml.find(path, NS)

    def findall(self, path: str) -> list[etree._Element]:
        return self.xml.findall(path, NS)

    def text(self, path: str) -> str | None:
        return self.xml.findtext(path, namespaces=NS)

    @property
    def codes(self) -> list[str]:
        return [c.text or "" for c in self.xml.iterfind(".//m:ResponseCode", NS)]

    @property
    def fault_code(self) -> str | None:
        return self.xml.findtext(".//s:Fault/detail/e:ResponseCode", namespaces=NS)


class EwsClient:
    def __init__(self, sb: Sandbox, validator: BodyValidator, username: str, password: str):
        self.sb, self.validator = sb, validator
        self.session = requests.Session()
        self.session.auth = HttpNtlmAuth(username, password)
        self.exchanged = 0

    def post(self, body: str | bytes, *, invalid: bool = False) -> Answer:
        data = body.encode("utf-8") if isinstance(body, str) else body
        if not invalid:
            assert self.validator.errors(data) == [], f"request breaks the schema: {self.validator.errors(data)}"
        r = self.session.post(self.sb.info.url, data=data, verify=str(self.sb.info.ca_cert), timeout=30,
                              headers={"Content-Type": "text/xml; charset=utf-8"})
        assert r.headers["Content-Type"].startswith("text/xml"), r.text[:300]
        assert self.validator.errors(r.content) == [], f"response breaks the schema: {r.content[:600]!r}"
        self.exchanged += 1
        return Answer(r.status_code, etree.fromstring(r.content))

    def call(self, body: str, *, impersonate: str | None = ALICE, version: str = "Exchange2016") -> Answer:
        """A request in the t:/m: style that must succeed at the SOAP level (HTTP 200)."""
        answer = self.post(envelope(body, version=version, impersonate=impersonate))
        assert answer.status == 200, etree.tostring(answer.xml)[:800]
        return answer

    def close(self) -> None:
        self.session.close()


@pytest.fixture(scope="session")
def validator() -> BodyValidator:
    return BodyValidator(require_schema_dir())


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory, validator: BodyValidator) -> Iterator[Sandbox]:
    import json
    base = tmp_path_factory.mktemp("conformance")
    (base / "seed").mkdir()
    (base / "seed" / "exchange_seed.json").write_text(json.dumps(SEED))
    with Sandbox(base / "state", seed=base / "seed", schema_dir=validator.directory) as sb:
        yield sb


@pytest.fixture
def make_client(validator: BodyValidator) -> Iterator[Callable[..., EwsClient]]:
    clients: list[EwsClient] = []

    def make(sb: Sandbox, username: str | None = None, password: str | None = None) -> EwsClient:
        client = EwsClient(sb, validator, username or sb.info.service_account.username,
                           password or sb.info.service_account.password)
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.close()


@pytest.fixture
def ews(sandbox: Sandbox, make_client) -> EwsClient:
    return make_client(sandbox)


def make_contact(ews: EwsClient, name: str, *, mailbox: str = ALICE, crm_id: str | None = None) -> tuple[str, str]:
    """CreateItem of one contact (as in Microsoft's CreateItem contact example); returns (Id, ChangeKey)."""
    ext = (f'<t:ExtendedProperty><t:ExtendedFieldURI PropertySetId="{CRM_SET}" PropertyName="WorkbenchCrmContactId" '
           f'PropertyType="String"/><t:Value>{crm_id}</t:Value></t:ExtendedProperty>') if crm_id else ""
    answer = ews.call(f'''<m:CreateItem>
      <m:SavedItemFolderId><t:DistinguishedFolderId Id="contacts"/></m:SavedItemFolderId>
      <m:Items><t:Contact><t:Subject>{name}</t:Subject>{ext}<t:FileAs>{name}</t:FileAs>
        <t:DisplayName>{name}</t:DisplayName><t:GivenName>{name.split()[0]}</t:GivenName>
        <t:CompanyName>Conformance Ltd</t:CompanyName></t:Contact></m:Items></m:CreateItem>''', impersonate=mailbox)
    assert answer.codes == ["NoError"]
    item = answer.find(".//t:Contact/t:ItemId")
    return item.get("Id"), item.get("ChangeKey")
