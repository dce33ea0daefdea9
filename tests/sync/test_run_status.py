"""One run-status rule for every entry point (issue 16): each enabled operator in scope ends the run in
exactly one state, the counts add up, a mailbox-level error accounts for every write it stopped, and a
run with a failed operator is `partial` — whether it came from a preview's Apply, `r` or the CLI."""
from __future__ import annotations

from tests.sync.conftest import mailbox_of
from tests.sync.test_apply_preview import crm_set, linked
from workbench.readmodels.journal import live_run
from workbench.sync.engine import run_sync
from workbench.sync.preview import preview

NO_MAILBOX, DENIED, OP = "OP-002", "OP-003", "OP-004"


def _adds_up(result) -> None:
    for m in result.mailboxes:
        assert m.planned == m.done + m.failed + m.stale + m.cancelled, m
    assert result.planned == result.done + result.failed + result.stale + result.cancelled


def _mailbox_rows(env, run_id):
    return env.store.rows("SELECT operator_id, outcome, code FROM sync_log WHERE run_id = ? AND action = 'mailbox' "
                          "ORDER BY operator_id", [run_id])


def test_applying_a_preview_reports_an_unreachable_mailbox_as_a_run_does(env):
    pv = preview(env.store)
    assert NO_MAILBOX in pv.errors and DENIED in pv.errors           # the preview could not plan them
    applied = run_sync(env.store, plan=pv, trigger="dashboard")
    assert applied.status == "partial"
    states = {m.operator_id: (m.status, m.code) for m in applied.mailboxes}
    assert states[NO_MAILBOX] == ("failed", "EWS_MAILBOX_NOT_FOUND")
    assert states[DENIED] == ("failed", "EWS_IMPERSONATION_DENIED")
    assert (NO_MAILBOX, "failed", "EWS_MAILBOX_NOT_FOUND") in _mailbox_rows(env, applied.run_id)
    _adds_up(applied)
    mails = env.store.rows("SELECT operator_id, code FROM notifications WHERE run_id = ? ORDER BY operator_id",
                           [applied.run_id])
    assert mails == [(NO_MAILBOX, "EWS_MAILBOX_NOT_FOUND"), (DENIED, "EWS_IMPERSONATION_DENIED")]
    # `r` (a run of every enabled operator) right after: the same states, and no second e-mail
    again = run_sync(env.store, trigger="dashboard")
    assert again.status == "partial"
    assert {m.operator_id: m.status for m in again.mailboxes}[NO_MAILBOX] == "failed"
    assert env.store.scalar("SELECT count(*) FROM notifications WHERE operator_id = ?", [NO_MAILBOX]) == 1
    _adds_up(again)


def test_the_cli_reports_the_same_partial_run(env, capsys):
    from workbench.cli import main
    assert main(["sync", "run", "--no-progress"]) == 1
    out = capsys.readouterr().out
    run = env.store.rows("SELECT status, planned, done, failed FROM sync_runs ORDER BY run_id DESC LIMIT 1")[0]
    assert run[0] == "partial" and run[1] == run[2] + run[3]
    assert "partial" in out and NO_MAILBOX in out and "EWS_MAILBOX_NOT_FOUND" in out
    assert env.store.scalar("SELECT count(*) FROM notifications WHERE operator_id = ?", [NO_MAILBOX]) == 1
    # `log --failed` prints each failure code's whole cause and remedy
    from workbench.errors import CATALOGUE
    assert main(["log", "--failed"]) == 0
    flat = " ".join(capsys.readouterr().out.split())
    for code in ("EWS_MAILBOX_NOT_FOUND", "EWS_IMPERSONATION_DENIED"):
        failure = CATALOGUE[code]
        assert f"{code} ×1: {failure.title}" in flat
        assert "cause: " + " ".join(failure.cause.split()) in flat
        assert "remedy: " + " ".join(failure.remedy.split()) in flat


def test_a_mailbox_level_error_accounts_for_every_write_it_stopped(env):
    run_sync(env.store, [OP])
    for contact_id in linked(env, n=4):
        crm_set(env, contact_id, job_title="edited in the CRM")
    pv = preview(env.store, [OP])
    planned = len(pv.plan.writes)
    assert planned == 4
    env.sandbox.faults.set(deny_impersonation={mailbox_of(env.store, OP)})
    try:
        result = run_sync(env.store, plan=pv, trigger="dashboard")
    finally:
        env.sandbox.faults.clear()
    box = result.mailbox(OP)
    assert (box.status, box.code) == ("failed", "EWS_IMPERSONATION_DENIED")
    assert (box.planned, box.done, box.failed, box.left) == (4, 0, 4, 0)
    assert result.status == "failed"
    stored = env.store.rows("SELECT planned, done, failed FROM sync_runs WHERE run_id = ?", [result.run_id])[0]
    assert stored == (4, 0, 4)
    # the Sync screen's read model counts them the same way
    live = {row[0]: row[1:5] for row in live_run(env.store).mailboxes}
    assert live[OP] == (4, 0, 4, "failed")


def test_the_sync_screen_shows_a_mailbox_in_sync_by_its_snapshot_not_its_last_skip(env):
    run_sync(env.store, [OP])
    again = run_sync(env.store, [OP])
    assert again.planned == 0
    skips = env.store.scalar("SELECT count(*) FROM sync_log WHERE run_id = ? AND action = 'skip'", [again.run_id])
    assert skips > 0                                                  # the world has private contacts
    (op, planned, done, failed, state, last_event), = live_run(env.store).mailboxes
    assert (op, planned, done, failed, state) == (OP, 0, 0, 0, "done")
    assert last_event.endswith(f"contacts read from {mailbox_of(env.store, OP)}"), last_event


# --- a plan's lifecycle: previewed → applied / superseded ---------------------------------------------

def test_an_applied_plan_is_refused_a_second_time(env):
    import pytest
    from workbench.errors import WorkbenchError
    run_sync(env.store, [OP])
    crm_set(env, linked(env, n=1)[0], job_title="once")
    pv = preview(env.store, [OP])
    first = run_sync(env.store, plan=pv)
    assert first.done == 1 and pv.plan.lifecycle.state == "applied" and pv.plan.lifecycle.run_id == first.run_id
    runs = env.store.scalar("SELECT count(*) FROM sync_runs")
    with pytest.raises(WorkbenchError) as refused:
        run_sync(env.store, plan=pv)
    assert refused.value.code == "PLAN_APPLIED" and f"run {first.run_id}" in refused.value.detail
    assert env.store.scalar("SELECT count(*) FROM sync_runs") == runs         # no run, no journal noise


def test_a_plan_another_run_wrote_over_is_superseded(env):
    import pytest
    from workbench.errors import WorkbenchError
    run_sync(env.store, [OP])
    crm_set(env, linked(env, n=1)[0], job_title="twice")
    pv = preview(env.store, [OP])
    run_sync(env.store, [OP])                                   # `r` writes the same change first
    with pytest.raises(WorkbenchError) as refused:
        run_sync(env.store, plan=pv)
    assert refused.value.code == "PLAN_SUPERSEDED" and pv.plan.lifecycle.state == "superseded"
    # a fresh preview is a new plan: applicable (and empty, the change is in Exchange already)
    fresh = preview(env.store, [OP])
    assert fresh.plan.lifecycle.applicable and fresh.is_empty
