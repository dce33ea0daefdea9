"""Verify operators against Exchange (the seed's "Verifying contact synchronization for operators").

For each operator: the contact sync flag is true; the e-mail resolves to an Exchange mailbox whose
primary SMTP address equals it (a difference is reported, never fixed silently); the impersonation
account can open that mailbox's contacts folder. Operators are checked concurrently (at most
``max_concurrent_mailboxes`` at once); one failure does not stop the rest; every result is appended
to ``operator_checks`` with its time.

    checks = verify_operators(store, ["OP-001"], progress=lambda done, total, check: ...)

No exchangelib here: the probe lives in ``workbench.exchange.probe``.
"""
from __future__ import annotations

import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Callable, Sequence

from workbench.store import Store, now
from workbench.store.operators_table import operators_for_verify, record_checks

# ok, mailbox-not-found, email-mismatch, impersonation-denied, unreachable (see exchange.probe),
# plus sync-off: the mailbox is fine but the operator's contact_sync flag is false.
SYNC_OFF = "sync-off"

Progress = Callable[[int, int, "OperatorCheck | None"], None]


@dataclass(frozen=True)
class OperatorCheck:
    operator_id: str
    email: str
    contact_sync: bool
    status: str
    code: str | None
    mailbox_address: str | None
    detail: str
    checked_at: datetime

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["checked_at"] = self.checked_at.isoformat()
        return d


def _check(backend, operator_id: str, email: str, contact_sync: bool) -> OperatorCheck:
    from workbench.mailbox import Probe
    try:
        probe = backend.probe(email)
    except Exception as exc:        # the probe maps every failure; this is the last line of defence
        from workbench.secrets import redact
        probe = Probe("unreachable", "EWS_PROTOCOL", None, redact(f"{type(exc).__name__}: {exc}"))
    status, code, detail = probe.status, probe.code, probe.detail
    if status == "ok" and not contact_sync:
        status, code = SYNC_OFF, "OPERATOR_SYNC_OFF"
        detail = f"mailbox {probe.primary_address} is fine, but contact sync is off for {operator_id}"
    return OperatorCheck(operator_id, email, bool(contact_sync), status, code, probe.primary_address, detail,
                         now())


def verify_operators(store: Store, ids: Sequence[str] | None = None, *, progress: Progress | None = None,
                     backend=None, max_workers: int | None = None,
                     cancel: threading.Event | None = None) -> list[OperatorCheck]:
    """Verify ``ids`` (all must exist; default: every operator with contact sync on).

    ``progress(done, total, check)`` is called from the calling thread: once with (0, total, None), then
    after each operator. ``backend``: a ``workbench.mailbox.MailboxBackend`` to reuse (default: the
    store's, closed afterwards). ``cancel``: set it to stop starting new checks (finished ones are still stored).
    Returns the checks in the operators' order; raises only for problems before any check (unknown id,
    settings, secrets, keystore).
    """
    operators = operators_for_verify(store, list(ids) if ids else None)
    total = len(operators)
    if progress:
        progress(0, total, None)
    if not operators:
        return []
    from workbench.store.settings_table import load
    settings = load(store)
    if max_workers is None:
        max_workers = settings.max_concurrent_mailboxes
    own = backend is None
    if own:
        from workbench.backends import open_backend
        backend = open_backend(settings)
    results: dict[str, OperatorCheck] = {}
    try:
        with ThreadPoolExecutor(max_workers=max(1, max_workers), thread_name_prefix="verify") as pool:
            todo = iter(operators)
            running: dict[Future, str] = {}

            def submit_next() -> None:
                for op_id, email, flag in todo:
                    if cancel is not None and cancel.is_set():
                        return
                    running[pool.submit(_check, backend, op_id, email, flag)] = op_id
                    return

            for _ in range(max(1, max_workers)):        # never more queued than the bound
                submit_next()
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    op_id = running.pop(fut)
                    check = fut.result()
                    results[op_id] = check
                    if progress:
                        progress(len(results), total, check)
                    submit_next()
    finally:
        record_checks(store, [results[o[0]] for o in operators if o[0] in results])
        if own:
            backend.close()
    return [results[o[0]] for o in operators if o[0] in results]
