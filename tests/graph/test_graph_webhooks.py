"""Graph webhooks served by the agent (issue 14): the listener's codec over real HTTP, then the running agent
against the Graph sandbox: the validation handshake, a wrong clientState refused, a categorised contact created
in the Graph mailbox reaching the CRM store (latency printed), lifecycle events (missed caught up by delta,
reauthorizationRequired renewed, subscriptionRemoved re-subscribed), and `check`'s webhook step."""
from __future__ import annotations

import http.client
import io
import json
import shutil
import ssl
import time
import uuid
from pathlib import Path

import pytest

from tests.agent.bodies import send_notification
from tests.agent.conftest import RunningAgent, started_for, wait_for
from tests.conftest import free_port
from tests.graph.conftest import healthy_operators

from workbench.agent.listener import ListenAddress, Listener
from workbench.backends import HybridPushCodec
from workbench.exchange.notifications import EwsPushCodec
from workbench.graph.webhooks import GraphPushCodec
from workbench.store import settings_table

SECRET = "the-client-state"
CAT = "PegaSASync"


class Recorder:
    def __init__(self) -> None:
        self.notes: list = []
        self.logged: list[tuple[str, dict]] = []

    def decide(self, notes) -> str:
        self.notes.extend(notes)
        return "OK"

    def log(self, event: str, **fields) -> None:
        self.logged.append((event, fields))


def post(port: int, path: str, body: bytes = b"", *, ctx: ssl.SSLContext | None = None,
         content_type: str = "application/json") -> tuple[int, str, bytes]:
    conn = (http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10) if ctx else
            http.client.HTTPConnection("127.0.0.1", port, timeout=10))
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": content_type})
        reply = conn.getresponse()
        return reply.status, reply.getheader("Content-Type", ""), reply.read()
    finally:
        conn.close()


def notification(sid: str, client_state: str = SECRET, **extra) -> bytes:
    item = {"subscriptionId": sid, "clientState": client_state, "changeType": "created",
            "resource": "Users/u1/Contacts/AAMk1", "resourceData": {"id": "AAMk1"}, "tenantId": "t", **extra}
    return json.dumps({"value": [item]}).encode()


@pytest.fixture
def graph_listener():
    rec = Recorder()
    codec = HybridPushCodec(EwsPushCodec(), GraphPushCodec(lambda: SECRET))
    lst = Listener(ListenAddress("http", "127.0.0.1", 0, "/notify"), codec, rec.decide, rec.log).start()
    yield lst, rec
    lst.stop()


def test_listener_answers_the_handshake_and_checks_client_state(graph_listener) -> None:
    lst, rec = graph_listener
    assert post(lst.port, "/notify?validationToken=Validation%3A%20Testing%20client", content_type="text/plain") == (
        200, "text/plain; charset=utf-8", b"Validation: Testing client")
    assert post(lst.port, "/notify?validationToken=")[0] == 400
    assert post(lst.port, "/elsewhere?validationToken=abc")[0] == 404
    status, _, _ = post(lst.port, "/notify", notification("sub-1"))
    assert status == 200 and [(n.subscription_id, n.events[0].kind, n.events[0].item_id) for n in rec.notes] == [
        ("sub-1", "created", "AAMk1")]
    status, _, _ = post(lst.port, "/notify", notification("sub-1", "forged"))
    assert status == 403 and len(rec.notes) == 1, "a wrong clientState reaches nobody"
    refused = [f for e, f in rec.logged if e == "notification-refused"]
    assert refused[-1]["status"] == 403 and "clientState" in refused[-1]["reason"]
    lifecycle = json.dumps({"value": [{"lifecycleEvent": "missed", "subscriptionId": "sub-1",
                                       "clientState": SECRET}]}).encode()
    assert post(lst.port, "/notify", lifecycle)[0] == 200 and rec.notes[-1].events[0].is_lifecycle
    for bad in (b"{", b'{"value": []}', notification("sub-1", changeType="exploded"), notification("")):
        assert post(lst.port, "/notify", bad)[0] == 400, bad
    assert len(rec.notes) == 2
    # the same listener takes EWS's SendNotification (a hybrid organisation has one notification_url)
    status, kind, reply = post(lst.port, "/notify", send_notification("ews-sub", [("CreatedEvent", "AAMkE")]),
                               content_type="text/xml")
    assert status == 200 and kind.startswith("text/xml") and b"OK" in reply
    assert rec.notes[-1].subscription_id == "ews-sub" and rec.notes[-1].has_changes


