"""The sync engine: snapshot, plan in full, then execute in batches with retries, deadlines and cancel.

``run_sync(store, operators=None, dry_run=False, allow_mass_delete=False, progress=None, cancel=None,
trigger="cli") -> RunResult`` is the one entry point (CLI, dashboard, notebooks, agent).

Phases of a run:

1. Snapshot (per mailbox, concurrently within ``max_concurrent_mailboxes``): the contacts folder,
   mapped fields only, paged at ``batch_size``, replaces that mailbox's rows in ``exchange_contacts``.
   A mailbox whose snapshot fails is not planned (a stale snapshot could mean wrong deletes).
   ``snapshot=False`` plans from the stored snapshot (the agent keeps it current incrementally with
   ``sync_tables.apply_snapshot_changes``).
2. Plan: ``workbench.sync.plan.build_plan`` for all snapshotted mailboxes, before any write. Every
   decision is journaled. The mass-deletion guard stops a mailbox unless ``allow_mass_delete``.
3. Execute (per mailbox, concurrently): batches of ``batch_size`` actions of one kind, one bulk EWS
   call per batch; each batch's outcomes (links, CRM rows, team, snapshot rows, journal) are
   committed in one store transaction. Per-item errors are journaled and the rest go on.
4. Propagation: an Exchange edit written to the CRM in step 3 is pushed to the other mailboxes
   linked to that contact in the same run (a second, small plan from the stored snapshot).

Faults: exchangelib runs FailFast; this module retries transient failures (honouring Exchange's
BackOffMilliseconds) until the mailbox's deadline (``notification_frequency_minutes``, or
``deadline_seconds``), then cancels that mailbox. Before re-creating after any failed CreateItem it
looks the items up by CRM id, so nothing is created twice. Permanent failures stop the mailbox at
once. Either way one failure e-mail per mailbox goes to ``failure_recipients`` through Exchange as
the service account, and is recorded in ``notifications``. Other mailboxes go on.
"""
from __future__ import annotations

import threading
import time
from datetime import timedelta
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import pandas as pd

from workbench.errors import WorkbenchError
from workbench.fields import content_hash, expected_row
from workbench.mailbox import ItemRef, MailboxBackend, is_conflict, is_gone
from workbench.retry import CancelToken, Retry, RetryPolicy, RetryStopped
from workbench.store import Store, now
from workbench.store.connection import lock_timeout
from workbench.store import sync_tables as st
from workbench.sync import notify
from workbench.sync.plan import Plan, build_plan, fields_of, operator_mailboxes
from workbench.sync.workers import Watch, run_each

#: order in which a mailbox executes its action kinds
EXEC_ORDER = ("create-exchange", "update-exchange", "delete-exchange", "create-crm", "update-crm", "link",
              "unlink-crm", "forget")
#: a mailbox failing the same way again is e-mailed about again only after this long
REMIND_AFTER = timedelta(hours=24)
#: longest back-off between two tries of a failure e-mail
NOTIFY_MAX_WAIT = 5.0
#: seconds the notify phase may take for all the run's failure e-mails together (at most the mailbox deadline)
NOTIFY_BUDGET = 30.0
#: a request's timeout when the connection does not say (exchange.client's DEFAULT_TIMEOUT)
DEFAULT_REQUEST_TIMEOUT = 60.0
#: seconds a worker may need after its last request to book the batch, beyond waiting for the store gate
BOOKING_GRACE = 5.0
#: after a cancel, seconds the workers get to finish the request in flight before they are abandoned
CANCEL_GRACE = 5.0


@dataclass(frozen=True)
class ProgressEvent:
    operator_id: str | None
    batch_no: int
    batches_total: int
    items_done: int
    items_total: int
    items_per_second: float
    message: str = ""


@dataclass
class MailboxResult:
    operator_id: str
    mailbox: str
    status: str = "pending"        # ok, partial, failed, cancelled, guarded, dry-run, skipped
    code: str | None = None
    detail: str = ""
    planned: int = 0               # write actions planned
    done: int = 0
    failed: int = 0
    skipped: int = 0
    stale: int = 0                 # planned writes not done: a side changed since the plan (PLAN_STALE)
    notified: bool = False

    @property
    def left(self) -> int:
        return max(0, self.planned - self.done - self.failed - self.stale)


@dataclass
class RunResult:
    run_id: int
    status: str
    dry_run: bool
    plan: Plan | None
    mailboxes: list[MailboxResult] = field(default_factory=list)
    requests: int = 0
    retries: int = 0
    seconds: float = 0.0
    touched_crm: set[str] = field(default_factory=set)   # CRM contact ids this run wrote from Exchange

    @property
    def planned(self) -> int:
        return sum(m.planned for m in self.mailboxes)

    @property
    def done(self) -> int:
        return sum(m.done for m in self.mailboxes)

    @property
    def failed(self) -> int:
        return sum(m.failed for m in self.mailboxes)

    @property
    def stale(self) -> int:
        return sum(m.stale for m in self.mailboxes)

    def mailbox(self, operator_id: str) -> MailboxResult:
        return next(m for m in self.mailboxes if m.operator_id == operator_id)

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "status": self.status, "dry_run": self.dry_run, "planned": self.planned,
                "done": self.done, "failed": self.failed, "stale": self.stale, "requests": self.requests, "retries": self.retries,
                "seconds": round(self.seconds, 3),
                "mailboxes": [{**asdict(m), "left": m.left} for m in self.mailboxes]}


class _Stop(Exception):
    """A mailbox stops: deadline passed (SYNC_DEADLINE) or a person cancelled (SYNC_CANCELLED)."""

    def __init__(self, code: str, detail: str, last: WorkbenchError | None = None) -> None:
        super().__init__(detail)
        self.code, self.detail, self.last = code, detail, last


