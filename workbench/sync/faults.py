"""Fault hook for crash tests: the engine calls ``reached(point)`` at named points of a run.

``WORKBENCH_TEST_KILL_AT=<point>[:<n>]`` makes the process SIGKILL itself the ``n``-th time (default 1) it
reaches ``point``, so a crash lands exactly there instead of after a wall-clock sleep. ``HOOK``, when set,
is called at every point (in-process tests).
"""
from __future__ import annotations

import os
import signal
import threading
from collections import Counter
from typing import Callable

from workbench.errors import WorkbenchError

ENV = "WORKBENCH_TEST_KILL_AT"
#: after a batch is committed, before the next one
BETWEEN_BATCHES = "between-batches"
#: inside a batch: the write request has been answered, nothing of it is booked yet
AFTER_REQUEST = "after-request"
#: a batch's outcomes are ready, its store transaction (links, journal, ...) not yet begun
BEFORE_JOURNAL = "before-journal"
POINTS = (BETWEEN_BATCHES, AFTER_REQUEST, BEFORE_JOURNAL)

HOOK: Callable[[str], None] | None = None

_hits: Counter[str] = Counter()
_lock = threading.Lock()


def armed() -> tuple[str, int] | None:
    """The kill point asked for in the environment, (point, n); raises USAGE for a malformed value."""
    spec = os.environ.get(ENV, "").strip()
    if not spec:
        return None
    point, _, n = spec.partition(":")
    if point not in POINTS or not (n == "" or (n.isdigit() and int(n) >= 1)):
        raise WorkbenchError("USAGE", f"{ENV}={spec!r}: expected <point>[:<n>] with point one of "
                                      f"{', '.join(POINTS)} and n >= 1")
    return point, int(n or 1)


def reached(point: str) -> None:
    if HOOK is not None:
        HOOK(point)
    target = armed()
    if target is None or target[0] != point:
        return
    with _lock:
        _hits[point] += 1
        hit = _hits[point]
    if hit == target[1]:
        os.kill(os.getpid(), signal.SIGKILL)
