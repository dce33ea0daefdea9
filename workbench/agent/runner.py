"""The Agent: push listener + incremental sync + slot scheduler + subscription watchdog + request queue.

Threads: the listener (HTTP server, answers notifications at once and only notes what it heard), the
main loop (``run``: about once a second it flushes what the listener heard to the store, takes sync
requests, starts a slot when one is due, runs the watchdog), and a worker pool of
``max_concurrent_mailboxes`` threads that run mailbox jobs. A mailbox has at most one job running
(a per-mailbox lock, and a queue that coalesces: while a job runs, further requests for that mailbox
collapse into one follow-up job, a full one if any of them asked for full).

Jobs:
- ``incremental`` (a notification with changes, a workbench change, a re-created subscription, the
  start of the agent): SyncFolderItems from the stored sync state, MaxChangesReturned = batch_size, page
  by page until the last item in range; each page's changes go into the snapshot together with the new
  sync state in one transaction; then the engine plans and executes that mailbox from the snapshot.
- ``full`` (a slot): the engine's full reconciliation of the mailbox.

After a job that is not a slot's, the CRM contacts the run wrote from Exchange (``RunResult.touched_crm``) are
propagated: one sync request (reason ``propagate``) for the other enabled operators linked to them, so their
mailboxes get the edit within seconds. A run without CRM writes queues nothing.

``request_stop()`` (SIGTERM, Ctrl-C): no new jobs start; running ones finish the batch in flight,
commit and return; the listener closes; requests picked but not done go back to the queue.
"""
from __future__ import annotations

import json
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, TextIO

from workbench.store import sync_requests as queue
from workbench.agent import state
from workbench.agent.listener import ListenAddress, Listener, tls_context
from workbench.agent.scheduler import Clock, SlotScheduler, SystemClock
from workbench.agent.subscriptions import plan_subscriptions
from workbench.errors import WorkbenchError
from workbench.store import Store, now as utc_now

FULL, INCREMENTAL = "full", "incremental"
RETRY_FIRST_SECONDS = 30.0         # first retry of a mailbox job after a transient failure (then doubling)
SUBSCRIBE_GRACE_SECONDS = 10.0     # how long an unknown subscription's notification waits for a Subscribe in flight
_RANK = {INCREMENTAL: 1, FULL: 2}
SLOT_REASONS = {"slot", "once"}       # jobs of a full reconciliation of every mailbox: no propagation


