"""Exchange Online's limits (MailboxConcurrency, requests per window) and injected faults, over HTTP."""
from __future__ import annotations

import threading

import httpx
import pytest

from conftest import http

from workbench.sandbox import Sandbox


def test_mailbox_concurrency_over_four_in_flight_gets_429(graph_sb: Sandbox, graph: httpx.Client, mailbox: str,
                                                          admin: httpx.Client) -> None:
    admin.post("/faults", json={"latency_ms": 1000})        # keep each request in flight a while
    results: list[httpx.Response] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)
    discovery = graph_sb.info.graph["authority"] + "/v2.0/.well-known/openid-configuration"

    def call() -> None:
        with http(graph_sb, base_url=graph.base_url, headers=dict(graph.headers)) as c:
            c.get(discovery)                                # TLS connection up before the race starts
            barrier.wait()
            r = c.get(f"users/{mailbox}/contacts")
        with lock:
            results.append(r)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    throttled = [r for r in results if r.status_code == 429]
    assert throttled and len([r for r in results if r.status_code == 200]) >= 4
    assert len(throttled) <= 4
    for r in throttled:
        assert r.json()["error"]["message"] == "Application is over its MailboxConcurrency limit."
        assert int(r.headers["Retry-After"]) >= 1
    admin.post("/faults/clear")
    assert graph.get(f"users/{mailbox}/contacts").status_code == 200


def test_requests_per_window_limit(graph: httpx.Client, mailbox: str, admin: httpx.Client) -> None:
    assert admin.post("/throttle", json={"window_requests": 5, "window_seconds": 600}).status_code == 200
    statuses = [graph.get(f"users/{mailbox}/contacts").status_code for _ in range(7)]
    assert statuses == [200] * 5 + [429, 429]
    r = graph.get(f"users/{mailbox}/contacts")
    assert "MailboxRequests" in r.json()["error"]["message"] and int(r.headers["Retry-After"]) > 1
    assert graph.get("users/bob.smith@example.com/contacts").status_code == 200   # per mailbox


def test_injected_503_429_and_dropped_connections(graph: httpx.Client, mailbox: str, admin: httpx.Client) -> None:
    admin.post("/faults", json={"http_error_share": 1.0, "http_error_status": 503, "retry_after_s": 3})
    r = graph.get(f"users/{mailbox}/contacts")
    assert r.status_code == 503 and r.headers["Retry-After"] == "3"
    admin.post("/faults", json={"http_error_share": 0.0, "throttle_share": 1.0})
    assert graph.get(f"users/{mailbox}/contacts").status_code == 429
    admin.post("/faults", json={"throttle_share": 0.0, "drop_share": 1.0})
    with pytest.raises(httpx.RemoteProtocolError):
        graph.get(f"users/{mailbox}/contacts")
    admin.post("/faults/clear")
    assert graph.get(f"users/{mailbox}/contacts").status_code == 200


def test_admin_refuses_bad_fault_settings(admin: httpx.Client, graph: httpx.Client, mailbox: str) -> None:
    r = admin.post("/faults", json={"throttle_shar": 0.5})
    assert r.status_code == 400 and "throttle_shar" in r.json()["error"]
    r = admin.post("/faults", json={"drop_share": 2})
    assert r.status_code == 400 and "between 0 and 1" in r.json()["error"]
    assert admin.get("/faults").json()["drop_share"] == 0.0
    assert graph.get(f"users/{mailbox}/contacts").status_code == 200    # this test's own request, then its record
    records = admin.get("/requests").json()
    assert records and {"client_id", "method", "path", "mailbox", "status", "code"} <= set(records[-1])
