"""A previewed plan's lifecycle: previewed → applied, or superseded; only a previewed plan is applied.

A plan is *applied* once a run started executing it (whatever became of its writes), and *superseded*
when another real run wrote to one of its mailboxes after the preview was taken: its before/after
no longer describes them. ``claim`` is the one gate every entry point passes (the engine calls it),
so the dashboard and a notebook holding the same plan cannot apply it twice.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Callable, Iterator

from workbench.errors import WorkbenchError
from workbench.store import now


class PlanState(StrEnum):
    PREVIEWED = "previewed"
    APPLYING = "applying"
    APPLIED = "applied"
    SUPERSEDED = "superseded"


@dataclass
class Lifecycle:
    taken_at: datetime = field(default_factory=now)
    state: PlanState = PlanState.PREVIEWED
    run_id: int | None = None             # the run that applied it
    why: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def applicable(self) -> bool:
        return self.state is PlanState.PREVIEWED

    def describe(self) -> str:
        if self.state is PlanState.APPLIED:
            return f"applied in run {self.run_id}" if self.run_id is not None else "applied"
        if self.state is PlanState.APPLYING:
            return "being applied"
        if self.state is PlanState.SUPERSEDED:
            return f"out of date: {self.why}"
        return "previewed"


def writes_since(store: Any, operators: list[str], since: datetime) -> int:
    """Writes real runs made to ``operators``' mailboxes after ``since`` (the preview)."""
    from workbench.sync.plan import WRITE_ACTIONS
    if not operators:
        return 0
    return int(store.scalar(
        f"SELECT count(*) FROM sync_log l JOIN sync_runs r USING (run_id) WHERE NOT r.dry_run "
        f"AND l.outcome = 'ok' AND l.logged_at > ? AND l.action IN ({', '.join('?' for _ in WRITE_ACTIONS)}) "
        f"AND l.operator_id IN ({', '.join('?' for _ in operators)})",
        [since, *WRITE_ACTIONS, *operators]) or 0)


def refresh(life: Lifecycle, store: Any, operators: list[str]) -> Lifecycle:
    """Mark a previewed plan superseded when another run wrote to its mailboxes since; returns it."""
    with life._lock:
        if life.state is PlanState.PREVIEWED:
            n = writes_since(store, operators, life.taken_at)
            if n:
                life.state = PlanState.SUPERSEDED
                life.why = f"{n} write(s) to its mailboxes by another run since the preview"
    return life


def claim(life: Lifecycle, store: Any, operators: list[str]) -> None:
    """Take a previewed plan for applying; PLAN_APPLIED / PLAN_SUPERSEDED when it is not applicable."""
    refresh(life, store, operators)
    with life._lock:
        if life.state in (PlanState.APPLIED, PlanState.APPLYING):
            raise WorkbenchError("PLAN_APPLIED", f"the plan previewed at {life.taken_at:%H:%M:%S} was "
                                                 f"{life.describe()}; preview again")
        if life.state is PlanState.SUPERSEDED:
            raise WorkbenchError("PLAN_SUPERSEDED", f"the plan previewed at {life.taken_at:%H:%M:%S} is "
                                                    f"{life.describe()}; preview again")
        life.state = PlanState.APPLYING


def applied(life: Lifecycle, run_id: int | None) -> None:
    """The run that took the plan has started: it is applied, whatever becomes of its writes."""
    with life._lock:
        life.state, life.run_id = PlanState.APPLIED, run_id


def release(life: Lifecycle) -> None:
    """The run never started (e.g. refused by a setting): the plan is previewed again."""
    with life._lock:
        if life.state is PlanState.APPLYING:
            life.state = PlanState.PREVIEWED


@contextmanager
def applying(plan: Any, store: Any, operators: list[str]) -> Iterator[Callable[[int], None]]:
    """Claim ``plan`` (a previewed Plan, or None for a run of a new plan) around the start of its run;
    call the yielded function with the run id once the run exists. An error before that releases it."""
    life = getattr(plan, "lifecycle", None)
    if life is None:
        yield lambda run_id: None
        return
    claim(life, store, operators)
    started = False

    def mark(run_id: int) -> None:
        nonlocal started
        started = True
        applied(life, run_id)
    try:
        yield mark
    finally:
        if not started:
            release(life)