def test_graph_only_codec_replies_202(tmp_path) -> None:
    rec = Recorder()
    lst = Listener(ListenAddress("http", "127.0.0.1", 0, "/notify"), GraphPushCodec(lambda: SECRET), rec.decide,
                   rec.log).start()
    try:
        assert post(lst.port, "/notify", notification("sub-9"))[:2] == (202, "application/json")
        status, kind, body = post(lst.port, "/notify", b"<soap/>")
        assert status == 400 and kind == "application/json" and json.loads(body)["error"]["code"] == "BadRequest"
    finally:
        lst.stop()


def test_no_credential_answers_503_so_graph_retries() -> None:
    from workbench.errors import WorkbenchError

    def broken() -> str:
        raise WorkbenchError("SECRET_MISSING", "WORKBENCH_GRAPH_CLIENT_SECRET is not set")
    rec = Recorder()
    lst = Listener(ListenAddress("http", "127.0.0.1", 0, "/notify"), GraphPushCodec(broken), rec.decide,
                   rec.log).start()
    try:
        status, _, body = post(lst.port, "/notify", notification("sub-9"))
        assert status == 503 and b"InternalServerError" in body and not rec.notes
        assert post(lst.port, "/notify?validationToken=abc")[2] == b"abc", "the handshake needs no credential"
    finally:
        lst.stop()


def test_client_state_is_derived_from_the_credential() -> None:
    from workbench.graph.webhooks import derive_client_state
    one = derive_client_state("secret-1", "tenant", "app")
    assert one == derive_client_state("secret-1", "tenant", "app"), "the same after a restart"
    assert "secret-1" not in one and 20 < len(one) <= 128
    assert len({one, derive_client_state("secret-2", "tenant", "app"), derive_client_state("secret-1", "t2", "app"),
                derive_client_state({"private_key": "PEM", "public_certificate": "PEM"}, "tenant", "app")}) == 4


# ---------------------------------------------------------------- the running agent against the Graph sandbox
def listener_certificate(env, directory: Path):
    """A loopback certificate for the agent's listener, signed by the sandbox CA (which graph_ca_bundle trusts)."""
    from workbench.sandbox.certs import issue_server_certificate
    ca_dir = Path(env.graph["ca_cert"]).parent
    directory.mkdir()
    for name in ("sandbox-ca.pem", "sandbox-ca.key"):
        shutil.copy(ca_dir / name, directory / name)
    return issue_server_certificate(directory)


@pytest.fixture
def graph_agent(graph_env, tmp_path):
    """graph_env with one healthy operator verified, an https notification_url, and a way to start the agent."""
    from workbench.agent.scheduler import ManualClock
    from workbench.operators.verify import verify_operators
    from tests.agent.conftest import T0
    env = graph_env
    op, email = healthy_operators(env)[0]
    assert [c.ok for c in verify_operators(env.store, [op])] == [True]
    with env.store.write() as con:
        con.execute("DELETE FROM sync_requests")
    cert = listener_certificate(env, tmp_path / "listener-cert")
    started: list[RunningAgent] = []

    def start() -> RunningAgent:
        ra = RunningAgent(env.store, ManualClock(T0), tls_cert=str(cert.cert_chain), tls_key=str(cert.key))
        ra.agent.log.stream = io.StringIO()         # the events go to the sink; capsys's stream closes first
        started.append(ra)
        return ra.start()
    yield env, op, email, start
    for ra in started:
        ra.stop()


def subscription_of(store, op: str) -> str | None:
    return store.scalar("SELECT subscription_id FROM mailbox_state WHERE operator_id = ?", [op])


