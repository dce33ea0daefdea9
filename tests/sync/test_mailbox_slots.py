"""A mailbox that has sent its last batch frees its slot: the next mailbox sends while the first one's
bookkeeping is still being written, and no more than ``max_concurrent_mailboxes`` mailboxes send at once."""
from __future__ import annotations

import threading
from typing import Any

from tests.fakes.memory_backend import MemoryBackend
from tests.sync.world import World
from workbench.sync import state
from workbench.sync.booking import Booker
from workbench.sync.engine import run_sync
from workbench.sync.workers import Watch, run_each

WAIT = 10


def _watch() -> Watch[Any]:
    return Watch(clock=lambda: 0.0, cancelled=lambda: False, deadline_of=lambda _: 1e9,
                 on_abandon=lambda *_: None)


def test_a_released_slot_starts_the_next_item_and_sending_stays_within_the_workers():
    """Each job, once released, waits until the next one has started: a chain that only moves when a released
    slot lets the next item in. Never more than ``workers`` jobs unreleased, nor 2 x ``workers`` running."""
    n = 6
    releases: dict[int, Any] = {}
    started = [threading.Event() for _ in range(n)]
    lock = threading.Lock()
    sending, running, most_sending, most_running = [0], [0], [0], [0]

    def job(i: int) -> None:
        with lock:
            sending[0] += 1
            running[0] += 1
            most_sending[0] = max(most_sending[0], sending[0])
            most_running[0] = max(most_running[0], running[0])
        started[i].set()
        with lock:
            sending[0] -= 1
        releases[i]()
        if i + 1 < n:
            assert started[i + 1].wait(WAIT), f"item {i + 1} waited for item {i} to finish"
        with lock:
            running[0] -= 1

    run_each(list(range(n)), job, workers=1, watch=_watch(),
             bind=lambda i, release: releases.__setitem__(i, release))
    assert all(e.is_set() for e in started)
    assert (most_sending[0], most_running[0]) == (1, 2)


def test_without_a_release_the_next_item_waits_for_the_slot():
    first_done = threading.Event()
    starts_after_done = []

    def job(i: int) -> None:
        if i == 0:
            threading.Event().wait(0.3)
            first_done.set()
        else:
            starts_after_done.append(first_done.is_set())

    run_each([0, 1], job, workers=1, watch=_watch(), bind=lambda *_: None)
    assert starts_after_done == [True]


def _held_first_booking(second_sent: threading.Event) -> type[Booker]:
    """The run's writer, holding its first transaction (the first mailbox's only batch) until the second
    mailbox has sent its create."""
    class Held(Booker):
        def __init__(self, write: Any, run_id: int | None) -> None:
            held = [True]

            def gated(fn: Any) -> Any:
                if held[0]:
                    held[0] = False
                    assert second_sent.wait(WAIT), "the second mailbox waited for the first one's bookkeeping"
                return write(fn)
            super().__init__(gated, run_id)
    return Held


def test_the_next_mailbox_sends_while_the_first_ones_batch_is_booked(tmp_path, monkeypatch):
    w = World(tmp_path / "s.duckdb").settings(contact_integration=True, failure_recipients="ops@example.com",
                                              batch_size=10, max_concurrent_mailboxes=1)
    for op in ("OP-1", "OP-2"):
        w.op(op)
    for i in range(4):
        w.contact(f"C-{i}", team=("OP-1", "OP-2"))
    be = MemoryBackend(batch_size=10)
    boxes = {op: be.add_mailbox(f"{op.lower()}@example.com") for op in ("OP-1", "OP-2")}
    second_sent = threading.Event()
    monkeypatch.setattr(state, "Booker", _held_first_booking(second_sent))
    senders: list[str] = []
    for op, box in boxes.items():
        def noted(payloads: Any, batch_size: int, create: Any = box.create, op: str = op) -> Any:
            refs = create(payloads, batch_size)
            senders.append(op)
            if len(set(senders)) == 2:
                second_sent.set()
            return refs
        box.create = noted                   # type: ignore[method-assign]
    result = run_sync(w.store, backend=be, clock=be.clock)
    assert second_sent.is_set()
    assert result.status == "ok", [(m.operator_id, m.status, m.code) for m in result.mailboxes]
    for op, box in boxes.items():
        assert sorted(r["crm_id"] for r in box.contacts()) == [f"C-{i}" for i in range(4)]
    assert w.store.scalar("SELECT count(*) FROM links") == 8
    assert w.store.scalar("SELECT count(*) FROM sync_log WHERE run_id = ? AND action = 'create-exchange' "
                          "AND outcome = 'ok'", [result.run_id]) == 8
