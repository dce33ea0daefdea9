"""The engine honours the limits a backend declares: no write request carries more than ``max_batch`` items,
and a mailbox has up to ``max_in_flight`` write batches in flight (the EWS backend over the sandbox, with
its limits overridden as a Graph-like backend would declare them)."""
from __future__ import annotations

import threading
from typing import Any

from tests.sync.conftest import assert_converged, writes_since
from workbench.backends import open_backend
from workbench.mailbox import BackendLimits
from workbench.sync.engine import run_sync

OP = "OP-004"


class Declaring:
    """A backend as ``inner``, declaring ``limits``; ``open`` may wrap the mailbox."""

    def __init__(self, inner: Any, limits: BackendLimits, wrap: Any = None) -> None:
        self._inner, self.limits, self._wrap = inner, limits, wrap

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def open(self, address: str) -> Any:
        mailbox = self._inner.open(address)
        return self._wrap(mailbox) if self._wrap else mailbox


class MeetsInCreate:
    """A mailbox whose first two ``create`` calls must be in flight at the same time (else the barrier breaks)."""

    def __init__(self, inner: Any, barrier: threading.Barrier) -> None:
        self._inner, self._barrier = inner, barrier
        self._calls = 0
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def create(self, payloads: Any, batch_size: int) -> Any:
        with self._lock:
            self._calls += 1
            first_two = self._calls <= 2
        if first_two:
            self._barrier.wait()
        return self._inner.create(payloads, batch_size)


def _batches(store: Any, run_id: int) -> list[tuple[str, int]]:
    return store.rows("SELECT detail, items FROM sync_log WHERE run_id = ? AND action = 'batch' ORDER BY log_id",
                      [run_id])


def test_no_write_request_carries_more_than_the_backends_max_batch(env):
    from workbench.store.settings_table import update
    update(env.store, {"batch_size": "10"}, source="test")
    backend = Declaring(open_backend(env.settings()), BackendLimits(max_batch=3, max_in_flight=1))
    mark = len(env.sandbox.requests)
    try:
        result = run_sync(env.store, [OP], backend=backend)
    finally:
        backend.close()
    assert result.mailbox(OP).status == "ok"
    writes = writes_since(env.sandbox, mark)
    assert writes and max(r.items for r in writes) == 3, [(r.operation, r.items) for r in writes]
    assert max(items for _, items in _batches(env.store, result.run_id)) == 3
    assert_converged(env, [OP])


def test_a_backend_allowing_two_requests_in_flight_gets_two_batches_at_once(env):
    from workbench.store.settings_table import update
    update(env.store, {"batch_size": "3"}, source="test")
    barrier = threading.Barrier(2, timeout=30)
    backend = Declaring(open_backend(env.settings()), BackendLimits(max_batch=3, max_in_flight=2),
                        wrap=lambda mailbox: MeetsInCreate(mailbox, barrier))
    try:
        result = run_sync(env.store, [OP], backend=backend)
    finally:
        backend.close()
    assert not barrier.broken                      # the first two create batches were sent together
    assert result.mailbox(OP).status == "ok", result.mailbox(OP)
    creates = [d for d, _ in _batches(env.store, result.run_id) if d.startswith("create-exchange")]
    assert len(creates) >= 2
    assert_converged(env, [OP])
    assert run_sync(env.store, [OP]).plan.is_empty
