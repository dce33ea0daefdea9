"""Delta on a contact folder: pages by odata.maxpagesize, then rounds with creates, updates and deletes
between them (reason 'changed' for Deleted Items, 'deleted' for permanent), 410 then a full resync."""
from __future__ import annotations

import httpx

from workbench.sandbox import Sandbox


def _round(graph: httpx.Client, url: str, page: int = 10) -> tuple[list[dict], str, int]:
    """Follow nextLinks to the deltaLink: (all entries, deltaLink, pages)."""
    entries, pages = [], 0
    while True:
        r = graph.get(url, headers={"Prefer": f"odata.maxpagesize={page}"})
        assert r.status_code == 200, r.text
        body, pages = r.json(), pages + 1
        assert len(body["value"]) <= page
        entries += body["value"]
        if "@odata.deltaLink" in body:
            assert "@odata.nextLink" not in body
            return entries, body["@odata.deltaLink"], pages
        url = body["@odata.nextLink"]


def _folder(graph: httpx.Client, mailbox: str) -> str:
    return graph.get(f"users/{mailbox}/contactFolders").json()["value"][0]["id"]


def test_delta_pages_then_changes_between_rounds(graph: httpx.Client, mailbox: str) -> None:
    ids = [graph.post(f"users/{mailbox}/contacts", json={"displayName": f"D{i:02d}"}).json()["id"] for i in range(25)]
    start = f"users/{mailbox}/contactFolders/{_folder(graph, mailbox)}/contacts/delta"
    entries, link, pages = _round(graph, start)
    assert pages == 3 and sorted(e["id"] for e in entries) == sorted(ids)
    assert all("@removed" not in e for e in entries)
    again, link, _ = _round(graph, link)
    assert again == []                                   # nothing changed since
    new = graph.post(f"users/{mailbox}/contacts", json={"displayName": "New"}).json()["id"]
    graph.patch(f"users/{mailbox}/contacts/{ids[3]}", json={"jobTitle": "Changed"})
    graph.delete(f"users/{mailbox}/contacts/{ids[5]}")                       # to Deleted Items
    graph.post(f"users/{mailbox}/contacts/{ids[7]}/permanentDelete")         # gone for good
    gone_young = graph.post(f"users/{mailbox}/contacts", json={"displayName": "Brief"}).json()["id"]
    graph.post(f"users/{mailbox}/contacts/{gone_young}/permanentDelete")     # never seen: not reported
    changes, link, pages = _round(graph, link, page=2)
    by_id = {e["id"]: e for e in changes}
    assert set(by_id) == {new, ids[3], ids[5], ids[7]}
    assert pages == 2
    assert by_id[ids[3]]["jobTitle"] == "Changed"
    assert by_id[ids[5]]["@removed"] == {"reason": "changed"}
    assert by_id[ids[7]]["@removed"] == {"reason": "deleted"}
    assert _round(graph, link)[0] == []


def test_delta_on_default_folder_keeps_select_across_pages(graph: httpx.Client, mailbox: str) -> None:
    for i in range(3):
        graph.post(f"users/{mailbox}/contacts", json={"displayName": f"S{i}", "jobTitle": "T"})
    r = graph.get(f"users/{mailbox}/contacts/delta", params={"$select": "displayName"},
                  headers={"Prefer": "odata.maxpagesize=2"})
    second = graph.get(r.json()["@odata.nextLink"], headers={"Prefer": "odata.maxpagesize=2"}).json()
    for entry in r.json()["value"] + second["value"]:
        assert set(entry) == {"@odata.etag", "id", "displayName"}


def test_invalidated_state_gives_410_then_full_resync(graph_sb: Sandbox, graph: httpx.Client, mailbox: str,
                                                      admin: httpx.Client) -> None:
    for i in range(4):
        graph.post(f"users/{mailbox}/contacts", json={"displayName": f"R{i}"})
    start = f"users/{mailbox}/contacts/delta"
    first, link, _ = _round(graph, start)
    r = admin.post("/sync/invalidate", json={"mailbox": mailbox})
    assert r.status_code == 200
    gone = graph.get(link)
    assert gone.status_code == 410 and gone.json()["error"]["code"] == "syncStateNotFound"
    resync, link, _ = _round(graph, start)
    assert sorted(e["id"] for e in resync) == sorted(e["id"] for e in first)
    assert graph.get(link).status_code == 200
    tampered = graph.get(f"{start}?$deltatoken=bm90LWEtdG9rZW4")
    assert tampered.status_code == 400
    assert graph.get(f"{start}?$filter=displayName eq 'R1'").status_code == 400
