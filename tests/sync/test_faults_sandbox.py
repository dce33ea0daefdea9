"""Faults: throttling, denied impersonation, deadline, per-item errors, cancel."""
from __future__ import annotations


from tests.sync.conftest import assert_converged, mailbox_of, ok_operators, writes_since
from workbench.sync.engine import CancelToken, run_sync
from workbench.sync.execute import waiting_window
from workbench.sync.notify import REMIND_AFTER

OP = "OP-004"


def sent_mails(env):
    return env.sandbox.mailbox(env.info.service_account.username).sent_items


def test_throttling_on_30_percent_of_requests_still_converges(env):
    env.sandbox.faults.set(throttle_share=0.3, backoff_ms=50, seed=11)
    events = []
    result = run_sync(env.store, progress=events.append)
    env.sandbox.faults.clear()
    throttled = [r for r in env.sandbox.requests if r.outcome == "ErrorServerBusy"]
    assert throttled and result.retries > 0
    assert {m.operator_id: m.status for m in result.mailboxes if m.status not in ("failed",)} == {
        "OP-001": "ok", "OP-004": "ok", "OP-005": "ok"}
    assert_converged(env, ok_operators(result))
    assert events and events[-1].items_done == events[-1].items_total
    # planning reports each mailbox read before the first batch: 1..N of the run's N mailboxes
    reads = [e for e in events if e.phase == "snapshot"]
    assert [e.items_done for e in reads] == list(range(1, len(result.mailboxes) + 1))
    assert {e.items_total for e in reads} == {len(result.mailboxes)}
    assert events.index(reads[-1]) < min(i for i, e in enumerate(events) if e.phase == "execute")
    mark = len(env.sandbox.requests)
    assert run_sync(env.store).plan.is_empty
    assert writes_since(env.sandbox, mark, exclude_mailbox=env.info.service_account.username) == []


def test_impersonation_denied_for_one_mailbox_sends_exactly_one_failure_mail(env):
    address = mailbox_of(env.store, OP)
    env.sandbox.faults.set(deny_impersonation={address})
    result = run_sync(env.store)
    box = result.mailbox(OP)
    assert (box.status, box.code, box.notified) == ("failed", "EWS_IMPERSONATION_DENIED", True)
    assert {m.operator_id: m.status for m in result.mailboxes if m.operator_id in ("OP-001", "OP-005")} == {
        "OP-001": "ok", "OP-005": "ok"}
    assert_converged(env, ["OP-001", "OP-005"])
    mails = [m for m in sent_mails(env) if OP in (m.get("subject") or "")]
    assert len(mails) == 1
    body = mails[0]["body"]
    assert address in body and "EWS_IMPERSONATION_DENIED" in body and "ApplicationImpersonation" in body
    assert "Done:" in body and "Left:" in body
    assert mails[0]["to_recipients"] == ["sales-ops@example.com"]
    rec = env.store.df("SELECT * FROM notifications WHERE operator_id = ?", [OP])
    assert rec[["code", "status", "recipients"]].values.tolist() == [["EWS_IMPERSONATION_DENIED", "sent",
                                                                       "sales-ops@example.com"]]
    # the same failure in the next run: no second e-mail; the journal says when a reminder would go
    again = run_sync(env.store, [OP])
    assert again.mailbox(OP).code == "EWS_IMPERSONATION_DENIED" and len(
        [m for m in sent_mails(env) if OP in (m.get("subject") or "")]) == 1
    sent_at = rec["sent_at"][0].to_pydatetime()
    (detail,), = env.store.rows("SELECT detail FROM sync_log WHERE run_id = ? AND action = 'notify'", [again.run_id])
    assert detail == (f"same failure already e-mailed at {sent_at:%Y-%m-%d %H:%M} UTC; a reminder from "
                      f"{sent_at + REMIND_AFTER:%Y-%m-%d %H:%M} UTC if it lasts")


def test_transient_failures_past_the_deadline_fail_the_mailbox_and_notify(env):
    run_sync(env.store, [OP])                        # a first sync, so the next one has something to do
    env.sandbox.faults.set(http_error_share=1.0, http_error_status=503)
    result = run_sync(env.store, [OP], deadline_seconds=1.0)
    env.sandbox.faults.clear()
    box = result.mailbox(OP)
    assert (box.status, box.code) == ("failed", "SYNC_DEADLINE")      # a deadline is a failure, not a cancel
    assert result.status == "failed" and box.left == 0 and box.planned == box.done + box.failed
    assert env.store.scalar("SELECT failure_streak FROM mailbox_state WHERE operator_id = ?", [OP]) == 1
    assert result.retries >= 1
    rec = env.store.df("SELECT code, status, body FROM notifications WHERE operator_id = ?", [OP])
    assert rec["code"].tolist() == ["SYNC_DEADLINE"]          # recorded; Exchange itself refused to send it
    log = env.store.df("SELECT * FROM sync_log WHERE run_id = ? AND operator_id = ?", [result.run_id, OP])
    assert "SYNC_DEADLINE" in set(log["code"].dropna()) and "retried" in set(log["outcome"])


def test_cancel_token_stops_between_batches(env):
    from workbench.store.settings_table import update
    update(env.store, {"batch_size": "3"}, source="test")
    token = CancelToken()
    seen = []
    mark = len(env.sandbox.requests)

    def progress(ev):
        if ev.phase == "execute":                                     # a batch booked
            seen.append(ev)
        if len(seen) == 2:
            token.cancel()
    result = run_sync(env.store, [OP], progress=progress, cancel=token)
    box = result.mailbox(OP)
    assert result.status == "cancelled" and (box.status, box.code) == ("cancelled", "SYNC_CANCELLED")
    # the cancel came when the writer had booked batch 2: the lane (EWS: one per mailbox) had sent at most its
    # batch in flight and the ones waiting for the writer beyond it, and starts none after; each one sent is booked
    assert 2 <= len(seen) <= 2 + 1 + waiting_window(3)
    assert len(writes_since(env.sandbox, mark)) == len(seen)
    # every planned write is accounted for: the ones not reached are cancelled, none failed
    assert box.cancelled > 0 and box.left == 0 and box.failed == 0
    assert box.planned == box.done + box.failed + box.stale + box.cancelled
    assert env.store.scalar("SELECT count(*) FROM notifications") == 0      # a person cancelled: no e-mail
    assert env.store.scalar("SELECT coalesce(max(failure_streak), 0) FROM mailbox_state WHERE operator_id = ?", [OP]) == 0
    from workbench import insights
    assert "SYNC_CANCELLED" not in set(insights.failures_by_code(env.store)["code"])
    assert run_sync(env.store, [OP]).mailbox(OP).status == "ok"
    assert_converged(env, [OP])
