"""The agent's job retry: a mailbox job that failed transiently runs again on the agent's clock.

The wait is ``workbench.retry.RetryPolicy``'s delay rule (the one definition of back-off): the server's
back-off hint when the error carries one, else 30 s, 60 s, 120 s, ... never longer than the notification
frequency. A permanent failure is not retried: the next notification, request or slot brings the mailbox.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from workbench.errors import WorkbenchError
from workbench.retry import RetryPolicy

RETRY_FIRST_SECONDS = 30.0         # first retry of a mailbox job after a transient failure (then doubling)


@dataclass
class _Due:
    at: datetime
    kind: str
    attempt: int          # failed attempts so far (1 after the first failure)


class JobRetries:
    """Per operator: when its failed job runs again, and how many times it has failed in a row."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._due: dict[str, _Due] = {}

    def schedule(self, op: str, kind: str, err: WorkbenchError, now: datetime,
                 frequency_minutes: int) -> datetime | None:
        """The time the job runs again, or None for a permanent failure."""
        if not err.failure.transient:
            return None
        policy = RetryPolicy(first=RETRY_FIRST_SECONDS, cap=frequency_minutes * 60.0)
        with self._lock:
            previous = self._due.get(op)
            attempt = (previous.attempt if previous else 0) + 1
            due = now + timedelta(seconds=policy.delay(err, attempt - 1))
            self._due[op] = _Due(due, kind, attempt)
        return due

    def succeeded(self, op: str) -> None:
        with self._lock:
            self._due.pop(op, None)

    def take_due(self, now: datetime) -> list[tuple[str, str]]:
        """(operator, kind) of the retries due at ``now``; each is not due again until its attempt reports."""
        with self._lock:
            due = [(op, d.kind) for op, d in self._due.items() if d.at <= now]
            for op, _kind in due:
                self._due[op].at = datetime.max
        return due
