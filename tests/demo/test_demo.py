"""`workbench demo --no-tui` end to end: sandbox (EWS and Graph), fresh store, check -> verify -> preview ->
sync, then the move of one operator to Graph; a hybrid organisation."""
from __future__ import annotations

import json
import stat
from collections import Counter
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.store import Store

#: the demo is built once for this module and the living demo (tests/conftest.py ``demo_world``)
pytestmark = pytest.mark.xdist_group("demo")


@pytest.fixture(scope="module")
def demo(demo_world: tuple[dict, Path]) -> tuple[dict, Path]:
    """(the summary of `workbench demo --no-tui --json`, the demo directory)."""
    summary, root = demo_world
    return summary, root / "demo"


def test_demo_pipeline_summary_matches_the_store(demo):
    summary, demo_dir = demo
    store = Store(summary["store"])

    # check: the stored check run says what the summary says
    assert summary["check_ok"] is True
    assert store.scalar("SELECT ok FROM check_runs ORDER BY run_id DESC LIMIT 1") is True

    # verify: one check per enabled operator; the three problem operators of data/ are found
    latest = store.rows("SELECT status FROM operator_checks")
    assert Counter(s for (s,) in latest) == Counter(summary["verified"])
    assert summary["verified"].get("ok") == 17
    assert {p.split()[0] for p in summary["verify_problems"]} == {"OP-001", "OP-002", "OP-003"}

    # preview then sync: the run row and the journal agree with the summary
    run = store.rows("SELECT run_id, status, planned, done, failed, dry_run FROM sync_runs "
                     "WHERE run_id = ?", [summary["run_id"]])[0]
    assert run[1:] == (summary["run_status"], summary["planned"], summary["done"], summary["failed"], False)
    assert summary["done"] > 0 and summary["planned"] >= summary["preview_writes"] - 10
    ok_writes = store.scalar("SELECT count(*) FROM sync_log WHERE run_id = ? AND outcome = 'ok' AND action IN "
                             "('create-exchange', 'update-exchange', 'delete-exchange', 'create-crm', "
                             "'update-crm', 'link', 'unlink-crm', 'forget')", [summary["run_id"]])
    assert ok_writes == summary["done"]
    assert summary["mailboxes"]["OP-002"].startswith("failed EWS_MAILBOX_NOT_FOUND")
    assert summary["mailboxes"]["OP-003"].startswith("failed EWS_IMPERSONATION_DENIED")
    assert store.scalar("SELECT count(*) FROM links") > 0

    # the demo's store, its lock and the keystore are private to the user
    for name in ("workbench.duckdb", "workbench.duckdb.lock", "exchange.jks"):
        assert stat.S_IMODE((demo_dir / name).stat().st_mode) == 0o600, name

    # secrets never reach the store
    raw = (demo_dir / "workbench.duckdb").read_bytes()
    sandbox = json.loads((demo_dir / "sandbox" / "sandbox.json").read_text())
    for secret in (sandbox["service_account"]["password"], sandbox["graph"]["client_secret"]):
        assert secret.encode() not in raw
        assert secret not in (demo_dir / "demo.json").read_text()


def graph_contacts(sb, mailbox: str) -> list[dict]:
    """The mailbox's contacts as Graph lists them (a plain httpx client with the app's token), CRM id expanded."""
    from tests.graph.conftest import GraphEnv
    from workbench.graph.mapping import CRM_ID_PROPERTY
    client = GraphEnv(None, sb, sb.info.graph, Path()).http()
    expand = {"$top": "1000", "$expand": f"singleValueExtendedProperties($filter=id eq '{CRM_ID_PROPERTY}')"}
    try:
        r = client.get(f"users/{mailbox}/contacts", params=expand)
    finally:
        client.close()
    assert r.status_code == 200, r.text
    return r.json()["value"]


def crm_ids(items: list[dict]) -> list[str]:
    return [p["value"] for i in items for p in i.get("singleValueExtendedProperties", [])]


def test_demo_is_a_hybrid_organisation(demo, monkeypatch, capsys):
    from workbench.demo import GRAPH_OPERATORS, MOVED_OPERATOR, demo_exchange
    from workbench.demo_world import load, secrets_of
    summary, demo_dir = demo
    store = Store(summary["store"])
    on_graph = (*GRAPH_OPERATORS, MOVED_OPERATOR)
    backends = dict(store.rows("SELECT operator_id, backend FROM operator_backends"))
    assert backends == {op: "graph" for op in on_graph}
    from workbench.store.settings_table import stored_values
    assert stored_values(store)["backend"] == "ews"
    assert summary["backends"] == {"ews": 17, "graph": 3}     # the 20 enabled operators per backend
    assert {op: summary["mailboxes"][op] for op in GRAPH_OPERATORS} == {op: "ok" for op in GRAPH_OPERATORS}
    listed = {r["operator_id"]: r["effective_backend"] for r in operators_list(monkeypatch, capsys, store)}
    assert {op for op, kind in listed.items() if kind == "graph"} == set(on_graph)

    # the move: journaled, every stored id translated, its sync on Graph created nothing
    assert summary["move"].startswith(f"{MOVED_OPERATOR} (") and "moved ews -> graph" in summary["move"]
    assert summary["move_run_status"] == "ok"
    journal = store.rows("SELECT run_id, action FROM sync_log WHERE operator_id = ? AND action IN "
                         "('move-backend', 'create-exchange') ORDER BY log_id", [MOVED_OPERATOR])
    assert [a for _r, a in journal][-1] == "move-backend" and (summary["run_id"], "create-exchange") in journal
    assert store.scalar("SELECT count(*) FROM sync_log WHERE run_id = ? AND action LIKE 'create-%'",
                        [summary["move_run_id"]]) == 0

    # demo --serve brings the same Graph back (in-process here): the Graph mailboxes hold the contacts once each
    world = load(demo_dir)
    assert world.graph_port
    monkeypatch.setenv("WORKBENCH_STORE", str(store.path))
    with demo_exchange(demo_dir, world, secrets_of(demo_dir).ews_password) as sb:
        assert sb.info.graph["graph_url"] == world.graph_url()
        for op in on_graph:
            email = store.scalar("SELECT email FROM operators WHERE operator_id = ?", [op])
            ids = crm_ids(graph_contacts(sb, email))
            linked = {r[0] for r in store.rows("SELECT contact_id FROM links WHERE operator_id = ?", [op])}
            assert len(ids) == len(set(ids)), f"{op}: a contact twice in the mailbox"
            assert linked and linked <= set(ids), op
        # `check` works for both: the organisation's (EWS) checklist, and Graph's for an operator on Graph
        ews, graph = check(capsys), check(capsys, "--operator", GRAPH_OPERATORS[0])
    assert ews["ok"] and "credentials" in ews["steps"] and ews["steps"]["impersonation"]["detail"].split(":")[0] \
        not in on_graph
    assert graph["ok"] and graph["steps"]["token"]["status"] == "ok" and graph["steps"]["mailbox"]["status"] == "ok"
    secret = secrets_of(demo_dir).graph_client_secret
    assert secret and secret.encode() not in store.path.read_bytes()


def operators_list(monkeypatch, capsys, store: Store) -> list[dict]:
    monkeypatch.setenv("WORKBENCH_STORE", str(store.path))
    assert main(["operators", "list", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def check(capsys, *args: str) -> dict:
    code = main(["check", "--json", *args])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    report = json.loads(out.out)
    assert code == (0 if report["ok"] else 1)
    return {"ok": report["ok"], "steps": {s["step"]: s for s in report["steps"]}}
