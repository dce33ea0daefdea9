"""One mailbox job: a full reconciliation (a slot) or an incremental catch-up, then propagation.

``incremental``: the changes since the stored sync state into the snapshot (``fetch``), then the engine
plans and executes that mailbox from the snapshot. ``full``: the engine's full reconciliation. A failure is
booked in mailbox_state (before it is logged, so a reader of ``sync-failed`` finds the streak) and, when
transient, retried on the agent's clock (``retries``).
"""
from __future__ import annotations

import threading
from typing import Any, Mapping, Protocol

from workbench.agent import state
from workbench.agent.events import Log, result_fields
from workbench.agent.fetch import fetch_increment
from workbench.agent.jobs import FULL
from workbench.agent.propagate import queue_propagation
from workbench.agent.retries import JobRetries
from workbench.agent.scheduler import Clock
from workbench.errors import WorkbenchError
from workbench.mailbox import MailboxBackend
from workbench.retry import CancelToken
from workbench.store import Store

SLOT_REASONS = {"slot", "once"}       # jobs of a full reconciliation of every mailbox: no propagation


class Host(Protocol):
    """What a job needs of the agent."""
    store: Store
    settings: Any
    clock: Clock
    stop_event: threading.Event
    log: Log
    retries: JobRetries

    def backend(self) -> MailboxBackend: ...
    def served(self) -> Mapping[str, state.Served]: ...
    def cancel_token(self) -> CancelToken: ...


def run_mailbox_job(host: Host, op: str, kind: str, reasons: list[str]) -> str:
    """The outcome for the sync requests the job served: ok, failed or skipped."""
    served = host.served().get(op)
    if served is None:
        host.log("sync-skipped", operator=op, why="not enabled or not verified")
        return "skipped"
    if not host.settings.contact_integration:
        host.log("sync-skipped", operator=op, why="contact_integration is off")
        return "skipped"
    why = ",".join(dict.fromkeys(reasons))
    host.log("sync-start", operator=op, kind=kind, why=why)
    try:
        result = _full(host, op) if kind == FULL else _incremental(host, op, served.mailbox, why)
    except WorkbenchError as exc:
        _failed(host, op, served.mailbox, kind, exc)
        return "failed"
    if result is None:
        return "ok"           # stopped between the fetch and the run
    host.retries.succeeded(op)
    host.log("sync-done", operator=op, kind=kind, **result_fields(result))
    if not set(reasons) <= SLOT_REASONS:
        queue_propagation(host.store, host.log, op, result)
    return "ok"


def _full(host: Host, op: str) -> Any:
    return _engine_run(host, op, trigger="slot", read_exchange=True)


def _incremental(host: Host, op: str, mailbox: str, why: str) -> Any:
    box = host.backend().open(mailbox)
    fetched = fetch_increment(host.store, op, box, host.settings.batch_size, host.stop_event, host.log)
    if host.stop_event.is_set():
        host.log("sync-stopped", operator=op, kind="incremental", pages=fetched.pages, changes=fetched.changes)
        return None
    result = _engine_run(host, op, trigger="notification" if "notification" in why else "request",
                         read_exchange=False)
    host.log("sync-fetched", operator=op, pages=fetched.pages, changes=fetched.changes)
    return result


def _engine_run(host: Host, op: str, *, trigger: str, read_exchange: bool) -> Any:
    """The engine's plan + execute for one mailbox; ``read_exchange=False`` plans from the stored snapshot."""
    from workbench.sync.engine import run_sync
    return run_sync(host.store, operators=[op], trigger=trigger, snapshot=read_exchange,
                    backend=host.backend(), cancel=host.cancel_token())


def _failed(host: Host, op: str, mailbox: str, kind: str, exc: WorkbenchError) -> None:
    retry = None if host.stop_event.is_set() else host.retries.schedule(
        op, kind, exc, host.clock.now(), host.settings.notification_frequency_minutes)
    try:        # booked before it is told, so whoever reads the event finds the streak in the store
        state.mark_failure(host.store, op, mailbox, exc.code)
    except WorkbenchError:
        pass
    host.log("sync-failed", operator=op, kind=kind, code=exc.code, detail=exc.detail[:300],
             retry_at=retry.isoformat() if retry else None)