def crm_contact(store, email: str):
    rows = store.rows("SELECT c.contact_id, c.given_name FROM contacts c JOIN links l USING (contact_id) "
                      "WHERE c.email = ?", [email])
    return rows[0] if rows else None


def create_in_mailbox(env, mailbox: str, name: str) -> str:
    email = f"{name.lower()}.{uuid.uuid4().hex[:6]}@client.example.com"
    client = env.http()
    try:
        r = client.post(f"users/{mailbox}/contacts", json={
            "givenName": name, "surname": "Webhook", "categories": [CAT],
            "emailAddresses": [{"address": email, "name": f"{name} Webhook"}]})
    finally:
        client.close()
    assert r.status_code == 201, r.text
    return email


def test_agent_serves_graph_webhooks_end_to_end(capsys, graph_agent) -> None:
    env, op, mailbox, start = graph_agent
    ra = start()
    url = ra.agent.settings.notification_url
    sid = wait_for(lambda: subscription_of(env.store, op), timeout=30)
    assert sid and sid in {s["id"] for s in env.sandbox.graph.subscriptions.snapshot()}
    assert len(ra.named("validation")) >= 2, "Graph validated the notification and lifecycle URLs at the agent"
    assert wait_for(lambda: any(e["operator"] == op for e in ra.named("sync-done")) and not ra.agent.busy(),
                    timeout=60)

    # a categorised contact created in the Graph mailbox reaches the CRM store by its notification
    started = time.monotonic()
    email = create_in_mailbox(env, mailbox, "Pushed")
    got = wait_for(lambda: crm_contact(env.store, email), timeout=20)
    latency = time.monotonic() - started
    assert got and got[1] == "Pushed", "the contact never reached the CRM store"
    # a job already running when the notification came (a catch-up) may have fetched the contact first; the
    # notification's own job then starts after it (coalesced as its follow-up)
    assert wait_for(lambda: any("notification" in e.get("why", "") for e in ra.named("sync-start")
                                if e["operator"] == op), timeout=20)
    with capsys.disabled():
        print(f"\n[graph webhook] contact created in the mailbox -> CRM store: {latency:.2f} s")

    # a notification with the subscription's id but another clientState: 403, nothing fetched
    ctx = ssl.create_default_context(cafile=env.graph["ca_cert"])
    port = ra.agent.listener.port
    assert wait_for(lambda: not ra.agent.busy(), timeout=20)
    jobs = len(ra.named("sync-start"))
    status, _, _ = post(port, "/graph/notify", notification(sid, "guessed"), ctx=ctx)
    assert status == 403
    assert [e for e in ra.named("notification-refused") if e["status"] == 403 and "clientState" in e["reason"]]
    ticks = ra.agent.ticks    # ten turns of the agent's loop (0.05 s each when idle): a job would have started
    assert wait_for(lambda: ra.agent.ticks >= ticks + 10, timeout=20)
    assert len(ra.named("sync-start")) == jobs

    # Graph gives up delivering (its notification URL unreachable): `missed`, and delta catches up
    subs = env.sandbox.graph.subscriptions
    subs.timing.retry_delays = (0.05, 0.1)
    with subs.lock:
        subs.live[sid].notification_url = f"http://127.0.0.1:{free_port()}/gone"
    email = create_in_mailbox(env, mailbox, "Missed")
    assert wait_for(lambda: [e for e in ra.named("lifecycle") if e["lifecycle_event"] == "missed"], timeout=20)
    assert wait_for(lambda: crm_contact(env.store, email), timeout=20), "delta did not recover the missed contact"
    assert any(started_for(e, "lifecycle:missed") for e in ra.named("sync-start"))

    # reauthorizationRequired: the agent renews (PATCH), which clears Graph's reauthorization deadline
    with subs.lock:
        subs.live[sid].notification_url = url
    env.sandbox.graph.subscriptions.lifecycle(sid, "reauthorizationRequired")
    assert wait_for(lambda: ra.named("subscription-renewed"), timeout=20)
    assert [s["reauthorization_due"] for s in subs.snapshot() if s["id"] == sid] == [False]

    # subscriptionRemoved: a new subscription, and a catch-up
    env.sandbox.graph.subscriptions.lifecycle(sid, "subscriptionRemoved")
    new = wait_for(lambda: (s := subscription_of(env.store, op)) and s != sid and s, timeout=20)
    assert new and new in {s["id"] for s in subs.snapshot()}
    assert wait_for(lambda: any(started_for(e, "lifecycle:subscriptionRemoved") for e in ra.named("sync-start")),
                    timeout=20)
    email = create_in_mailbox(env, mailbox, "Afterwards")
    assert wait_for(lambda: crm_contact(env.store, email), timeout=20), "the new subscription does not deliver"

    # a 410 delta reset: the stored delta link is refused; the agent journals it and reads the whole folder
    assert wait_for(lambda: not ra.agent.busy(), timeout=20)
    env.sandbox.graph.invalidate_sync(mailbox)
    email = create_in_mailbox(env, mailbox, "Reset")
    assert wait_for(lambda: crm_contact(env.store, email), timeout=20), "the reset lost the contact"
    assert [e for e in ra.named("sync-state-reset") if e["operator"] == op and e["code"] == "GRAPH_DELTA_RESET"]
    assert env.store.rows("SELECT outcome, code FROM sync_log WHERE operator_id = ? AND action = 'sync-state-reset'",
                          [op]) == [("ok", "GRAPH_DELTA_RESET")]
    assert wait_for(lambda: not ra.agent.busy(), timeout=20)
    from workbench.sync.plan import plan_store
    assert plan_store(env.store, None, [op]).is_empty, "after the reset the next plan is empty"

    # half of the subscription's lifetime (notification_frequency_minutes) later, the agent renews it
    renewed = len(ra.named("subscription-renewed"))
    patches = sum(1 for r in env.sandbox.graph.requests if r.method == "PATCH" and "subscriptions" in r.path)
    ra.agent.clock.advance(minutes=ra.agent.settings.notification_frequency_minutes / 2 + 1)
    assert wait_for(lambda: len(ra.named("subscription-renewed")) > renewed, timeout=20)
    assert sum(1 for r in env.sandbox.graph.requests if r.method == "PATCH" and "subscriptions" in r.path) > patches
    assert subscription_of(env.store, op) == new, "renewed, not replaced"



