"""Requests to the backend under a mailbox's retry policy: journaled retries, the deadline, cancel and the
watchdog's give-up turned into ``Stop``."""
from __future__ import annotations

from typing import Any, Callable

from workbench.retry import Retry, RetryStopped
from workbench.sync.state import Box, RunContext, Stop


def check(ctx: RunContext, box: Box) -> None:
    """Before a request: stop on cancel, or when the watchdog has given up on this worker."""
    if box.abandoned:
        raise Stop("SYNC_WORKER_STUCK", "abandoned by the watchdog")
    if ctx.cancel.cancelled:
        raise Stop("SYNC_CANCELLED", "cancelled by a person")


def _journal_retry(ctx: RunContext, box: Box, what: str, retry: Retry) -> None:
    ctx.counters.retry()
    err = retry.error
    ctx.books.log([{"operator_id": box.result.operator_id, "action": "retry", "outcome": "retried",
                    "code": err.code, "detail": f"{what}: waiting {retry.wait:.2f}s "
                                                f"({'server hint' if retry.hinted else 'back-off'}); {err.detail}",
                    "seconds": retry.wait}])


def retrying(ctx: RunContext, box: Box, what: str, attempt_fn: Callable[[int], Any]) -> Any:
    """``attempt_fn(attempt)`` until done, a permanent error (raised), the deadline or a cancel (``Stop``)."""
    try:
        return ctx.policy(box).call(attempt_fn, before=lambda: check(ctx, box),
                                    on_retry=lambda retry: _journal_retry(ctx, box, what, retry))
    except RetryStopped as stop:
        if stop.reason == "cancelled":
            raise Stop("SYNC_CANCELLED", "cancelled by a person" + (" while waiting to retry" if stop.last
                                                                    else "")) from None
        minutes = ctx.deadline_seconds / 60.0
        raise Stop("SYNC_DEADLINE", f"{what}: still failing after {minutes:g} min; last error "
                                    f"{stop.last.code}: {stop.last.detail}", stop.last) from None


def call(ctx: RunContext, box: Box, what: str, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` as one request, retried under the mailbox's policy."""
    def attempt(_: int) -> Any:
        ctx.counters.request()
        return fn(*args)
    return retrying(ctx, box, what, attempt)