class EventLog:
    """One line per event: ``2026-03-02T10:15:00Z event key=value ...`` or JSON lines (``json=True``)."""

    def __init__(self, stream: TextIO | None = None, *, json_lines: bool = False,
                 sink: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.json = json_lines
        self.sink = sink
        self._lock = threading.Lock()

    def __call__(self, event: str, **fields: Any) -> None:
        stamp = utc_now().isoformat(timespec="seconds") + "Z"
        record = {"time": stamp, "event": event, **{k: v for k, v in fields.items() if v is not None}}
        if self.json:
            line = json.dumps(record, default=str)
        else:
            parts = [stamp, event] + [f"{k}={_fmt(v)}" for k, v in record.items() if k not in ("time", "event")]
            line = " ".join(parts)
        with self._lock:
            if self.sink is not None:
                self.sink(record)
            if self.stream is not None:
                print(line, file=self.stream, flush=True)


def _fmt(value: Any) -> str:
    text = str(value)
    return json.dumps(text) if (" " in text or not text) else text


@dataclass
class AgentOptions:
    bind: str | None = None              # listener address (default: from notification_url)
    tls_cert: str | None = None          # PEM certificate chain for an https notification_url
    tls_key: str | None = None
    listen: bool = True
    poll_seconds: float = 1.0            # main loop tick (sync requests, heard notifications)
    watchdog_seconds: float = 30.0       # clock seconds between watchdog passes
    subscribe_retry_seconds: float = 60.0
    catch_up_on_start: bool = True       # incremental sync of every served mailbox when the agent starts


@dataclass
class _Mailbox:
    lock: threading.Lock = field(default_factory=threading.Lock)
    running: bool = False
    pending: str | None = None
    reasons: list[str] = field(default_factory=list)
    request_ids: list[int] = field(default_factory=list)


class Agent:
    def __init__(self, store: Store, *, clock: Clock | None = None, log: Callable[..., None] | None = None,
                 options: AgentOptions | None = None) -> None:
        self.store = store
        self.clock = clock or SystemClock()
        self.log = log or EventLog()
        self.options = options or AgentOptions()
        self._backend: Any = None                     # the open workbench.mailbox.MailboxBackend
        self._backend_lock = threading.Lock()
        self._cancel: Any = None                      # the engine's CancelToken, set on stop
        self.stop_event = threading.Event()
        self._lock = threading.Lock()                 # guards the maps below
        self._subscribed = threading.Condition(self._lock)
        self._subscribing = 0                         # Subscribe calls in flight
        self._mailboxes: dict[str, _Mailbox] = {}
        self._subs: dict[str, str] = {}               # subscription id -> operator id (ours, live)
        self._retired: set[str] = set()               # ended or replaced: answer Unsubscribe
        self._heard: dict[str, tuple[datetime, str | None]] = {}
        self._served: dict[str, state.Served] = {}    # enabled operator id -> (mailbox, verified)
        self._subscribe_after: dict[str, datetime] = {}
        self._retry: dict[str, tuple[datetime, str, int]] = {}   # op -> (due, kind, attempt) after a transient failure
        self._futures: set[Future] = set()
        self._pool: ThreadPoolExecutor | None = None
        self.listener: Listener | None = None
        self.scheduler: SlotScheduler | None = None
        self.settings: Any = None
        self._last_watchdog: datetime | None = None
        self.jobs_done = 0
        self.ticks = 0

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "Agent":
        from workbench.store.settings_table import load
        self.settings = load(self.store)
        if not self.settings.notification_url:
            raise WorkbenchError("SETTINGS_INCOMPLETE", "notification_url: empty; the agent listens there")
        self.store.migrate()
        released = queue.release_unfinished(self.store)
        self._pool = ThreadPoolExecutor(max_workers=self.settings.max_concurrent_mailboxes,
                                        thread_name_prefix="agent-mailbox")
        for op, row in state.mailbox_rows(self.store).items():
            if row.subscription_id:
                self._subs[row.subscription_id] = op
        self._served = state.served_mailboxes(self.store)
        if self.options.listen:
            self._start_listener()
        self.scheduler = SlotScheduler(self.settings.slot_size_minutes, self.clock.now())
        state.save_next_slot(self.store, list(self._served), self.scheduler.next_at)
        self.log("agent-started", mailboxes=len(self._served), slot_minutes=self.settings.slot_size_minutes,
                 next_slot=self.scheduler.next_at.isoformat(), listening=self._listening_url(),
                 requeued=released or None)
        return self

    def _start_listener(self) -> None:
        address = ListenAddress.from_url(self.settings.notification_url, self.options.bind)
        tls = None
        if address.scheme == "https":
            if not self.options.tls_cert:
                raise WorkbenchError("SETTINGS_INCOMPLETE",
                                     "notification_url is https: give the listener's certificate with --tls-cert "
                                     "(and --tls-key) or WORKBENCH_AGENT_TLS_CERT / WORKBENCH_AGENT_TLS_KEY")
            try:
                tls = tls_context(self.options.tls_cert, self.options.tls_key)
            except (OSError, ValueError) as exc:
                raise WorkbenchError("CERT_FILE_INVALID",
                                     f"listener certificate {self.options.tls_cert}: {exc}") from None
        try:
            self.listener = Listener(address, self.decide, self.log, tls).start()
        except OSError as exc:
            raise WorkbenchError("LISTENER_UNREACHABLE",
                                 f"cannot listen on {address.host}:{address.port} for {self.settings.notification_url}: "
                                 f"{exc.strerror or exc}") from None

    def _move_listener(self) -> None:
        """Listen where notification_url now points before the watchdog re-subscribes there."""
        assert self.listener is not None
        self.listener.stop()
        self.listener = None
        try:
            self._start_listener()
        except WorkbenchError as exc:
            self.log("listener-failed", code=exc.code, detail=exc.detail)
            return
        self.log("listening", url=self._listening_url())

    def _listening_url(self) -> str | None:
        if self.listener is None:
            return None
        a = self.listener.address
        return f"{a.scheme}://{a.host}:{self.listener.port}{a.path}"

    def request_stop(self) -> None:
        self.stop_event.set()
        with self._lock:
            if self._cancel is not None:
                self._cancel.cancel()     # the engine finishes the batch in flight, commits and returns

    def close(self) -> None:
        """Wait for the jobs in flight (they stop after their current batch), close listener and connection."""
        self.request_stop()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        if self.listener is not None:
            self.listener.stop()
            self.listener = None
        self._flush_heard()
        queue.release_unfinished(self.store)
        self._drop_backend()
        self.log("agent-stopped", jobs=self.jobs_done)

    # ------------------------------------------------------------------ main loop
    def run(self) -> None:
        """Until ``request_stop()``: the loop of ticks."""
        if self.options.catch_up_on_start and self._push_wanted():
            for op in self._verified():
                self.submit(op, INCREMENTAL, "start")
        while not self.stop_event.is_set():
            self.tick()
            self.clock.wait(self.stop_event, self.options.poll_seconds)

    def run_once(self) -> None:
        """Subscribe / refresh subscriptions, one full slot for every served mailbox, pending requests; wait."""
        self.watchdog(force=True)
        self.take_requests()
        for op in self._served:
            self.submit(op, FULL, "once")
        self.wait_idle()
        self._flush_heard()

    def tick(self) -> None:
        try:
            self._flush_heard()
            self._reload_settings()
            self.take_requests()
            now = self.clock.now()
            if self.scheduler is not None and self.scheduler.due(now):
                self.start_slot(now)
            self._retry_due(now)
            self.watchdog()
            self.ticks += 1
        except WorkbenchError as exc:
            self.log("agent-error", code=exc.code, detail=exc.detail[:300])
        except Exception as exc:   # the loop survives anything one tick does
            self.log("agent-error", code="INTERNAL", detail=f"{type(exc).__name__}: {exc}"[:300])

    def _reload_settings(self) -> None:
        from workbench.store.settings_table import load
        fresh = load(self.store)
        if fresh != self.settings:
            old, self.settings = self.settings, fresh
            if self.scheduler is not None:
                self.scheduler.resize(fresh.slot_size_minutes, self.clock.now())
            if (old.exchange_url, old.impersonation_account, old.keystore_path, old.exchange_version) != (
                    fresh.exchange_url, fresh.impersonation_account, fresh.keystore_path, fresh.exchange_version):
                self._drop_backend()
            self.log("settings-changed")
            if old.notification_url != fresh.notification_url and self.listener is not None:
                self._move_listener()
        self._served = state.served_mailboxes(self.store)

    def start_slot(self, now: datetime) -> None:
        assert self.scheduler is not None
        boundary = self.scheduler.take(now)
        ops = list(self._served) if self.settings.contact_integration else []
        self.log("slot", at=boundary.isoformat(), mailboxes=len(ops), next=self.scheduler.next_at.isoformat())
        state.save_next_slot(self.store, ops, self.scheduler.next_at)
        for op in ops:
            self.submit(op, FULL, "slot")

    def take_requests(self) -> None:
        taken = queue.claim_pending(self.store)
        if not taken:
            return
        integration = self.settings.contact_integration
        skipped: list[int] = []
        for req in taken:
            ops = list(self._served) if req.operator_id is None else (
                [req.operator_id] if req.operator_id in self._served else [])
            if not ops or not integration:
                skipped.append(req.request_id)
                self.log("request-skipped", request=req.request_id, operator=req.operator_id,
                         why="integration off" if not integration else "not enabled or not verified")
                continue
            for op in ops:
                # a verified mailbox catches up incrementally; another one gets the engine's full run
                kind = INCREMENTAL if self._served[op].verified and self._push_wanted() else FULL
                self.submit(op, kind, f"request:{req.reason}", request_id=req.request_id)
        queue.finish(self.store, skipped, "skipped")

    # ------------------------------------------------------------------ notifications (listener thread)
    def decide(self, notes: list) -> str:
        """The listener's callback: OK for a subscription we hold, Unsubscribe otherwise."""
        answer = "Unsubscribe"
        at = self.clock.now()
        for note in notes:
            with self._lock:
                # Exchange pings a new subscription at once, maybe before Subscribe's answer reached us.
                self._subscribed.wait_for(lambda: note.subscription_id in self._subs or not self._subscribing,
                                          timeout=SUBSCRIBE_GRACE_SECONDS)
                op = self._subs.get(note.subscription_id)
                if op is not None:
                    self._heard[op] = (at, note.watermark)
            if op is None:
                self.log("notification", subscription=_short(note.subscription_id), answer="Unsubscribe",
                         why="retired" if note.subscription_id in self._retired else "unknown")
                continue
            answer = "OK"
            changes = sum(1 for e in note.events if not e.is_status)
            self.log("notification", operator=op, subscription=_short(note.subscription_id),
                     events=changes or None, status=None if changes else "ping")
            if changes and not self.stop_event.is_set():
                self.submit(op, INCREMENTAL, "notification")
        return answer

    def _flush_heard(self) -> None:
        with self._lock:
            heard, self._heard = self._heard, {}
        if heard:
            try:
                state.save_heard(self.store, heard)
            except WorkbenchError:
                with self._lock:
                    for op, value in heard.items():
                        self._heard.setdefault(op, value)
                raise

    # ------------------------------------------------------------------ watchdog
    def watchdog(self, *, force: bool = False) -> None:
        now = self.clock.now()
        if not force and self._last_watchdog is not None and \
                (now - self._last_watchdog).total_seconds() < self.options.watchdog_seconds:
            return
        self._last_watchdog = now
        settings = self.settings
        wanted = self._verified() if self._push_wanted() else []
        rows = state.mailbox_rows(self.store)
        with self._lock:
            heard = dict(self._heard)
        records = {}
        for op, row in rows.items():
            rec = row.record()
            if op in heard and (rec.last_notification_at is None or heard[op][0] > rec.last_notification_at):
                rec = type(rec)(rec.operator_id, rec.subscription_id, rec.subscribed_at, heard[op][0],
                                rec.subscription_url, rec.subscription_frequency)
            records[op] = rec
        actions = plan_subscriptions(wanted, records, now, url=settings.notification_url,
                                     frequency_minutes=settings.notification_frequency_minutes)
        for action in actions:
            if self.stop_event.is_set() and not force:
                return
            if action.action == "drop":
                self._retire(action.old_subscription_id)
                state.clear_subscription(self.store, action.operator_id)
                self.log("unsubscribed", operator=action.operator_id, why=action.reason,
                         subscription=_short(action.old_subscription_id))
                continue
            after = self._subscribe_after.get(action.operator_id)
            if after is not None and now < after and not force:
                continue
            self._subscribe(action.operator_id, action.reason, action.old_subscription_id, now)

    def _subscribe(self, op: str, reason: str, old: str | None, now: datetime) -> None:
        mailbox = self._served[op].mailbox
        settings = self.settings
        with self._lock:
            self._subscribing += 1
        try:
            sub = self.backend().subscribe(mailbox, settings.notification_url,
                                           settings.notification_frequency_minutes)
            sid, watermark = sub.subscription_id, sub.watermark
        except WorkbenchError as exc:
            self._subscribe_after[op] = now + timedelta(seconds=self.options.subscribe_retry_seconds)
            self.log("subscribe-failed", operator=op, mailbox=mailbox, code=exc.code, detail=exc.detail[:200])
            return
        else:
            with self._lock:
                self._subs[sid] = op
        finally:
            with self._lock:
                self._subscribing -= 1
                self._subscribed.notify_all()
        self._subscribe_after.pop(op, None)
        if old:
            self._retire(old)
        state.save_subscription(self.store, op, mailbox, sid, watermark, now, settings.notification_url,
                                settings.notification_frequency_minutes)
        self.log("resubscribed" if old else "subscribed", operator=op, mailbox=mailbox, why=reason,
                 subscription=_short(sid), frequency=settings.notification_frequency_minutes)
        if reason == "silent":
            self.log("subscription-lapsed", operator=op, code="SUBSCRIPTION_LAPSED")
        if old and not self.stop_event.is_set():
            self.submit(op, INCREMENTAL, f"resubscribed:{reason}")   # catch up what the silence hid

    def _retire(self, sid: str | None) -> None:
        if not sid:
            return
        with self._lock:
            self._subs.pop(sid, None)
            self._retired.add(sid)

    # ------------------------------------------------------------------ mailbox jobs
    def submit(self, op: str, kind: str, reason: str, *, request_id: int | None = None) -> None:
        """Queue a job for a mailbox; coalesces with a job already waiting or running there."""
        if self._pool is None or self.stop_event.is_set():
            if request_id is not None:
                self._release_request(request_id)
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
        self._launch(op, kind, [reason], ids)

    def _launch(self, op: str, kind: str, reasons: list[str], request_ids: list[int]) -> None:
        assert self._pool is not None
        try:
            fut = self._pool.submit(self._run_job, op, kind, reasons, request_ids)
        except RuntimeError:        # pool shut down
            with self._lock:
                self._mailboxes[op].running = False
            for rid in request_ids:
                self._release_request(rid)
            return
        with self._lock:
            self._futures.add(fut)
        fut.add_done_callback(self._forget)

    def _forget(self, fut: Future) -> None:
        with self._lock:
            self._futures.discard(fut)

    def _release_request(self, request_id: int) -> None:
        pass   # left picked-but-not-done: release_unfinished() at close puts it back in the queue

    def _run_job(self, op: str, kind: str, reasons: list[str], request_ids: list[int]) -> None:
        mb = self._mailboxes[op]
        outcome = "failed"
        try:
            with mb.lock:
                if self.stop_event.is_set():
                    outcome = None
                    return
                outcome = self._job(op, kind, reasons)
        except Exception as exc:   # a job never takes the agent down
            self.log("sync-error", operator=op, code="INTERNAL", detail=f"{type(exc).__name__}: {exc}"[:300])
        finally:
            if request_ids and outcome is not None:
                try:
                    queue.finish(self.store, request_ids, outcome)
                except WorkbenchError:
                    pass
            with self._lock:
                self.jobs_done += 1
                kind_next, mb.pending = mb.pending, None
                reasons_next, mb.reasons = mb.reasons, []
                ids_next, mb.request_ids = mb.request_ids, []
                if kind_next is None or self.stop_event.is_set():
                    mb.running = False
                    kind_next = None
            if kind_next is not None:
                self._launch(op, kind_next, reasons_next, ids_next)

    def _job(self, op: str, kind: str, reasons: list[str]) -> str:
        served = self._served.get(op)
        mailbox = served.mailbox if served else None
        if mailbox is None:
            self.log("sync-skipped", operator=op, why="not enabled or not verified")
            return "skipped"
        if not self.settings.contact_integration:
            self.log("sync-skipped", operator=op, why="contact_integration is off")
            return "skipped"
        why = ",".join(dict.fromkeys(reasons))
        self.log("sync-start", operator=op, kind=kind, why=why)
        try:
            if kind == FULL:
                result = self._engine_run(op, trigger="slot", read_exchange=True)
            else:
                pages, changes = self._incremental_fetch(op, mailbox)
                if self.stop_event.is_set():
                    self.log("sync-stopped", operator=op, kind=kind, pages=pages, changes=changes)
                    return "ok"
                result = self._engine_run(op, trigger="notification" if "notification" in why else "request",
                                          read_exchange=False)
                self.log("sync-fetched", operator=op, pages=pages, changes=changes)
        except WorkbenchError as exc:
            retry = self._schedule_retry(op, kind, exc.code)
            try:        # booked before it is told, so whoever reads the event finds the streak in the store
                state.mark_failure(self.store, op, mailbox, exc.code)
            except WorkbenchError:
                pass
            self.log("sync-failed", operator=op, kind=kind, code=exc.code, detail=exc.detail[:300],
                     retry_at=retry.isoformat() if retry else None)
            return "failed"
        with self._lock:
            self._retry.pop(op, None)
        self.log("sync-done", operator=op, kind=kind, **_result_fields(result))
        if not set(reasons) <= SLOT_REASONS:
            self.queue_propagation(op, result)
        return "ok"

    def queue_propagation(self, op: str, result: Any) -> list[str]:
        """After a push- or request-driven run: the CRM contacts it wrote from ``op``'s mailbox are also in other
        mailboxes; one sync request (reason ``propagate``) for the other enabled operators linked to them brings
        the edit there within seconds instead of at the next slot. A run that wrote no CRM contact (e.g. one that
        only pushed a propagated edit to Exchange) queues nothing, and ``op`` itself is never queued."""
        touched = set(getattr(result, "touched_crm", None) or ())
        if not touched:
            return []
        try:
            others = sorted(state.linked_operators(self.store, touched) - {op})
            if others:
                queue.request_sync(self.store, others, "propagate", source="agent")
        except WorkbenchError as exc:     # the next slot still brings the edit there
            self.log("propagate-failed", operator=op, code=exc.code, detail=exc.detail[:300])
            return []
        if others:
            self.log("propagate", operator=op, contacts=len(touched), to=",".join(others))
        return others

    def _schedule_retry(self, op: str, kind: str, code: str) -> datetime | None:
        """A transient failure is retried after 30 s, 60 s, ... up to the notification frequency; a permanent
        one waits for the next notification, request or slot."""
        from workbench.errors import CATALOGUE
        failure = CATALOGUE.get(code)
        if failure is None or not failure.transient or self.stop_event.is_set():
            return None
        with self._lock:
            attempt = self._retry.get(op, (None, kind, 0))[2] + 1
            cap = self.settings.notification_frequency_minutes * 60
            due = self.clock.now() + timedelta(seconds=min(cap, RETRY_FIRST_SECONDS * 2 ** (attempt - 1)))
            self._retry[op] = (due, kind, attempt)
        return due

    def _retry_due(self, now: datetime) -> None:
        with self._lock:
            due = [(op, kind) for op, (at, kind, _n) in self._retry.items() if at <= now]
            for op, _kind in due:
                at, kind, n = self._retry[op]
                self._retry[op] = (datetime.max, kind, n)      # not again until this attempt reports
        for op, kind in due:
            self.submit(op, kind, "retry")

    def _incremental_fetch(self, op: str, mailbox: str) -> tuple[int, int]:
        """SyncFolderItems from the stored state into the snapshot; the state advances with each page's commit."""
        from workbench.mailbox import StateInvalid
        stored = self.store.scalar("SELECT sync_state FROM mailbox_state WHERE operator_id = ?", [op])
        box = self.backend().open(mailbox)
        try:
            return self._fetch_pages(op, box, stored)
        except StateInvalid:
            self.log("sync-state-reset", operator=op, why="Exchange refused the stored sync state")
            return self._fetch_pages(op, box, None)

    def _fetch_pages(self, op: str, box: Any, sync_state: str | None) -> tuple[int, int]:
        from workbench.store.sync_tables import apply_snapshot_changes, replace_snapshot
        mailbox = box.address
        pages = changes = 0
        if sync_state:
            for page in box.changes_since(sync_state, self.settings.batch_size):
                with self.store.write() as con:
                    apply_snapshot_changes(con, op, page.upserts, page.deleted_item_ids)
                    state.save_sync_state(con, op, mailbox, page.state)
                pages += 1
                changes += page.changes
                if self.stop_event.is_set() and not page.last:
                    break
            return pages, changes
        # No state yet: the whole folder arrives as creates; it replaces the snapshot in one transaction.
        rows: dict[str, dict] = {}
        final = None
        for page in box.changes_since(None, self.settings.batch_size):
            for row in page.upserts:
                rows[row["item_id"]] = row
            for item_id in page.deleted_item_ids:
                rows.pop(item_id, None)
            final = page.state
            pages += 1
            changes += page.changes
            if self.stop_event.is_set() and not page.last:
                return pages, changes        # nothing stored: the next run starts over
        with self.store.write() as con:
            replace_snapshot(con, op, rows.values())
            state.save_sync_state(con, op, mailbox, final)
        return pages, changes

    def _engine_run(self, op: str, *, trigger: str, read_exchange: bool) -> Any:
        """The engine's plan + execute for one mailbox; ``read_exchange=False`` plans from the stored snapshot."""
        from workbench.sync.engine import run_sync
        return run_sync(self.store, operators=[op], trigger=trigger, snapshot=read_exchange,
                        backend=self.backend(), cancel=self._cancel_token())

    def _cancel_token(self) -> Any:
        from workbench.sync.engine import CancelToken
        with self._lock:
            if self._cancel is None:
                self._cancel = CancelToken()
                if self.stop_event.is_set():
                    self._cancel.cancel()
            return self._cancel

    # ------------------------------------------------------------------ helpers
    def backend(self) -> Any:
        """The mailbox backend, opened on first use (FailFast: the engine and the agent retry themselves)."""
        with self._backend_lock:
            if self._backend is None:
                from workbench.backends import open_backend
                self._backend = open_backend(self.settings)
            return self._backend

    def _drop_backend(self) -> None:
        with self._backend_lock:
            backend, self._backend = self._backend, None
        if backend is not None:
            try:
                backend.close()
            except Exception:
                pass

    def busy(self) -> bool:
        with self._lock:
            return any(mb.running for mb in self._mailboxes.values())

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no job runs or waits (``timeout`` seconds real time, None = no limit)."""
        import time
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.busy():
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def _verified(self) -> list[str]:
        return [op for op, served in self._served.items() if served.verified]

    def _push_wanted(self) -> bool:
        """Push subscriptions serve the Exchange -> CRM direction."""
        s = self.settings
        return bool(s.contact_integration) and s.sync_direction != "crm-to-exchange"

    def subscriptions(self) -> dict[str, str]:
        with self._lock:
            return dict(self._subs)


def _short(sid: str | None) -> str | None:
    return None if sid is None else (sid if len(sid) <= 12 else sid[:12] + "…")


def _result_fields(result: Any) -> dict[str, Any]:
    if result is None:
        return {}
    out: dict[str, Any] = {}
    for name in ("run_id", "status", "planned", "done", "failed"):
        value = getattr(result, name, None)
        if value is None and isinstance(result, dict):
            value = result.get(name)
        if value is not None and not callable(value):
            out[name] = value
    return out
