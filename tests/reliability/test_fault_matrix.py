"""The fault figures of issue 19: an initial sync under each fault ends, and at most 2 clean runs converge it.

Each case is a fresh demo world (6 operators, 60 contacts). The run under the fault must end with every working
mailbox ``ok`` or ``partial`` (the watchdog bounds it, so a hang would fail the mailbox); with the faults cleared,
at most two more runs must leave both sides agreeing, the last one with an empty plan, no CRM id twice in any
mailbox and no CRM contact row or team pair lost. ``pytest -s`` prints the figures of each case.
"""
from __future__ import annotations

from collections import Counter

import pytest

from tests.reliability.checks import WORKING, assert_nothing_lost, crm_rows, duplicated_crm_ids
from tests.sync.conftest import assert_converged, ok_operators
from workbench.sync.engine import run_sync

pytestmark = pytest.mark.slow

MAX_CLEAN_RUNS = 2
FAULTS = {
    "10% HTTP 503": {"http_error_share": 0.1, "http_error_status": 503},
    "10% dropped connections": {"drop_share": 0.1},
    "200 ms latency": {"latency_ms": 200},
    "30% throttling": {"throttle_share": 0.3, "backoff_ms": 50},
    # together at half their single shares: at the full ones half of all requests fail, and a request's retries
    # back off for tens of seconds (27-100 s for this case alone, the slowest test of the suite)
    "all combined": {"http_error_share": 0.05, "http_error_status": 503, "drop_share": 0.05, "latency_ms": 200,
                     "throttle_share": 0.15, "backoff_ms": 50},
}
SIGN = {"http_error_share": "injected HTTP error", "drop_share": "dropped", "throttle_share": "ErrorServerBusy"}


@pytest.mark.parametrize("faults", FAULTS.values(), ids=FAULTS.keys())
def test_an_initial_sync_under_faults_ends_and_at_most_two_clean_runs_converge(exchange_env, faults, request):
    env = exchange_env
    before = crm_rows(env.store)
    env.sandbox.faults.set(**faults, seed=19)
    try:
        first = run_sync(env.store, deadline_seconds=120)
    finally:
        env.sandbox.faults.clear()
    statuses = {m.operator_id: (m.status, m.code) for m in first.mailboxes}
    assert all(statuses[op][0] in ("ok", "partial") for op in WORKING), statuses
    assert env.store.scalar("SELECT status FROM sync_runs WHERE run_id = ?", [first.run_id]) != "running"
    injected = Counter(r.outcome for r in env.sandbox.requests if r.outcome not in (None, "", "ok", "NoError"))
    assert all(injected[SIGN[k]] > 0 for k in faults if k in SIGN), injected      # the fault did happen
    clean = []
    while len(clean) < MAX_CLEAN_RUNS and (not clean or not clean[-1].plan.is_empty):
        clean.append(run_sync(env.store))
    assert clean[-1].plan.is_empty, f"still planned after {MAX_CLEAN_RUNS} clean runs: {clean[-1].planned}"
    assert_converged(env, ok_operators(first))
    assert duplicated_crm_ids(env) == {}
    assert_nothing_lost(env.store, before)
    print(f"\n[{request.node.callspec.id}] faulted run: {first.status}, {first.requests} requests, "
          f"{first.retries} retries, {first.done} done, {first.failed} failed; sandbox outcomes {dict(injected)}; "
          f"clean runs to converge: {len(clean)} (planned {[r.planned for r in clean]})")
