"""JSON batching: 20 requests with one 429 inside a 200, dependsOn and 424, limits of the envelope."""
from __future__ import annotations

import httpx

from workbench.sandbox import Sandbox


def _post(i: int, mailbox: str, **extra) -> dict:
    return {"id": str(i), "method": "POST", "url": f"/users/{mailbox}/contacts",
            "headers": {"Content-Type": "application/json"}, "body": {"displayName": f"B{i:02d}"}, **extra}


def test_twenty_requests_with_one_429_inside(graph_sb: Sandbox, graph: httpx.Client, mailbox: str,
                                             admin: httpx.Client) -> None:
    assert admin.post("/faults", json={"throttle_every": 20, "retry_after_s": 2}).status_code == 200
    r = graph.post("$batch", json={"requests": [_post(i, mailbox) for i in range(1, 21)]})
    assert r.status_code == 200
    statuses = {p["id"]: p["status"] for p in r.json()["responses"]}
    assert sorted(statuses.values()) == [201] * 19 + [429]
    throttled = [p for p in r.json()["responses"] if p["status"] == 429][0]
    assert throttled["headers"]["Retry-After"] == "2"
    assert len(graph_sb.mailbox(mailbox).contacts) == 19
    assert sum(1 for rec in graph_sb.graph.requests if rec.batch and rec.mailbox == mailbox) == 20


def test_depends_on_and_failed_dependency(graph_sb: Sandbox, graph: httpx.Client, mailbox: str) -> None:
    parts = [_post(1, mailbox),
             {"id": "2", "method": "GET", "url": f"/users/{mailbox}/contacts/U0JYSQAAAA==", "dependsOn": ["1"]},
             {**_post(3, mailbox), "dependsOn": ["2"]},
             {"id": "4", "method": "GET", "url": f"/users/{mailbox}/contacts?$top=1", "dependsOn": ["1"]}]
    r = graph.post("$batch", json={"requests": parts})
    statuses = {p["id"]: p["status"] for p in r.json()["responses"]}
    assert statuses == {"1": 201, "2": 404, "3": 424, "4": 200}
    assert [c["display_name"] for c in graph_sb.mailbox(mailbox).contacts] == ["B01"]


def test_envelope_limits(graph: httpx.Client, mailbox: str) -> None:
    r = graph.post("$batch", json={"requests": [_post(i, mailbox) for i in range(21)]})
    assert r.status_code == 400 and "limit of 20" in r.json()["error"]["message"]
    r = graph.post("$batch", json={"requests": [_post(1, mailbox), _post(1, mailbox)]})
    assert r.status_code == 400
    r = graph.post("$batch", json={"requests": [{**_post(1, mailbox), "dependsOn": ["9"]}]})
    assert r.status_code == 400 and "dependsOn" in r.json()["error"]["message"]
