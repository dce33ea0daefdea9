"""The engine against the sandbox, driven through the Python API and the CLI."""
from __future__ import annotations

import json

from tests.sync.conftest import writes_since
from workbench.cli import main
from workbench.sync.engine import run_sync


def test_two_way_sync_of_demo_data_then_a_second_run_writes_nothing(env, capsys):
    r1 = run_sync(env.store)
    print(r1.to_json())
    assert r1.done > 0
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
