"""One retry policy for every caller that talks to a mailbox backend (the engine's requests, the failure
e-mail, the agent's job retry).

A transient ``WorkbenchError`` is tried again after the server's back-off hint (``err.back_off``) or an
exponential back-off, never past the deadline, and a cancel ends the wait at once. A permanent error is
raised as it is. The clock and the wait are injected so tests never sleep.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, TypeVar

from workbench.errors import WorkbenchError

T = TypeVar("T")

FIRST_BACKOFF = 0.2
MAX_BACKOFF = 30.0


class CancelToken:
    """Cooperative cancel: checked before each request and while waiting to retry."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True if cancelled meanwhile."""
        return self._event.wait(max(0.0, seconds))


class RetryStopped(Exception):
    """The policy gave up: ``reason`` is "deadline" (still failing when time ran out) or "cancelled"."""

    def __init__(self, reason: str, last: WorkbenchError | None = None) -> None:
        super().__init__(reason if last is None else f"{reason}; last error {last.code}: {last.detail}")
        self.reason, self.last = reason, last


@dataclass(frozen=True)
class Retry:
    """One wait between two tries, as ``on_retry`` sees it."""
    error: WorkbenchError
    attempt: int            # 0 for the wait after the first try
    wait: float             # seconds about to be waited
    hinted: bool            # the wait is the server's back-off hint


@dataclass
class RetryPolicy:
    """``deadline`` is an absolute time on ``clock``; None = no deadline (only cancel stops the retries)."""
    deadline: float | None = None
    clock: Callable[[], float] = time.monotonic
    cancel: CancelToken = field(default_factory=CancelToken)
    first: float = FIRST_BACKOFF
    cap: float = MAX_BACKOFF

    def remaining(self) -> float:
        return float("inf") if self.deadline is None else max(0.0, self.deadline - self.clock())

    def delay(self, err: WorkbenchError, attempt: int) -> float:
        """The wait before try ``attempt + 2``: the server's hint, else first × 2^attempt up to ``cap``."""
        return err.back_off if err.back_off else min(self.cap, self.first * (2 ** attempt))

    def check(self) -> None:
        """Before a try: stop at once when cancelled."""
        if self.cancel.cancelled:
            raise RetryStopped("cancelled")

    def call(self, attempt_fn: Callable[[int], T], *, on_retry: Callable[[Retry], None] | None = None,
             before: Callable[[], None] | None = None) -> T:
        """``attempt_fn(attempt)`` until it returns, a permanent error, the deadline, or a cancel.

        ``before`` runs before every try (a caller's own stop conditions); ``on_retry`` sees each wait
        before it starts (to journal it). A try is never started after the deadline, and never waited for
        past it: the last wait is cut to the time left, and a failure at the deadline raises at once.
        """
        attempt = 0
        while True:
            if before is not None:
                before()
            self.check()
            try:
                return attempt_fn(attempt)
            except WorkbenchError as err:
                if not err.failure.transient:
                    raise
                if self.remaining() <= 0:
                    raise RetryStopped("deadline", err) from None
                wait = min(self.delay(err, attempt), self.remaining())
                if on_retry is not None:
                    on_retry(Retry(err, attempt, wait, hinted=bool(err.back_off)))
                if self.cancel.wait(wait):
                    raise RetryStopped("cancelled", err) from None
                attempt += 1