@dataclass
class _Box:
    result: MailboxResult
    deadline: float
    mailbox: Any = None             # the open workbench.mailbox.Mailbox
    stopped: bool = False
    abandoned: bool = False          # the watchdog gave up on its worker: nothing may change its result
    error: BaseException | None = None   # an unexpected exception (a bug) in its worker, re-raised by the run


@dataclass
class _Outcome:
    """What one batch changes in the store; committed in one transaction."""
    links: list[dict] = field(default_factory=list)
    unlinks: list[tuple[str, str]] = field(default_factory=list)
    crm: list[dict] = field(default_factory=list)
    team_add: list[tuple[str, str]] = field(default_factory=list)
    team_remove: list[tuple[str, str]] = field(default_factory=list)
    snap: list[dict] = field(default_factory=list)
    snap_delete: list[str] = field(default_factory=list)
    log: list[dict] = field(default_factory=list)
    ok: int = 0
    failed: int = 0
    stale: int = 0
    touched_crm: list[str] = field(default_factory=list)


def _summary(row: Any, changes: pd.DataFrame | None) -> str:
    text = row.reason or ""
    if changes is not None and len(changes):
        fields = ", ".join(changes["field"].tolist())
        text = f"{text}; fields: {fields}" if text else f"fields: {fields}"
    return text


