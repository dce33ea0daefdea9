"""Pull and push subscriptions, outbound SendNotification with status pings and back-off; restart keeps state."""
from __future__ import annotations

import http.server
import signal
import subprocess
import sys
import threading
import time
import json

import pytest
from exchangelib import Contact
from exchangelib.services import SendNotification


class Listener(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, answer: str = "OK"):
        self.answer = answer
        self.notifications: list = []
        super().__init__(("127.0.0.1", 0), ListenerHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/ews/notify"

    def wait_for(self, predicate, timeout=10.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate(self.notifications):
                return True
            time.sleep(0.02)
        return False


class ListenerHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        return

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        ws = SendNotification(protocol=None)
        self.server.notifications.extend(ws.parse(body))
        payload = ws.ok_payload() if self.server.answer == "OK" else ws.unsubscribe_payload()
        self.send_response(200)
        self.send_header("Content-Type", "text/xml; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def event_names(notifications):
    return [type(e).__name__ for n in notifications for e in n.events]


def test_pull_subscription(sandbox, account):
    acc = account(sandbox, "bob.smith@example.com")
    sid, watermark = acc.contacts.subscribe_to_pull(event_types=["CreatedEvent", "ModifiedEvent", "DeletedEvent"])
    [created] = acc.bulk_create(acc.contacts, [Contact(display_name="Pulled")])
    notes = list(acc.contacts.get_events(sid, watermark))
    created_events = [e for n in notes for e in n.events if type(e).__name__ == "CreatedEvent"]
    assert [e.item_id.id for e in created_events] == [created.id]
    acc.contacts.unsubscribe(sid)
    assert sid not in [s["id"] for s in sandbox.subscriptions.snapshot()]


def test_push_events_status_pings_and_unsubscribe(sandbox, account):
    listener = Listener()
    acc = account(sandbox, "bob.smith@example.com")
    sid, _ = acc.contacts.subscribe_to_push(callback_url=listener.url, status_frequency=1)
    acc.bulk_create(acc.contacts, [Contact(display_name="Pushed")])
    assert listener.wait_for(lambda ns: "CreatedEvent" in event_names(ns))
    pings = lambda ns: sum(1 for n in ns for e in n.events if type(e).__name__ == "StatusEvent")  # noqa: E731
    assert listener.wait_for(lambda ns: pings(ns) >= 2)     # 1 "minute" is 0.4 s in this suite
    listener.answer = "Unsubscribe"
    assert listener.wait_for(lambda ns: sid not in [s["id"] for s in sandbox.subscriptions.snapshot()])
    listener.shutdown()


def test_drop_subscription_and_fast_stop(make_sandbox, account):
    listener = Listener()
    sb = make_sandbox(status_minute_seconds=60.0)
    sb.add_mailbox("frank@example.com")
    acc = account(sb, "frank@example.com")
    sid, _ = acc.contacts.subscribe_to_push(callback_url=listener.url, status_frequency=30)
    assert listener.wait_for(lambda ns: len(ns) >= 1)
    sb.drop_subscription(sid)
    acc.bulk_create(acc.contacts, [Contact(display_name="Unheard")])
    time.sleep(0.3)
    assert "CreatedEvent" not in event_names(listener.notifications)
    acc.contacts.subscribe_to_push(callback_url=listener.url, status_frequency=30)
    started = time.monotonic()
    sb.stop()
    assert time.monotonic() - started < 3
    listener.shutdown()


def test_push_backoff_drops_subscription_when_listener_is_gone(sandbox, account):
    listener = Listener()
    url = listener.url
    listener.shutdown()
    listener.server_close()
    acc = account(sandbox, "bob.smith@example.com")
    sid, _ = acc.contacts.subscribe_to_push(callback_url=url, status_frequency=1)
    deadline = time.monotonic() + 5
    while sid in [s["id"] for s in sandbox.subscriptions.snapshot()] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sid not in [s["id"] for s in sandbox.subscriptions.snapshot()]
    failures = [r for r in sandbox.requests if r.operation == "SendNotification" and r.mailbox == "bob.smith@example.com"]
    assert sum(1 for r in failures if r.outcome.startswith("failed")) >= 2
    assert failures[-1].outcome == "subscription dropped"


def test_restart_keeps_mailboxes_items_and_sync_state(make_sandbox, account, tmp_path):
    state = tmp_path / "persist"
    sb = make_sandbox(state_dir=state, password="Fixed-Password-1")
    sb.add_mailbox("erin@example.com", aliases=["e@example.com"])
    acc = account(sb, "erin@example.com")
    [created] = acc.bulk_create(acc.contacts, [Contact(display_name="Survivor", crm_id="P-1")])
    list(acc.contacts.sync_items())
    sync_state = acc.contacts.item_sync_state
    port = int(sb.info.url.split(":")[2].split("/")[0])
    sb.stop()
    sb2 = make_sandbox(state_dir=state, password="Fixed-Password-1", port=port)
    acc2 = account(sb2, "e@example.com")
    got = acc2.contacts.get(crm_id="P-1")
    assert (got.id, got.changekey) == (created.id, created.changekey)
    assert list(acc2.contacts.sync_items(sync_state=sync_state)) == []
    finds = [r for r in sb2.requests if r.operation == "FindItem"]
    assert finds and all("Restriction" in r.flags for r in finds)   # no FindItem of the whole folder


@pytest.mark.parametrize("version, build", [("Exchange2013", "15.0.1497.2"), ("Exchange2019", "15.2.1748.10"),
                                            ("ExchangeSE", "15.2.2562.17")])
def test_cli_runs_in_foreground_and_stops_on_sigterm(tmp_path, validator, version, build):
    proc = subprocess.Popen([sys.executable, "-m", "workbench.sandbox", "--state-dir", str(tmp_path), "--http",
                             "--version", version, "--schema-dir", str(validator.directory)],
                            stdout=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline() for _ in range(7)]
        assert lines[0].startswith("EWS endpoint") and "http://127.0.0.1:" in lines[0]
        assert f"({version}, build {build})" in lines[0]
        assert lines[5].split() == ["schema", "check", str(validator.directory.resolve())]
        info = json.loads((tmp_path / "sandbox.json").read_text())
        assert info["url"].startswith("http://127.0.0.1:") and info["version"] == version
        assert info["service_account"]["username"] == "svc-sync@example.com" and info["service_account"]["password"]
        assert "svc-sync@example.com" in info["mailboxes"] and info["admin_url"].startswith("http://127.0.0.1:")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0 and "state saved" in out
    assert (tmp_path / "state.json").exists()
