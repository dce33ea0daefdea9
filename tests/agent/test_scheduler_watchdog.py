"""Slot timing (injected clock), the subscription watchdog's rules and the sync request queue."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from workbench.store.sync_requests import claim_pending, finish, has_pending, release_unfinished, request_sync
from workbench.agent.scheduler import ManualClock, SlotScheduler, next_slot, slot_start
from workbench.agent.subscriptions import SubscriptionRecord, plan_subscriptions
from workbench.store import Store

T0 = datetime(2026, 3, 2, 10, 7, 30)


@pytest.mark.parametrize("at,minutes,expected", [
    (datetime(2026, 3, 2, 10, 7, 30), 15, datetime(2026, 3, 2, 10, 15)),
    (datetime(2026, 3, 2, 10, 15, 0), 15, datetime(2026, 3, 2, 10, 30)),   # on a boundary: the next one
    (datetime(2026, 3, 2, 10, 59, 59), 15, datetime(2026, 3, 2, 11, 0)),
    (datetime(2026, 3, 2, 10, 7, 30), 30, datetime(2026, 3, 2, 10, 30)),
    (datetime(2026, 3, 2, 23, 45, 1), 30, datetime(2026, 3, 3, 0, 0)),
])
def test_next_slot_is_aligned_to_the_clock(at, minutes, expected):
    assert next_slot(at, minutes) == expected
    assert slot_start(expected, minutes) == expected


def test_scheduler_with_manual_clock():
    clock = ManualClock(T0)
    sched = SlotScheduler(15, clock.now())
    assert sched.next_at == datetime(2026, 3, 2, 10, 15)
    assert not sched.due(clock.now())
    clock.advance(minutes=7)                    # 10:14:30
    assert not sched.due(clock.now())
    clock.advance(seconds=30)                   # 10:15:00
    assert sched.due(clock.now())
    assert sched.take(clock.now()) == datetime(2026, 3, 2, 10, 15)
    assert not sched.due(clock.now()) and sched.next_at == datetime(2026, 3, 2, 10, 30)
    clock.advance(minutes=47)                   # 11:02: two boundaries missed, one slot runs, no replay
    assert sched.due(clock.now())
    assert sched.take(clock.now()) == datetime(2026, 3, 2, 11, 0)
    assert sched.next_at == datetime(2026, 3, 2, 11, 15)
    sched.resize(30, clock.now())
    assert sched.next_at == datetime(2026, 3, 2, 11, 30)


URL = "http://127.0.0.1:9/ews/notify"


def rec(op, sid="S", heard=None, subscribed=T0, url=URL, freq=30):
    return SubscriptionRecord(op, sid, subscribed, heard, url, freq)


def test_watchdog_rules():
    now = T0 + timedelta(hours=2)
    records = {
        "OP-A": rec("OP-A", heard=now - timedelta(minutes=59)),          # fine: within 2 x 30 min
        "OP-B": rec("OP-B", heard=now - timedelta(minutes=61)),          # silent
        "OP-C": rec("OP-C", sid=None),                                   # never subscribed
        "OP-D": rec("OP-D", heard=now),                                  # operator disabled
        "OP-E": rec("OP-E", heard=now, url="http://old:1/x"),            # notification_url changed
        "OP-F": rec("OP-F", heard=None, subscribed=now - timedelta(minutes=10)),   # new, no ping yet: fine
        "OP-G": rec("OP-G", heard=now, freq=15),                         # frequency changed
    }
    actions = plan_subscriptions(["OP-A", "OP-B", "OP-C", "OP-E", "OP-F", "OP-G", "OP-H"], records, now,
                                 url=URL, frequency_minutes=30)
    got = {(a.operator_id, a.action, a.reason) for a in actions}
    assert got == {("OP-B", "resubscribe", "silent"), ("OP-C", "subscribe", "new"), ("OP-D", "drop", "disabled"),
                   ("OP-E", "resubscribe", "settings"), ("OP-G", "resubscribe", "settings"),
                   ("OP-H", "subscribe", "new")}
    assert next(a for a in actions if a.operator_id == "OP-D").old_subscription_id == "S"


def test_request_queue(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    assert not has_pending(store)
    ids = request_sync(store, ["OP-001", "OP-002", "OP-001"], "contact edited", source="cli")
    assert len(ids) == 2
    request_sync(store, None, "settings changed", source="dashboard")
    assert has_pending(store)
    taken = claim_pending(store)
    assert [r.operator_id for r in taken] == ["OP-001", "OP-002", None]
    assert claim_pending(store) == [] and not has_pending(store)
    assert release_unfinished(store) == 3                    # an agent stopped mid-way: back in the queue
    taken = claim_pending(store)
    finish(store, [r.request_id for r in taken], "ok")
    assert store.scalar("SELECT count(*) FROM sync_requests WHERE outcome = 'ok' AND done_at IS NOT NULL") == 3
    assert release_unfinished(store) == 0
