"""Change notifications: the validation handshake failing and succeeding, notifications with their
fields, retries when not acknowledged, lifecycle events, renew/delete/reauthorize, the limits."""
from __future__ import annotations

import datetime as dt
import http.server
import json
import threading
import time
import urllib.parse
from typing import Any, Callable, Iterator

import httpx
import pytest

from conftest import FAST, check_bodies, token
from conftest import http as trusted_client

from workbench.sandbox import Sandbox


class Listener(http.server.ThreadingHTTPServer):
    """A webhook on loopback: answers the handshake as told, records every notification it gets."""
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.handshake = "echo"          # echo | wrong | silent
        self.slow_acks = 0               # answer this many notification posts only after the ack timeout
        self.never_ack = False
        self.validations: list[tuple[str, str]] = []     # (token, content type)
        self.posts: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    def notifications(self, path: str = "/hook") -> list[dict[str, Any]]:
        with self.lock:
            return [n for p in self.posts if p["path"] == path for n in p["body"]["value"]]


class _Handler(http.server.BaseHTTPRequestHandler):
    server: Listener

    def log_message(self, *args: object) -> None:
        return

    def do_POST(self) -> None:
        split = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(split.query)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if "validationToken" in query:
            token = query["validationToken"][0]
            with self.server.lock:
                self.server.validations.append((token, self.headers.get("Content-Type", "")))
            if self.server.handshake == "silent":
                time.sleep(1.5)
            answer = token if self.server.handshake != "wrong" else "nope"
            self._reply(200, answer.encode(), "text/plain")
            return
        with self.server.lock:
            self.server.posts.append({"path": split.path, "body": json.loads(body)})
            slow = self.server.never_ack or self.server.slow_acks > 0
            self.server.slow_acks -= 1 if self.server.slow_acks > 0 else 0
        if slow:
            time.sleep(0.8)          # longer than the sandbox's ack timeout (0.5 s in this suite)
        self._reply(202, b"", "text/plain")

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def wait_for(condition: Callable[[], Any], what: str, limit: float = 10.0) -> Any:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"never happened: {what}")


