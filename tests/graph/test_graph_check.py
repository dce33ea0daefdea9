"""`workbench check` with backend=graph: token, roles, one operator's mailbox (in scope or not, with the remedy),
each step skipped when what it needs failed; stored like the EWS check."""
from __future__ import annotations

import json

from tests.graph.conftest import healthy_operators

from workbench.store import settings_table


def run(capsys, *args: str) -> tuple[int, str, str]:
    from workbench.cli import main
    code = main(["check", *args])
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out
    return code, out.out, out.err


def steps(out: str) -> dict[str, dict]:
    return {s["step"]: s for s in json.loads(out)["steps"]}


def test_check_passes_on_graph_and_names_an_out_of_scope_mailbox(graph_env, capsys) -> None:
    env = graph_env
    code, out, _ = run(capsys, "--json", "--operator", healthy_operators(env)[0][0])
    got = steps(out)
    assert code == 0, out
    assert [got[s]["status"] for s in ("settings", "token", "roles", "mailbox", "listener")] == ["ok"] * 5
    assert "Contacts.ReadWrite" in got["roles"]["detail"]
    with env.store.write() as con:
        con.execute("INSERT INTO operators VALUES ('OP-R', 'Restricted', ?, true, now(), 'test')",
                    [env.sandbox.graph.restricted_mailbox])
    code, out, _ = run(capsys, "--operator", "OP-R")
    assert code == 1
    assert "GRAPH_SCOPE_DENIED" in out and "New-ManagementRoleAssignment" in out and "CustomResourceScope" in out
    assert env.store.scalar("SELECT count(*) FROM check_runs") == 2


def test_missing_consent_fails_roles_and_bad_secret_skips_the_rest(graph_env, capsys, monkeypatch) -> None:
    env = graph_env
    app = env.sandbox.graph.add_app("Read only", roles=("Contacts.Read",))
    settings_table.update(env.store, {"graph_client_id": app.client_id}, source="test")
    monkeypatch.setenv("WORKBENCH_GRAPH_CLIENT_SECRET", app.secret)
    code, out, _ = run(capsys, "--json")
    got = steps(out)
    assert code == 1 and (got["roles"]["status"], got["roles"]["code"]) == ("failed", "GRAPH_CONSENT_MISSING")
    monkeypatch.setenv("WORKBENCH_GRAPH_CLIENT_SECRET", "wrong")
    code, out, _ = run(capsys, "--json")
    got = steps(out)
    assert (got["token"]["status"], got["token"]["code"]) == ("failed", "GRAPH_AUTH_REJECTED")
    assert got["roles"]["status"] == got["mailbox"]["status"] == "skipped" and "needs token" in got["roles"]["detail"]
