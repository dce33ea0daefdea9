"""translateExchangeIds on ids the EWS side issued for the same mailbox (a contact made with exchangelib)."""
from __future__ import annotations

from typing import Iterator

import httpx
import pytest
import requests.adapters
from exchangelib import IMPERSONATION, NTLM, Account, Configuration, Contact, Credentials, FailFast, Version
from exchangelib.protocol import BaseProtocol, close_connections
from exchangelib.version import EXCHANGE_2016

from workbench.sandbox import Sandbox


class _TrustSandboxCA(requests.adapters.HTTPAdapter):
    CA_FILE = ""

    def send(self, request, *args, **kwargs):  # type: ignore[no-untyped-def]
        kwargs["verify"] = self.CA_FILE              # REQUESTS_CA_BUNDLE must not win
        return super().send(request, *args, **kwargs)


@pytest.fixture
def ews_alice(graph_sb: Sandbox) -> Iterator[Account]:
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


def _translate(graph: httpx.Client, ids: list[str], source: str, target: str) -> list[dict]:
    r = graph.post("users/alice.jones@example.com/translateExchangeIds",
                   json={"inputIds": ids, "sourceIdType": source, "targetIdType": target})
    assert r.status_code == 200, r.text
    return r.json()["value"]


def test_translate_ids_from_the_ews_side(graph: httpx.Client, ews_alice: Account) -> None:
    contact = Contact(folder=ews_alice.contacts, display_name="Made By EWS", given_name="Ews")
    contact.save()
    ews_id = contact.id
    [rest] = _translate(graph, [ews_id], "ewsId", "restId")
    assert rest["sourceId"] == ews_id
    got = graph.get(f"users/alice.jones@example.com/contacts/{rest['targetId']}")
    assert got.status_code == 200 and got.json()["displayName"] == "Made By EWS"
    [entry] = _translate(graph, [ews_id], "ewsId", "entryId")
    assert _translate(graph, [entry["targetId"]], "entryId", "ewsId")[0]["targetId"] == ews_id
    [immutable] = _translate(graph, [rest["targetId"]], "restId", "restImmutableEntryId")
    via_prefer = graph.get(f"users/alice.jones@example.com/contacts/{rest['targetId']}",
                           headers={"Prefer": 'IdType="ImmutableId"'}).json()["id"]
    assert immutable["targetId"] == via_prefer
    assert _translate(graph, [via_prefer], "restImmutableEntryId", "ewsId")[0]["targetId"] == ews_id
    contact.move_to_trash()                                   # EWS gives the moved item a new id
    moved = _translate(graph, [via_prefer], "restImmutableEntryId", "ewsId")[0]["targetId"]
    assert moved != ews_id
    assert graph.get(f"users/alice.jones@example.com/contacts/{via_prefer}").json()["displayName"] == "Made By EWS"


def test_translate_errors_and_limit(graph: httpx.Client, invalid_on_purpose) -> None:
    [bad] = _translate(graph, ["not-an-id"], "entryId", "restId")
    assert "targetId" not in bad and bad["errorDetails"]["code"] == "ErrorInvalidIdMalformed"
    r = graph.post("users/alice.jones@example.com/translateExchangeIds",
                   json={"inputIds": ["x"] * 1001, "sourceIdType": "restId", "targetIdType": "ewsId"})
    assert r.status_code == 400 and "1000" in r.json()["error"]["message"]
    r = graph.post("users/alice.jones@example.com/translateExchangeIds",
                   json=invalid_on_purpose({"inputIds": ["x"], "sourceIdType": "restId", "targetIdType": "mapiId"}))
    assert r.status_code == 400 and "mapiId" in r.json()["error"]["message"]