def _expires(minutes: int = 60) -> str:
    return (dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _subscribe(graph: httpx.Client, mailbox: str, listener: Listener, **extra) -> httpx.Response:
    body = {"changeType": "created,updated,deleted", "notificationUrl": listener.url(),
            "lifecycleNotificationUrl": listener.url("/lifecycle"), "resource": f"/users/{mailbox}/contacts",
            "expirationDateTime": _expires(), "clientState": "sandbox-secret", **extra}
    return graph.post("subscriptions", json=body)


def test_handshake_succeeds_and_notifications_arrive(graph_sb: Sandbox, graph: httpx.Client, mailbox: str,
                                                     listener: Listener) -> None:
    r = _subscribe(graph, mailbox, listener)
    assert r.status_code == 201, r.text
    sub = r.json()
    assert len(listener.validations) == 2 and listener.validations[0][1].startswith("text/plain")
    made = graph.post(f"users/{mailbox}/contacts", json={"displayName": "Notify Me"}).json()
    first = wait_for(lambda: listener.notifications(), "a created notification")[0]
    assert first["subscriptionId"] == sub["id"] and first["clientState"] == "sandbox-secret"
    assert first["changeType"] == "created" and first["resourceData"]["id"] == made["id"]
    assert first["tenantId"] == graph_sb.info.graph["tenant_id"] and made["id"] in first["resource"]
    graph.patch(f"users/{mailbox}/contacts/{made['id']}", json={"jobTitle": "Changed"})
    graph.delete(f"users/{mailbox}/contacts/{made['id']}")
    kinds = wait_for(lambda: [n["changeType"] for n in listener.notifications()] if len(
        listener.notifications()) >= 3 else None, "updated and deleted notifications")
    assert kinds == ["created", "updated", "deleted"]


def test_handshake_failures_refuse_the_subscription(graph: httpx.Client, mailbox: str, listener: Listener) -> None:
    listener.handshake = "wrong"
    r = _subscribe(graph, mailbox, listener)
    assert r.status_code == 400 and r.json()["error"]["code"] == "ValidationError"
    listener.handshake = "silent"                        # answers after the (1 s in this suite) handshake timeout
    r = _subscribe(graph, mailbox, listener)
    assert r.status_code == 400 and "did not answer" in r.json()["error"]["message"]
    assert all(s["resource"] != f"/users/{mailbox}/contacts" for s in graph.get("subscriptions").json()["value"])


def test_unacknowledged_notification_is_retried(graph: httpx.Client, mailbox: str, listener: Listener) -> None:
    assert _subscribe(graph, mailbox, listener).status_code == 201
    listener.slow_acks = 1
    made = graph.post(f"users/{mailbox}/contacts", json={"displayName": "Again"}).json()
    posts = wait_for(lambda: listener.notifications() if len(listener.notifications()) >= 2 else None,
                     "a retried notification")
    assert [p["resourceData"]["id"] for p in posts[:2]] == [made["id"], made["id"]]


def test_lifecycle_events_and_reauthorize(graph_sb: Sandbox, graph: httpx.Client, mailbox: str,
                                          listener: Listener, admin: httpx.Client) -> None:
    sub = _subscribe(graph, mailbox, listener).json()
    assert admin.post(f"/subscriptions/{sub['id']}/lifecycle", json={"event": "reauthorizationRequired"}
                      ).status_code == 200
    event = wait_for(lambda: listener.notifications("/lifecycle"), "reauthorizationRequired")[0]
    assert event["lifecycleEvent"] == "reauthorizationRequired" and event["subscriptionId"] == sub["id"]
    assert graph.post(f"subscriptions/{sub['id']}/reauthorize").status_code == 204
    time.sleep(0.8)                                      # past the reauthorization grace of this suite
    assert graph.get(f"subscriptions/{sub['id']}").status_code == 200
    admin.post(f"/subscriptions/{sub['id']}/lifecycle", json={"event": "reauthorizationRequired"})
    removed = wait_for(lambda: [e for e in listener.notifications("/lifecycle")
                                if e["lifecycleEvent"] == "subscriptionRemoved"], "subscriptionRemoved")
    assert removed[0]["subscriptionId"] == sub["id"]
    assert graph.get(f"subscriptions/{sub['id']}").status_code == 404


def test_missed_after_the_retries_give_up(graph: httpx.Client, mailbox: str, listener: Listener) -> None:
    sub = _subscribe(graph, mailbox, listener).json()
    listener.never_ack = True
    graph.post(f"users/{mailbox}/contacts", json={"displayName": "Lost"})
    missed = wait_for(lambda: [e for e in listener.notifications("/lifecycle") if e["lifecycleEvent"] == "missed"],
                      "a missed lifecycle event")
    assert missed[0]["subscriptionId"] == sub["id"]
    assert len(listener.notifications()) == 3            # first try and the two retries of this suite


def test_renew_delete_and_limits(graph_sb: Sandbox, graph: httpx.Client, mailbox: str, listener: Listener) -> None:
    sub = _subscribe(graph, mailbox, listener).json()
    later = _expires(3 * 24 * 60)
    r = graph.patch(f"subscriptions/{sub['id']}", json={"expirationDateTime": later})
    assert r.status_code == 200 and r.json()["expirationDateTime"] == later
    assert graph.delete(f"subscriptions/{sub['id']}").status_code == 204
    graph.post(f"users/{mailbox}/contacts", json={"displayName": "Unheard"})
    time.sleep(0.3)
    assert listener.notifications() == []
    assert _subscribe(graph, mailbox, listener, expirationDateTime=_expires(10_081)).status_code == 400
    assert _subscribe(graph, mailbox, listener, clientState="x" * 129).status_code == 400
    assert _subscribe(graph, mailbox, listener, notificationUrl="https://example.org/hook").status_code == 400
    assert _subscribe(graph, mailbox, listener, resource=f"/users/{mailbox}/messages").status_code == 400
    outside = _subscribe(graph, graph_sb.graph.restricted_mailbox, listener)
    assert outside.status_code == 403 and outside.json()["error"]["message"] == "Access to OData is disabled."


def test_subscriptions_survive_a_restart(tmp_path, listener: Listener, referee) -> None:
    with Sandbox(tmp_path, graph=True, graph_timing=FAST, capture=True) as sb:
        box = sb.info.service_account.username
        with trusted_client(sb, base_url=sb.info.graph["graph_url"] + "/",
                            headers={"Authorization": "Bearer " + token(sb)}) as c:
            sub = _subscribe(c, box, listener).json()
        check_bodies(sb.graph.captured, referee)
    with Sandbox(tmp_path, graph=True, graph_timing=FAST, capture=True) as sb:
        with trusted_client(sb, base_url=sb.info.graph["graph_url"] + "/",
                            headers={"Authorization": "Bearer " + token(sb)}) as c:
            assert c.get(f"subscriptions/{sub['id']}").json()["expirationDateTime"] == sub["expirationDateTime"]
            made = c.post(f"users/{box}/contacts", json={"displayName": "After restart"}).json()
        note = wait_for(lambda: listener.notifications(), "a notification after the restart")[0]
        assert note["subscriptionId"] == sub["id"] and note["resourceData"]["id"] == made["id"]
        check_bodies(sb.graph.captured, referee)


def test_folder_subscription_hears_ews_side_changes(graph: httpx.Client, listener: Listener, ews_alice) -> None:
    """A subscription on a folder's contacts is notified of an edit made through EWS (one organisation)."""
    folder = graph.get("users/alice.jones@example.com/contactFolders").json()["value"][0]["id"]
    r = _subscribe(graph, "alice.jones@example.com", listener, changeType="updated",
                   resource=f"/users/alice.jones@example.com/contactFolders/{folder}/contacts")
    assert r.status_code == 201, r.text
    made = graph.post(f"users/alice.jones@example.com/contactFolders/{folder}/contacts",
                      json={"displayName": "Edited Elsewhere"}).json()
    [contact] = ews_alice.fetch(ids=[(made["id"].replace("-", "/").replace("_", "+"), None)])
    contact.job_title = "Set through EWS"
    contact.save(update_fields=["job_title"])
    note = wait_for(lambda: listener.notifications(), "an updated notification")[0]
    assert note["changeType"] == "updated" and note["resourceData"]["id"] == made["id"]
    assert note["subscriptionId"] == r.json()["id"]
    graph.delete(f"subscriptions/{r.json()['id']}")
