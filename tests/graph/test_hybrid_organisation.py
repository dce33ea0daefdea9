"""A hybrid organisation: the organisation on EWS, some operators on Graph (`operators backend ID --to graph`);
one `sync run` syncs both, each mailbox only through its own backend; a synced operator cannot switch backend."""
from __future__ import annotations

import os
import subprocess
import sys

from tests.graph.conftest import healthy_operators
from tests.graph.test_graph_sync import agree, sync_run


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workbench", *args], env=os.environ.copy(), capture_output=True,
                          text=True, timeout=120)


def test_one_run_syncs_ews_and_graph_operators(hybrid_env) -> None:
    env = hybrid_env
    (ews_op, ews_mail), (graph_op, graph_mail) = healthy_operators(env)[:2]
    done = cli("operators", "backend", graph_op, "--to", "graph")
    assert done.returncode == 0 and f"backend graph: {graph_op}" in done.stdout, done.stderr
    rc, out, err = sync_run("--operator", ews_op, "--operator", graph_op)
    assert rc == 0, (err, out)
    assert {m["operator_id"]: m["status"] for m in out["mailboxes"]} == {ews_op: "ok", graph_op: "ok"}
    assert {m["operator_id"]: m["backend"] for m in out["mailboxes"]} == {ews_op: "ews", graph_op: "graph"}
    from workbench.readmodels.journal import runs
    assert runs(env.store).set_index("run_id").loc[out["run_id"], "backends"] == "ews+graph"   # the notebooks' runs
    table = cli("sync", "run", "--operator", graph_op)       # the table a person reads: the backend per mailbox
    assert table.returncode == 0 and "backend" in table.stdout.splitlines()[0], table.stdout
    assert f"{graph_op}    {graph_mail}" in table.stdout and " graph " in table.stdout.splitlines()[1]
    agree(env, ews_op, ews_mail)
    agree(env, graph_op, graph_mail)
    ews_boxes = {(r.mailbox or "").lower() for r in env.sandbox.requests if r.mailbox}
    graph_boxes = {r.mailbox.lower() for r in env.sandbox.graph.requests if r.mailbox}
    assert ews_mail.lower() in ews_boxes and graph_mail.lower() not in ews_boxes
    assert graph_boxes == {graph_mail.lower()}
    listed = cli("operators", "list", "--json")
    assert '"backend": "graph"' in listed.stdout
    # both operators are synced now: neither may switch backend (their item ids belong to their backend)
    refused = cli("operators", "backend", ews_op, "--to", "graph")
    assert refused.returncode == 2 and refused.stderr.startswith("OPERATOR_BACKEND_LINKED:"), refused.stderr
    assert "Traceback" not in refused.stderr
    assert env.store.scalar("SELECT count(*) FROM operator_backends WHERE operator_id = ?", [ews_op]) == 0
    rc, out, err = sync_run("--operator", ews_op, "--operator", graph_op)
    assert rc == 0 and out["planned"] == 0, out


def test_settings_check_knows_each_backends_keys(hybrid_env) -> None:
    from workbench.store import settings_table
    env = hybrid_env
    assert cli("settings", "check").returncode == 0
    settings_table.update(env.store, {"graph_client_id": ""}, source="test")
    assert cli("settings", "check").returncode == 0, "no operator on Graph: its keys are not needed"
    op = env.store.scalar("SELECT min(operator_id) FROM operators")
    assert cli("operators", "backend", op, "--to", "graph").returncode == 0
    check = cli("settings", "check")
    assert check.returncode == 2 and "graph_client_id: empty; required for backend graph" in check.stdout
