"""The agent's mailbox job queue: submit, coalesce, run on a pool, book the sync requests a job served.

A mailbox has at most one job running (a per-mailbox lock, and a queue that coalesces: while a job runs,
further submissions for that mailbox collapse into one follow-up job, a full one if any of them asked for
full). A job is ``work(op, kind, reasons)``: it returns the outcome of the sync requests it served (``ok``,
``failed``, ``skipped``) or None when it did not run (stopping); those requests are finished with it.
Requests of a job that never ran stay picked-but-not-done: ``release_unfinished`` at close puts them back.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

from workbench.agent.events import Log
from workbench.errors import WorkbenchError
from workbench.store import Store
from workbench.store import sync_requests as queue

FULL, INCREMENTAL = "full", "incremental"
_RANK = {INCREMENTAL: 1, FULL: 2}

Work = Callable[[str, str, list[str]], "str | None"]


@dataclass
class _Mailbox:
    lock: threading.Lock = field(default_factory=threading.Lock)
    running: bool = False
    pending: str | None = None
    reasons: list[str] = field(default_factory=list)
    request_ids: list[int] = field(default_factory=list)


@dataclass
class _Next:
    kind: str
    reasons: list[str]
    request_ids: list[int]


class JobQueue:
    def __init__(self, store: Store, work: Work, log: Log, stop: threading.Event, workers: int) -> None:
        self.store, self.work, self.log, self.stop = store, work, log, stop
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="agent-mailbox")
        self._lock = threading.Lock()
        self._mailboxes: dict[str, _Mailbox] = {}
        self._futures: set[Future] = set()
        self.jobs_done = 0

    def submit(self, op: str, kind: str, reason: str, *, request_id: int | None = None) -> None:
        """Queue a job for a mailbox; coalesces with a job already waiting or running there."""
        if self.stop.is_set():
            return
        with self._lock:
            mb = self._mailboxes.setdefault(op, _Mailbox())
            if request_id is not None:
                mb.request_ids.append(request_id)
            if mb.running:
                if mb.pending is None or _RANK[kind] > _RANK[mb.pending]:
                    mb.pending = kind
                mb.reasons.append(reason)
                return
            mb.running = True
            ids, mb.request_ids = mb.request_ids, []
        self._launch(op, _Next(kind, [reason], ids))

    def _launch(self, op: str, job: _Next) -> None:
        try:
            fut = self._pool.submit(self._run, op, job)
        except RuntimeError:        # pool shut down: the requests go back to the queue at close
            with self._lock:
                self._mailboxes[op].running = False
            return
        with self._lock:
            self._futures.add(fut)
        fut.add_done_callback(self._forget)

    def _forget(self, fut: Future) -> None:
        with self._lock:
            self._futures.discard(fut)

    def _run(self, op: str, job: _Next) -> None:
        mb = self._mailboxes[op]
        outcome: str | None = "failed"
        try:
            with mb.lock:
                outcome = None if self.stop.is_set() else self.work(op, job.kind, job.reasons)
        except Exception as exc:   # a job never takes the agent down
            self.log("sync-error", operator=op, code="INTERNAL", detail=f"{type(exc).__name__}: {exc}"[:300])
        finally:
            self._finish_requests(job.request_ids, outcome)
            follow_up = self._follow_up(mb)
            if follow_up is not None:
                self._launch(op, follow_up)

    def _finish_requests(self, request_ids: list[int], outcome: str | None) -> None:
        if request_ids and outcome is not None:
            try:
                queue.finish(self.store, request_ids, outcome)
            except WorkbenchError:
                pass

    def _follow_up(self, mb: _Mailbox) -> _Next | None:
        """What coalesced while the job ran (None: the mailbox is idle again)."""
        with self._lock:
            self.jobs_done += 1
            kind, mb.pending = mb.pending, None
            reasons, mb.reasons = mb.reasons, []
            ids, mb.request_ids = mb.request_ids, []
            if kind is None or self.stop.is_set():
                mb.running = False
                return None
        return _Next(kind, reasons, ids)

    def busy(self) -> bool:
        with self._lock:
            return any(mb.running for mb in self._mailboxes.values())

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no job runs or waits (``timeout`` seconds real time, None = no limit)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.busy():
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def shutdown(self) -> None:
        """Wait for the jobs in flight; queued ones are dropped."""
        self._pool.shutdown(wait=True, cancel_futures=True)
