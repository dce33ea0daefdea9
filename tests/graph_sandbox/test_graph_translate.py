"""translateExchangeIds on ids the EWS side issued for the same mailbox (a contact made with exchangelib)."""
from __future__ import annotations

import httpx
from exchangelib import Account, Contact


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