def check(capsys, *args: str) -> tuple[int, dict]:
    from workbench.cli import main
    code = main(["check", "--json", *args])
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out
    return code, {s["step"]: s for s in json.loads(out.out)["steps"]}


def test_check_webhook_step_needs_the_agent_listening(capsys, graph_agent) -> None:
    env, op, _mailbox, start = graph_agent
    code, steps = check(capsys, "--operator", op)
    assert code == 0 and (steps["webhook"]["status"], steps["webhook"]["code"]) == ("warning", "LISTENER_UNREACHABLE")
    assert "workbench agent" in steps["webhook"]["remedy"]
    # an EWS-only listener at the URL does not answer Graph's handshake
    from workbench.agent.listener import tls_context
    cert = listener_certificate(env, env.workdir / "other-cert")
    settings = env.settings()
    lst = Listener(ListenAddress.from_url(settings.notification_url), EwsPushCodec(), lambda n: "OK",
                   tls=tls_context(str(cert.cert_chain), str(cert.key))).start()
    try:
        code, steps = check(capsys, "--operator", op)
    finally:
        lst.stop()
    assert code == 1 and steps["webhook"]["code"] == "GRAPH_WEBHOOK_HANDSHAKE"
    ra = start()
    code, steps = check(capsys, "--operator", op)
    assert code == 0 and steps["webhook"]["status"] == "ok", steps["webhook"]
    assert "echoed the validation token" in steps["webhook"]["detail"]
    settings_table.update(env.store, {"notification_url": settings.notification_url.replace("https", "http")},
                          source="test")
    code, steps = check(capsys, "--operator", op)
    assert steps["listener"]["code"] == "SETTING_INVALID" and steps["webhook"]["status"] == "skipped"
    assert ra.agent.listener is not None
