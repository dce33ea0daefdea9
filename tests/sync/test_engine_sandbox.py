"""The engine against the sandbox, driven through the Python API and the CLI."""
from __future__ import annotations

from tests.sync.conftest import assert_converged, ok_operators, writes_since
from workbench.sync.engine import run_sync


def test_two_way_sync_of_demo_data_then_a_second_run_writes_nothing(env, capsys):
    r1 = run_sync(env.store)
    print(r1.to_json())
    assert r1.done > 0
    assert {m.operator_id: m.status for m in r1.mailboxes} == {
        "OP-001": "ok", "OP-002": "failed", "OP-003": "failed", "OP-004": "ok", "OP-005": "ok"}
    assert_converged(env, ok_operators(r1))
    mark = len(env.sandbox.requests)
    r2 = run_sync(env.store)
    print(r2.to_json())
    assert r2.plan.is_empty
    assert writes_since(env.sandbox, mark) == []
    # the failing mailboxes (no mailbox, impersonation denied) were e-mailed about once, not every run
    notes = env.store.df("SELECT operator_id, code, status FROM notifications ORDER BY notification_id")
    assert notes.values.tolist() == [["OP-002", "EWS_MAILBOX_NOT_FOUND", "sent"],
                                     ["OP-003", "EWS_IMPERSONATION_DENIED", "sent"]] or sorted(
        notes.values.tolist()) == [["OP-002", "EWS_MAILBOX_NOT_FOUND", "sent"],
                                   ["OP-003", "EWS_IMPERSONATION_DENIED", "sent"]]