class _Run:
    def __init__(self, store: Store, settings: Any, *, run_id: int, backend: MailboxBackend | None, dry_run: bool,
                 allow_mass_delete: bool, progress: Callable[[ProgressEvent], None] | None,
                 cancel: CancelToken, deadline_seconds: float | None, clock: Callable[[], float]) -> None:
        self.store, self.settings, self.run_id, self.backend = store, settings, run_id, backend
        self.dry_run, self.allow_mass_delete = dry_run, allow_mass_delete
        self.progress, self.cancel, self.clock = progress, cancel, clock
        self.deadline_seconds = (float(deadline_seconds) if deadline_seconds is not None
                                 else settings.notification_frequency_minutes * 60.0)
        self.batch_size = int(settings.batch_size)
        self.category = settings.sync_category
        self.count_lock = threading.Lock()
        self.requests = 0
        self.retries = 0
        self.items_total = 0
        self.items_done = 0
        self.started = clock()
        self.notified: set[str] = set()
        self.to_notify: list[tuple[_Box, str, str]] = []       # (mailbox, code, detail) for the notify phase
        # a worker checks its deadline before each request, so it can overrun it by one request and the booking
        # of its batch (which may wait for the store gate)
        self.stuck_grace = (float(getattr(backend, "request_timeout", DEFAULT_REQUEST_TIMEOUT)) + lock_timeout()
                            + BOOKING_GRACE)
        self.notify_budget = min(NOTIFY_BUDGET, self.deadline_seconds)

    # --- store access (the store's gate serialises the mailbox threads) ------------
    def write(self, fn: Callable[[Any], Any]) -> Any:
        with self.store.write() as con:
            return fn(con)

    def log(self, entries: list[dict]) -> None:
        if entries:
            self.write(lambda con: st.journal(con, self.run_id, entries))

    # --- calling Exchange --------------------------------------------------------
    def _count(self, n: int = 1) -> None:
        with self.count_lock:
            self.requests += n

    def _policy(self, box: _Box) -> RetryPolicy:
        return RetryPolicy(deadline=box.deadline, clock=self.clock, cancel=self.cancel)

    def _journal_retry(self, box: _Box, what: str, retry: Retry) -> None:
        with self.count_lock:
            self.retries += 1
        err = retry.error
        self.log([{"operator_id": box.result.operator_id, "action": "retry", "outcome": "retried",
                   "code": err.code, "detail": f"{what}: waiting {retry.wait:.2f}s "
                                               f"({'server hint' if retry.hinted else 'back-off'}); {err.detail}",
                   "seconds": retry.wait}])

    def _check(self, box: _Box) -> None:
        """Before a request: stop on cancel, or when the watchdog has given up on this worker."""
        if box.abandoned:
            raise _Stop("SYNC_WORKER_STUCK", "abandoned by the watchdog")
        if self.cancel.cancelled:
            raise _Stop("SYNC_CANCELLED", "cancelled by a person")

    def call(self, box: _Box, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` as one request, retried under the mailbox's policy."""
        def attempt(_: int) -> Any:
            self._count()
            return fn(*args)
        return self._retrying(box, what, attempt)

    def _retrying(self, box: _Box, what: str, attempt_fn: Callable[[int], Any]) -> Any:
        """``attempt_fn(attempt)`` until done, a permanent error (raised), the deadline or a cancel (``_Stop``)."""
        try:
            return self._policy(box).call(attempt_fn, before=lambda: self._check(box),
                                          on_retry=lambda retry: self._journal_retry(box, what, retry))
        except RetryStopped as stop:
            if stop.reason == "cancelled":
                raise _Stop("SYNC_CANCELLED", "cancelled by a person" + (" while waiting to retry" if stop.last
                                                                         else "")) from None
            minutes = self.deadline_seconds / 60.0
            raise _Stop("SYNC_DEADLINE", f"{what}: still failing after {minutes:g} min; last error "
                                         f"{stop.last.code}: {stop.last.detail}", stop.last) from None

    # --- phase 1: snapshot ----------------------------------------------------------
    def snapshot(self, box: _Box) -> None:
        r = box.result
        box.mailbox = self.call(box, "open mailbox", self.backend.open, r.mailbox)
        rows = self.call(box, "read contacts", box.mailbox.snapshot, self.batch_size)
        self._count(max(0, -(-len(rows) // self.batch_size)))   # GetItem pages besides the FindItem
        self.write(lambda con: st.replace_snapshot(con, r.operator_id, rows))
        self.log([{"operator_id": r.operator_id, "action": "snapshot", "outcome": "ok", "items": len(rows),
                   "detail": f"{len(rows)} contacts read from {r.mailbox}"}])

    # --- phase 3: execute --------------------------------------------------------------
    def execute(self, box: _Box, plan: Plan, *, pass_name: str = "") -> list[str]:
        """Run one mailbox's write actions in batches; returns CRM contact ids changed from Exchange."""
        r = box.result
        acts = plan.writes
        batches: list[tuple[str, pd.DataFrame]] = []
        for kind in EXEC_ORDER:
            frame = acts[acts["action"] == kind]
            for start in range(0, len(frame), self.batch_size):
                batches.append((kind, frame.iloc[start:start + self.batch_size]))
        touched: list[str] = []
        if not batches:
            return touched
        if box.mailbox is None and any(k in ("create-exchange", "update-exchange", "delete-exchange")
                                       or bool(f["stamp"].any()) for k, f in batches):
            box.mailbox = self.call(box, "open mailbox", self.backend.open, r.mailbox)
        changes = plan.changes
        for batch_no, (kind, frame) in enumerate(batches, start=1):
            self._check(box)
            t0 = self.clock()
            out = _Outcome()
            self._run_batch(box, kind, frame, out)
            seconds = self.clock() - t0
            for entry in out.log:
                entry.setdefault("batch_no", batch_no)
                aid = entry.pop("_action_id", None)
                if aid is not None and entry["outcome"] == "ok":
                    entry["detail"] = _summary(entry["_row"], changes[changes["action_id"] == aid])
                entry.pop("_row", None)
            out.log.append({"operator_id": r.operator_id, "action": "batch", "outcome": "ok" if not out.failed
                            else "failed", "batch_no": batch_no, "items": len(frame), "seconds": seconds,
                            "detail": f"{pass_name}{kind}: {out.ok} ok, {out.failed} failed"
                                      + (f", {out.stale} changed since the plan" if out.stale else "")})
            self.write(lambda con: self._commit(con, r.operator_id, out))
            r.done += out.ok
            r.failed += out.failed
            r.stale += out.stale
            touched += out.touched_crm
            with self.count_lock:
                self.items_done += len(frame)
                done, total = self.items_done, self.items_total
            elapsed = max(1e-6, self.clock() - self.started)
            if self.progress:
                self.progress(ProgressEvent(r.operator_id, batch_no, len(batches), done, max(total, done),
                                            done / elapsed, f"{r.operator_id}: {kind} ({len(frame)})"))
        return touched

    def _commit(self, con: Any, operator_id: str, out: _Outcome) -> None:
        st.upsert_crm_contacts(con, out.crm)
        st.add_team(con, out.team_add)
        st.remove_team(con, out.team_remove)
        st.drop_links(con, out.unlinks)
        st.upsert_links(con, out.links)
        st.apply_snapshot_changes(con, operator_id, out.snap, out.snap_delete)
        st.journal(con, self.run_id, out.log)

    def _entry(self, row: Any, outcome: str, code: str | None = None, detail: str | None = None) -> dict:
        return {"operator_id": row.operator_id, "contact_id": row.contact_id, "item_id": row.item_id,
                "action": row.action, "outcome": outcome, "code": code, "detail": detail,
                "_action_id": row.action_id, "_row": row}

    def _fail(self, out: _Outcome, row: Any, err: WorkbenchError) -> None:
        out.failed += 1
        out.log.append(self._entry(row, "failed", err.code, err.detail))

    def _categories(self, row: Any) -> list[str]:
        cats = list(row.ex_categories) if row.ex_categories is not None else []
        return list(dict.fromkeys(cats + [self.category]))

    def _exchange_written(self, out: _Outcome, op: str, r: Any, item_id: str, change_key: str,
                          categories: list[str], private: Any) -> None:
        """Bookkeeping of one contact Exchange now holds as the CRM has it: link, snapshot row, journal."""
        out.ok += 1
        out.links.append({"operator_id": op, "contact_id": r.contact_id, "item_id": item_id,
                          "change_key": change_key, "crm_hash": r.crm_hash, "exchange_hash": r.crm_hash})
        out.snap.append(expected_row(item_id, change_key, fields_of(r, "crm"), crm_id=r.contact_id,
                                     categories=categories, private=bool(private)))
        out.log.append(self._entry(r, "ok"))

    def _run_batch(self, box: _Box, kind: str, frame: pd.DataFrame, out: _Outcome) -> None:
        rows = list(frame.itertuples(index=False))
        op = box.result.operator_id
        bs = self.batch_size

        if kind == "create-exchange":
            results: dict[int, Any] = {}

            def attempt(n: int) -> None:
                pending = [r for r in rows if r.action_id not in results]
                if n > 0 and pending:
                    # the failed request may have created some of them: look them up by CRM id first
                    self._count()
                    found = box.mailbox.find_by_crm_ids([r.contact_id for r in pending], bs)
                    for r in pending:
                        hits = found.get(r.contact_id)
                        if hits:
                            results[r.action_id] = ItemRef(hits[0]["item_id"], hits[0]["change_key"])
                    pending = [r for r in pending if r.action_id not in results]
                if not pending:
                    return
                self._count(-(-len(pending) // bs))
                refs = box.mailbox.create([
                    {"fields": fields_of(r, "crm"), "crm_id": r.contact_id, "categories": [self.category],
                     "private": bool(r.crm_private)} for r in pending], bs)
                for r, ref in zip(pending, refs):
                    results[r.action_id] = ref

            self._retrying(box, "create contacts", attempt)
            for r in rows:
                ref = results.get(r.action_id)
                if isinstance(ref, WorkbenchError) or ref is None:
                    self._fail(out, r, ref or WorkbenchError("EWS_ITEM_REJECTED", "no result"))
                    continue
                self._exchange_written(out, op, r, ref.item_id, ref.change_key, [self.category], r.crm_private)
            return

        if kind == "update-exchange":
            results = {}

            def attempt(n: int) -> None:
                pending = [r for r in rows if r.action_id not in results]
                if not pending:
                    return
                self._count(-(-len(pending) // bs))
                refs = box.mailbox.update([
                    {"item_id": r.item_id, "change_key": r.change_key, "fields": fields_of(r, "crm"),
                     "crm_id": r.contact_id, "categories": self._categories(r)} for r in pending], bs)
                for r, ref in zip(pending, refs):
                    results[r.action_id] = ref
                # a stale change key: done already (a lost answer), or edited meanwhile (a real conflict)
                stale = [r for r in pending if isinstance(results[r.action_id], WorkbenchError)
                         and is_conflict(results[r.action_id])]
                if stale:
                    self._count()
                    current = box.mailbox.fetch_rows([r.item_id for r in stale])
                    for r in stale:
                        cur = current.get(r.item_id)
                        if cur is not None and content_hash(cur) == r.crm_hash and cur["crm_id"] == r.contact_id:
                            results[r.action_id] = ItemRef(cur["item_id"], cur["change_key"])

            self._retrying(box, "update contacts", attempt)
            for r in rows:
                ref = results.get(r.action_id)
                if isinstance(ref, WorkbenchError) and is_conflict(ref):
                    # edited in Exchange after the plan: never written over, the next plan sees the edit
                    self._fail(out, r, WorkbenchError("EWS_CONFLICT", "changed in Exchange since the plan "
                                                      f"(stale change key; {ref.detail}); not overwritten, rerun"))
                    continue
                if isinstance(ref, WorkbenchError) or ref is None:
                    self._fail(out, r, ref or WorkbenchError("EWS_ITEM_REJECTED", "no result"))
                    continue
                if r.team_add:
                    out.team_add.append((r.contact_id, op))
                self._exchange_written(out, op, r, r.item_id, ref.change_key, self._categories(r), r.ex_private)
            return

        if kind == "delete-exchange":
            results = {}

            def attempt(n: int) -> None:
                pending = [r for r in rows if r.action_id not in results]
                if not pending:
                    return
                self._count(-(-len(pending) // bs))
                res = box.mailbox.delete([(r.item_id, None) for r in pending], bs,
                                          self.settings.delete_to)
                for r, x in zip(pending, res):
                    # not found = moved already (a move gives the item a new id) or deleted by the user
                    results[r.action_id] = True if (x is True or is_gone(x)) else x

            self._retrying(box, "delete contacts in Exchange", attempt)
            for r in rows:
                res = results.get(r.action_id)
                if res is not True:
                    self._fail(out, r, res if isinstance(res, WorkbenchError)
                               else WorkbenchError("EWS_ITEM_REJECTED", "no result"))
                    continue
                out.ok += 1
                if r.match == "link" or _v(r.contact_id) is not None:
                    # also an item moved back (a new id) whose CRM contact was deleted: its old link goes too
                    out.unlinks.append((op, r.contact_id))
                out.snap_delete.append(r.item_id)
                out.log.append(self._entry(r, "ok"))
            return

        # CRM-side kinds: first the Exchange bookkeeping (CRM id + category) where needed
        stamped: dict[int, Any] = {}
        need = [r for r in rows if bool(r.stamp)]
        if need:
            def attempt(n: int) -> None:
                pending = [r for r in need if r.action_id not in stamped]
                if not pending:
                    return
                self._count(-(-len(pending) // bs))
                refs = box.mailbox.update([
                    {"item_id": r.item_id, "change_key": None, "fields": None, "crm_id": r.contact_id,
                     "categories": self._categories(r)} for r in pending], bs)
                for r, ref in zip(pending, refs):
                    stamped[r.action_id] = ref

            self._retrying(box, "stamp CRM id", attempt)
        changed = self._crm_changed(rows) if kind == "update-crm" else {}
        for r in rows:
            ref = stamped.get(r.action_id)
            if isinstance(ref, WorkbenchError):
                self._fail(out, r, ref)
                continue
            if ref is not None:
                # the link keeps the snapshot's change key: an edit made before the stamp still counts
                out.snap.append(expected_row(r.item_id, ref.change_key, fields_of(r, "ex"), crm_id=r.contact_id,
                                             categories=self._categories(r), private=bool(r.ex_private)))
            if r.action_id in changed:
                # edited in the CRM after the plan: not overwritten with the Exchange values; no link either,
                # so the next plan sees both edits (conflict_policy decides)
                out.stale += 1
                out.log.append(self._entry(r, "skipped", "PLAN_STALE", changed[r.action_id]))
                continue
            if kind in ("create-crm", "update-crm"):
                out.crm.append({"contact_id": r.contact_id, **fields_of(r, "ex"), "private": bool(r.ex_private)})
                out.touched_crm.append(r.contact_id)
            if kind == "create-crm" or r.team_add:
                out.team_add.append((r.contact_id, op))
            if kind in ("create-crm", "update-crm", "link"):
                crm_hash = r.crm_hash if kind == "link" else r.exchange_hash
                out.links.append({"operator_id": op, "contact_id": r.contact_id, "item_id": r.item_id,
                                  "change_key": r.change_key, "crm_hash": crm_hash, "exchange_hash": r.exchange_hash})
            elif kind == "unlink-crm":
                out.team_remove.append((r.contact_id, op))
                out.unlinks.append((op, r.contact_id))
            elif kind == "forget":
                out.unlinks.append((op, r.contact_id))
            out.ok += 1
            out.log.append(self._entry(r, "ok"))

    def _crm_changed(self, rows: list[Any]) -> dict[int, str]:
        """{action_id: why} for update-crm rows whose CRM contact changed (or went) since the plan."""
        from workbench.fields import hash_sql
        ids = list(dict.fromkeys(r.contact_id for r in rows))
        if not ids:
            return {}
        found = dict((cid, (h, live)) for cid, h, live in self.write(lambda con: con.execute(
            f"SELECT contact_id, {hash_sql('c')}, deleted_at IS NULL FROM contacts c "
            f"WHERE contact_id IN ({', '.join('?' for _ in ids)})", ids).fetchall()))
        out: dict[int, str] = {}
        for r in rows:
            h, live = found.get(r.contact_id, (None, False))
            if not live:
                out[r.action_id] = "CRM contact deleted since the plan; not overwritten, rerun"
            elif h != r.crm_hash:
                out[r.action_id] = "changed in the CRM since the plan; not overwritten, rerun"
        return out

    # --- mailbox workers ------------------------------------------------------------
    def stop_box(self, box: _Box, status: str, code: str, detail: str) -> None:
        """A mailbox ends early: result, journal, mailbox state; its failure e-mail waits for the notify phase."""
        box.stopped = True
        r = box.result
        r.status, r.code, r.detail = status, code, detail
        self.log([{"operator_id": r.operator_id, "action": "mailbox", "outcome": "cancelled" if status == "cancelled"
                   else "failed", "code": code, "detail": f"{r.mailbox}: {detail}; done {r.done}, left {r.left}"}])
        self.write(lambda con: st.mark_mailbox(con, r.operator_id, r.mailbox, ok=False, code=code))
        if code != "SYNC_CANCELLED":
            with self.count_lock:
                self.to_notify.append((box, code, detail))

    def guarded(self, fn: Callable[[_Box], Any]) -> Callable[[_Box], None]:
        """``fn`` for one mailbox: a stop or a catalogue error ends that mailbox only."""
        def job(box: _Box) -> None:
            if box.stopped:
                return
            try:
                fn(box)
            except _Stop as stop:
                if not box.abandoned:
                    self.stop_box(box, "cancelled", stop.code, stop.detail)
            except WorkbenchError as err:
                if not box.abandoned:
                    self.stop_box(box, "failed", err.code, err.detail)
            except BaseException as exc:      # a bug: the run re-raises it once every worker is done
                box.error = exc
        return job

    def each(self, boxes: Sequence[_Box], fn: Callable[[_Box], Any], *, workers: int) -> None:
        """``fn`` for every mailbox, concurrently, under the watchdog (``workers.run_each``)."""
        lost: list[tuple[_Box, str]] = []

        def abandon(box: _Box, code: str) -> None:
            box.abandoned = True
            lost.append((box, code))
        watch = Watch(clock=self.clock, cancelled=lambda: self.cancel.cancelled, deadline_of=lambda b: b.deadline,
                      on_abandon=abandon, stuck_grace=self.stuck_grace, cancel_grace=CANCEL_GRACE)
        run_each([b for b in boxes if not b.stopped], self.guarded(fn), workers=workers, watch=watch)
        for box, code in lost:
            detail = ("cancelled by a person; the request in flight was abandoned" if code == "SYNC_CANCELLED"
                      else f"worker still busy {self.stuck_grace:g}s past the mailbox deadline; abandoned")
            self.stop_box(box, "cancelled" if code == "SYNC_CANCELLED" else "failed", code, detail)
        errors = [b.error for b in boxes if b.error is not None]
        if errors:
            raise errors[0]

    # --- failure e-mail -------------------------------------------------------------
    def notify_all(self) -> None:
        """The notify phase: one failure e-mail per stopped mailbox. No attempt starts after the notify budget;
        a sender still busy one request (and its booking) past it is abandoned."""
        if not self.to_notify:
            return
        end = self.clock() + self.notify_budget

        def abandoned(item: tuple[_Box, str, str], code: str) -> None:
            self.log([{"operator_id": item[0].result.operator_id, "action": "notify", "outcome": "failed",
                       "code": item[1], "detail": f"failure e-mail abandoned: Exchange did not answer within "
                                                  f"{self.notify_budget + self.stuck_grace:g}s"}])
        run_each(self.to_notify, lambda item: self.notify_failure(*item, end=end), workers=len(self.to_notify),
                 watch=Watch(clock=self.clock, cancelled=lambda: False, deadline_of=lambda item: end,
                             on_abandon=abandoned, stuck_grace=self.stuck_grace), name="sync-notify")

    def _send(self, recipients: list[str], mail: Any, end: float) -> str | None:
        """Send as the service identity, retrying transient faults until ``end``; the problem or None."""
        policy = RetryPolicy(deadline=end, clock=self.clock, cancel=self.cancel, cap=NOTIFY_MAX_WAIT)
        try:
            policy.call(lambda _: self.backend.send_mail(recipients, mail.subject, mail.body))
            return None
        except WorkbenchError as err:
            return f"{err.code}: {err.detail}"
        except RetryStopped as stop:
            return f"{stop.last.code}: {stop.last.detail}" if stop.last else "cancelled before it was sent"

    def notify_failure(self, box: _Box, code: str, detail: str, *, end: float) -> None:
        r = box.result
        if r.operator_id in self.notified:
            return
        self.notified.add(r.operator_id)
        earlier = self.write(lambda con: con.execute(
            "SELECT max(n.sent_at) FROM notifications n LEFT JOIN mailbox_state m USING (operator_id) "
            "WHERE n.operator_id = ? AND n.code = ? AND n.status = 'sent' AND n.sent_at >= ? "
            "AND (m.last_success_at IS NULL OR n.sent_at > m.last_success_at)",
            [r.operator_id, code, now() - REMIND_AFTER]).fetchone()[0])
        if earlier is not None:
            # still the same failure, already reported: no e-mail every slot (a reminder after REMIND_AFTER)
            self.log([{"operator_id": r.operator_id, "action": "notify", "outcome": "skipped", "code": code,
                       "detail": f"same failure already e-mailed at {earlier:%Y-%m-%d %H:%M} UTC; "
                                 f"next reminder after {REMIND_AFTER}"}])
            return
        mail = notify.compose(run_id=self.run_id, operator_id=r.operator_id, mailbox=r.mailbox, code=code,
                              detail=detail, done=r.done, left=r.left, failed=r.failed,
                              deadline_minutes=self.deadline_seconds / 60.0 if code == "SYNC_DEADLINE" else None)
        recipients = self.settings.recipients
        status = "sent"
        problem = None
        if not recipients:
            status, problem = "failed", "failure_recipients is empty"
        else:
            problem = self._send(recipients, mail, end)
            if problem:
                status = "failed"
        body = mail.body if problem is None else mail.body + f"\n(not sent: {problem})\n"
        self.write(lambda con: (
            st.record_notification(con, run_id=self.run_id, operator_id=r.operator_id,
                                   recipients=";".join(recipients), subject=mail.subject, code=code,
                                   body=body, status=status),
            st.journal(con, self.run_id, [{"operator_id": r.operator_id, "action": "notify",
                                           "outcome": "ok" if status == "sent" else "failed", "code": code,
                                           "detail": f"failure e-mail to {';'.join(recipients) or '-'}"
                                                     + (f" not sent: {problem}" if problem else "")}])))
        r.notified = status == "sent"


def _settle(r: MailboxResult) -> None:
    """A mailbox that executed: ok, or partial when something failed or changed since the plan."""
    r.status = "ok" if not (r.failed or r.stale) else "partial"
    if r.stale and not r.failed and r.code is None:
        r.code = "PLAN_STALE"
        r.detail = f"{r.stale} planned write(s) changed since the plan and were not applied; rerun"


def _only(plan: Plan, operators: Sequence[str]) -> Plan:
    keep = set(operators)
    a = plan.actions[plan.actions["operator_id"].isin(keep)].reset_index(drop=True)
    c = plan.changes[plan.changes["operator_id"].isin(keep)].reset_index(drop=True)
    o = plan.operators[plan.operators["operator_id"].isin(keep)].reset_index(drop=True)
    return Plan(plan.settings, a, c, o)


#: what must be unchanged for a previewed action to be applied (besides operator, action, contact, item)
_SAME = ("mailbox", "match", "crm_hash", "exchange_hash", "crm_private", "ex_private", "winner", "team_add",
         "conflict")


def _v(value: Any) -> Any:
    if value is None or (isinstance(value, float) and value != value):
        return None
    return value


def _key(row: Any) -> tuple:
    return (row.operator_id, row.action, _v(row.contact_id), _v(row.item_id))


def _stale_entry(row: Any, why: str) -> dict:
    return {"operator_id": row.operator_id, "contact_id": _v(row.contact_id), "item_id": _v(row.item_id),
            "action": row.action, "outcome": "skipped", "code": "PLAN_STALE", "detail": why}


def _still_valid(previewed: Plan, fresh: Plan, ready: Sequence[str]) -> tuple[Plan, list[dict], list[dict]]:
    """The previewed writes still planned exactly so (as rows of ``fresh``: current change keys and
    categories), journal entries for those that are not, and one entry per mailbox for new writes."""
    ready_set = set(ready)
    now_by_key = {_key(r): r for r in fresh.writes.itertuples(index=False)}
    now_by_contact = {(r.operator_id, r.contact_id): r for r in fresh.actions.itertuples(index=False)
                      if _v(r.contact_id) is not None}
    now_by_item = {(r.operator_id, r.item_id): r for r in fresh.actions.itertuples(index=False)
                   if _v(r.item_id) is not None}
    keep: list[int] = []
    stale: list[dict] = []
    for r in previewed.writes.itertuples(index=False):
        if r.operator_id not in ready_set:
            continue        # its snapshot failed now: the mailbox result says why
        cur = now_by_key.get(_key(r))
        pair = cur if cur is not None else (now_by_contact.get((r.operator_id, _v(r.contact_id)))
                                            or now_by_item.get((r.operator_id, _v(r.item_id))))
        why = None
        if pair is None:
            why = "changed since the preview: nothing to do any more"
        else:
            sides = [name for name, cols in (("in the CRM", ("crm_hash", "crm_private")),
                                             ("in Exchange", ("exchange_hash", "ex_private")))
                     if any(_v(getattr(pair, c)) != _v(getattr(r, c)) for c in cols)]
            if sides:
                why = "changed " + " and ".join(sides) + " since the preview"
            elif cur is None or any(_v(getattr(cur, c)) != _v(getattr(r, c)) for c in _SAME):
                why = "changed since the preview"
            if why is not None and pair.action != r.action:
                why += f" (the plan now says {pair.action})"
        if why is None:
            keep.append(int(cur.action_id))
        else:
            stale.append(_stale_entry(r, why + "; not applied (nothing overwritten), preview again or rerun"))
    kept = set(keep)
    extra: list[dict] = []
    new = fresh.writes[~fresh.writes["action_id"].isin(kept)]
    for op, n in new.groupby("operator_id").size().items():
        extra.append({"operator_id": op, "action": "mailbox", "outcome": "skipped", "code": "PLAN_STALE",
                      "detail": f"{n} write(s) planned now were not in the preview; left for the next run"})
    acts = fresh.actions[fresh.actions["action_id"].isin(kept)].reset_index(drop=True)
    changes = fresh.changes[fresh.changes["action_id"].isin(kept)].reset_index(drop=True)
    return Plan(fresh.settings, acts, changes, fresh.operators), stale, extra


def _journal_plan(plan: Plan, dry_run: bool, *, preview: bool = False) -> list[dict]:
    entries = []
    for row in plan.actions.itertuples(index=False):
        if row.action == "skip" or row.action == "conflict":
            outcome = "skipped"
        else:
            outcome = "planned"
        entries.append({"operator_id": row.operator_id, "contact_id": row.contact_id, "item_id": row.item_id,
                        "action": row.action, "outcome": outcome, "code": row.code,
                        "detail": f"{'dry run: ' if dry_run else ''}{'previewed: ' if preview else ''}{row.reason}"
                                  + ("; conflict, winner " + str(row.winner) if row.conflict else "")})
    return entries


def run_sync(store: Store, operators: Sequence[str] | None = None, dry_run: bool = False,
             allow_mass_delete: bool = False, progress: Callable[[ProgressEvent], None] | None = None,
             cancel: CancelToken | None = None, trigger: str = "cli", *, snapshot: bool = True,
             deadline_seconds: float | None = None, clock: Callable[[], float] = time.monotonic,
             backend: MailboxBackend | None = None, propagate: bool | None = None, plan: Any = None) -> RunResult:
    """Snapshot, plan and (unless ``dry_run``) execute the sync of the given operators (default: all enabled).

    ``deadline_seconds`` overrides notification_frequency_minutes as the per-mailbox retry deadline;
    ``clock`` is the monotonic clock the deadline is measured with; ``backend`` an open
    ``workbench.mailbox.MailboxBackend`` to use (else ``workbench.backends.open_backend(settings)``).

    ``plan``: a previewed ``Plan`` (or the ``Preview`` holding it) to apply instead of a new plan. Only the
    mailboxes with writes in it are touched (``operators`` narrows them further). Each is snapshotted again
    (unless ``snapshot=False``) and planned again; a previewed write is executed only when the new plan
    holds the same action on the same contact and item with the same content on both sides, else it is
    journaled ``skipped``/``PLAN_STALE`` (changed since the preview) and counted in ``stale``. Writes the
    new plan holds but the preview did not are left for the next run. No propagation pass unless
    ``propagate=True``; ``result.plan`` is the previewed plan.
    """
    from workbench.store.settings_table import load
    from workbench.store.operators_table import require_known
    settings = load(store)
    if not settings.contact_integration and not dry_run:
        raise WorkbenchError("SYNC_DISABLED", "contact_integration=false")
    previewed: Plan | None = None
    previewed_all: Plan | None = None
    if plan is not None:
        previewed = plan if isinstance(plan, Plan) else plan.plan
        wanted = sorted(set(previewed.writes["operator_id"]))
        if operators is not None:
            keep = set(operators)
            wanted = [op for op in wanted if op in keep]
        operators = wanted
        previewed_all, previewed = previewed, _only(previewed, wanted)
    if propagate is None:
        propagate = previewed is None
    if operators is not None:
        require_known(store, operators)
    cancel = cancel or CancelToken()
    t_start = time.monotonic()
    with store.write() as con:
        targets = operator_mailboxes(con, operators)
    run_id = st.start_run(store, trigger=trigger, dry_run=dry_run, operators=len(operators if previewed is not None
                                                                                  else targets), planned=0)
    boxes = {op: _Box(MailboxResult(op, mb), deadline=0.0) for op, mb in zip(targets["operator_id"], targets["mailbox"])}
    gone: list[MailboxResult] = []
    if previewed is not None:
        # previewed mailboxes whose contact sync was switched off since: nothing of theirs is applied
        for op in [o for o in operators if o not in boxes]:
            sub = previewed.for_operator(op)
            r = MailboxResult(op, str(sub.operators["mailbox"].iloc[0]) if len(sub.operators) else "",
                              status="skipped", code="PLAN_STALE", planned=len(sub.writes), stale=len(sub.writes),
                              detail="contact sync was switched off since the preview; nothing applied")
            gone.append(r)
            with store.write() as con:
                st.journal(con, run_id, [_stale_entry(row, r.detail) for row in sub.writes.itertuples(index=False)])
    own_backend = backend is None
    if snapshot or not dry_run:
        try:
            if backend is None:
                from workbench.backends import open_backend
                backend = open_backend(settings)
        except WorkbenchError as err:
            with store.write() as con:
                st.journal(con, run_id, [{"action": "connect", "outcome": "failed", "code": err.code,
                                          "detail": err.detail}])
                st.finish_run(con, run_id, status="failed", done=0, failed=0, requests=0, retries=0)
            raise
    run = _Run(store, settings, run_id=run_id, backend=backend, dry_run=dry_run, allow_mass_delete=allow_mass_delete,
               progress=progress, cancel=cancel, deadline_seconds=deadline_seconds, clock=clock)
    for box in boxes.values():
        box.deadline = clock() + run.deadline_seconds
    workers = max(1, min(int(settings.max_concurrent_mailboxes), len(boxes) or 1))

    plan = None
    touched_crm: set[str] = set()
    try:
        # 1. snapshot
        if snapshot:
            run.each(list(boxes.values()), run.snapshot, workers=workers)
        ready = [op for op, b in boxes.items() if not b.stopped]
        # 2. plan, in full, before any write
        fresh = run.write(lambda con: build_plan(con, settings, ready))
        if previewed is None:
            plan = decided = fresh
            run.log(_journal_plan(plan, dry_run))
        else:
            # apply the previewed plan: only what is still exactly as previewed
            decided = previewed
            plan, stale, unpreviewed = _still_valid(previewed, fresh, ready)
            run.log(_journal_plan(previewed, dry_run, preview=True) + stale + unpreviewed)
            for entry in stale:
                boxes[entry["operator_id"]].result.stale += 1
        run.write(lambda con: con.execute("UPDATE sync_runs SET planned = ? WHERE run_id = ?",
                                          [len(decided.writes), run_id]))
        ready_set = set(ready)
        for op, box in boxes.items():
            sub = decided.for_operator(op)
            box.result.planned = len(sub.writes)      # a mailbox whose snapshot failed shows them as left
            if op not in ready_set:
                continue
            box.result.skipped = int((sub.actions["action"] == "skip").sum())
            if decided.guard_tripped(op) and not allow_mass_delete and not dry_run:
                row = sub.operators.iloc[0]
                box.stopped = True
                box.result.status, box.result.code = "guarded", "MASS_DELETE"
                box.result.detail = (f"plan deletes or unlinks {row['deletes']} of {row['links']} links "
                                     f"(> {settings.mass_delete_percent}%); rerun with --allow-mass-delete")
                run.log([{"operator_id": op, "action": "mailbox", "outcome": "cancelled", "code": "MASS_DELETE",
                          "detail": box.result.detail}])
        if dry_run:
            for op in ready:
                boxes[op].result.status = "dry-run"
        else:
            run.items_total = sum(len(plan.for_operator(op).writes) for op in ready if not boxes[op].stopped)
            touched: dict[str, list[str]] = {}

            def execute(box: _Box) -> None:
                touched[box.result.operator_id] = run.execute(box, plan.for_operator(box.result.operator_id))
                if box.abandoned:
                    return
                _settle(box.result)
                run.write(lambda con: st.mark_mailbox(con, box.result.operator_id, box.result.mailbox,
                                                      ok=True, code=None))
            run.each([boxes[op] for op in ready], execute, workers=workers)
            # 4. propagate Exchange edits written to the CRM to the other linked mailboxes
            changed = {c for ids in touched.values() for c in ids}
            touched_crm = changed
            if propagate and changed and not cancel.cancelled:
                again = [op for op in ready if boxes[op].result.status in ("ok", "partial")]
                second = run.write(lambda con: build_plan(con, settings, again))
                follow = second.actions[(second.actions["action"] == "update-exchange")
                                        & second.actions["contact_id"].isin(changed)]
                if len(follow):
                    extra = Plan(second.settings, follow.reset_index(drop=True),
                                 second.changes[second.changes["action_id"].isin(follow["action_id"])],
                                 second.operators)
                    run.log(_journal_plan(extra, False))
                    run.items_total += len(follow)

                    def execute_again(box: _Box) -> None:
                        sub = extra.for_operator(box.result.operator_id)
                        box.result.planned += len(sub.writes)
                        run.execute(box, sub, pass_name="propagate ")
                        if not box.abandoned:
                            _settle(box.result)
                    run.each([boxes[op] for op in sorted(set(follow["operator_id"]))], execute_again,
                             workers=workers)
        # 5. notify: one failure e-mail per mailbox that stopped
        run.notify_all()
    finally:
        results = list(boxes.values()) + [_Box(r, deadline=0.0) for r in gone]
        statuses = {b.result.status for b in results}
        if cancel.cancelled:
            status = "cancelled"
        elif not results or statuses <= {"ok", "dry-run"}:
            status = "ok"
        elif statuses <= {"failed", "cancelled", "pending"}:     # pending: the run died before it settled
            status = "failed"
        else:
            status = "partial"
        with store.write() as con:
            st.finish_run(con, run_id, status=status, done=sum(b.result.done for b in results),
                          failed=sum(b.result.failed for b in results), requests=run.requests, retries=run.retries)
        if own_backend and backend is not None:
            backend.close()
    return RunResult(run_id, status, dry_run, previewed_all if previewed is not None else plan,
                     [b.result for b in results], run.requests, run.retries, time.monotonic() - t_start,
                     touched_crm=touched_crm)


def take_snapshots(store: Store, operators: Sequence[str] | None = None, *, backend: MailboxBackend | None = None,
                   deadline_seconds: float | None = None) -> dict[str, WorkbenchError | None]:
    """Refresh ``exchange_contacts`` for the enabled operators; {operator_id: None or the error}."""
    from workbench.store.settings_table import load
    settings = load(store)
    with store.write() as con:
        targets = operator_mailboxes(con, operators)
    own_backend = backend is None
    if backend is None:
        from workbench.backends import open_backend
        backend = open_backend(settings)
    run = _Run(store, settings, run_id=None, backend=backend, dry_run=True, allow_mass_delete=False, progress=None,
               cancel=CancelToken(), deadline_seconds=deadline_seconds, clock=time.monotonic)
    out: dict[str, WorkbenchError | None] = {}
    start = time.monotonic()
    boxes = [_Box(MailboxResult(op, mb), deadline=start + run.deadline_seconds)
             for op, mb in zip(targets["operator_id"], targets["mailbox"])]

    def one(box: _Box) -> None:
        op = box.result.operator_id
        try:
            run.snapshot(box)
            out[op] = None
        except _Stop as stop:
            out[op] = stop.last or WorkbenchError(stop.code, stop.detail)
        except WorkbenchError as err:
            out[op] = err

    def abandon(box: _Box, code: str) -> None:
        box.abandoned = True
        out[box.result.operator_id] = WorkbenchError(code, f"{box.result.mailbox}: snapshot abandoned by the watchdog")
    try:
        workers = max(1, min(int(settings.max_concurrent_mailboxes), len(boxes) or 1))
        run_each(boxes, one, workers=workers, watch=Watch(
            clock=time.monotonic, cancelled=lambda: False, deadline_of=lambda b: b.deadline, on_abandon=abandon,
            stuck_grace=run.stuck_grace))
    finally:
        if own_backend:
            backend.close()
    return out
