"""What a run reports while it runs (``ProgressEvent``): the mailboxes done while it plans, in order, then the
batches; a progress callback that raises is a bug of its caller, raised once the phase is over, never taken for
a mailbox's failure (memory backend, real engine and store)."""
from __future__ import annotations

import pytest

from tests.fakes.memory_backend import MemoryBackend
from tests.sync.world import World
from workbench.sync.engine import run_sync
from workbench.sync.preview import preview
from workbench.sync.results import Phase

OPS = [f"OP-{i}" for i in range(1, 7)]


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path / "s.duckdb").settings(contact_integration=True, failure_recipients="ops@example.com",
                                              batch_size=5, max_concurrent_mailboxes=4)
    be = MemoryBackend(batch_size=5)
    for n, op in enumerate(OPS):
        w.op(op)
        be.add_mailbox(f"{op.lower()}@example.com")
        for c in range(7):
            w.contact(f"C-{n}-{c}", team=[op])
    return w, be


def test_planning_reports_each_mailbox_done_in_order_then_the_batches(world):
    w, be = world
    events = []
    result = run_sync(w.store, backend=be, clock=be.clock, progress=events.append)
    assert result.status == "ok" and result.done == 6 * 7
    phases = [e.phase for e in events]
    planning = phases.count(Phase.SNAPSHOT)
    assert phases == [Phase.SNAPSHOT] * planning + [Phase.EXECUTE] * (len(phases) - planning)
    assert [(e.items_done, e.items_total) for e in events[:planning]] == [(i, 6) for i in range(1, 7)]
    assert sorted(e.operator_id for e in events[:planning]) == OPS
    assert events[-1].items_done == events[-1].items_total == 6 * 7
    previewed = []
    preview(w.store, backend=be, progress=previewed.append)          # the preview's snapshot reports the same way
    assert [e.message for e in previewed] == [f"planning: {i}/6 mailboxes done" for i in range(1, 7)]


def test_a_progress_callback_that_raises_fails_the_run_after_planning_not_a_mailbox(world):
    w, be = world
    seen = []

    def broken(event):
        seen.append(event)
        if len(seen) == 2:
            raise ZeroDivisionError("the caller's bug")
    with pytest.raises(ZeroDivisionError):
        run_sync(w.store, backend=be, clock=be.clock, progress=broken)
    assert len(seen) == 2                                             # not called again after it raised
    assert be.writes == []                                           # the run stopped before executing
    # every mailbox was read: the bug did not stop one, nor was it journaled as a mailbox failure
    assert w.store.scalar("SELECT count(*) FROM sync_log WHERE action = 'snapshot' AND outcome = 'ok'") == 6
    assert w.store.scalar("SELECT count(*) FROM sync_log WHERE action = 'mailbox'") == 0
    with pytest.raises(ZeroDivisionError):                           # the preview's snapshot: the same
        preview(w.store, backend=be, progress=lambda event: 1 / 0)


def test_items_per_second_count_from_the_first_write_not_from_the_runs_start(world, monkeypatch):
    """Reading the mailboxes takes 60 s each on the run's clock, each write request 1 s: the rate is the
    writes' own (42 items in 12 requests of at most 5), not diluted by the planning time."""
    from tests.fakes.memory_backend import MemoryMailbox
    w, be = world
    snapshot, create = MemoryMailbox.snapshot, MemoryMailbox.create

    def slow_snapshot(self, batch_size):
        be.clock.advance(60)
        return snapshot(self, batch_size)

    def timed_create(self, payloads, batch_size):
        be.clock.advance(1)
        return create(self, payloads, batch_size)
    monkeypatch.setattr(MemoryMailbox, "snapshot", slow_snapshot)
    monkeypatch.setattr(MemoryMailbox, "create", timed_create)
    events = []
    result = run_sync(w.store, backend=be, clock=be.clock, progress=events.append)
    assert result.status == "ok" and be.clock() == 6 * 60 + 6 * 2
    last = events[-1]
    assert last.phase == Phase.EXECUTE and last.items_done == 42
    assert last.items_per_second == pytest.approx(42 / 12)
