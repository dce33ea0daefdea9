"""The Agent: push listener + incremental sync + slot scheduler + subscription watchdog + request queue.

Threads: the listener (HTTP server, answers notifications at once and only notes what it heard), the
main loop (``run``: about once a second it flushes what the listener heard to the store, takes sync
requests, starts a slot when one is due, runs the watchdog), and a worker pool of
``max_concurrent_mailboxes`` threads that run mailbox jobs.

The jobs are separate modules: ``jobs`` (submit, coalesce, run: one job per mailbox at a time),
``mailbox_job`` (what a job does: ``fetch`` for an incremental one, the engine, ``propagate``),
``retries`` (a transient failure runs again on the agent's clock), ``inbox`` (the listener's answers),
``watchdog`` (subscriptions) with ``registry`` (the subscriptions held), ``webhooks`` (Graph's lifecycle
events and renewals). This class wires them and owns the lifecycle, the settings and the backend.

``request_stop()`` (SIGTERM, Ctrl-C): no new jobs start; running ones finish the batch in flight,
commit and return; the listener closes; requests picked but not done go back to the queue.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Mapping

from workbench.agent import state
from workbench.agent.events import EventLog
from workbench.agent.inbox import PushInbox
from workbench.agent.jobs import FULL, INCREMENTAL, JobQueue
from workbench.agent.listener import Listener
from workbench.agent.listening import listening_url, open_listener
from workbench.agent.mailbox_job import run_mailbox_job
from workbench.agent.propagate import queue_propagation
from workbench.agent.registry import SubscriptionRegistry
from workbench.agent.retries import JobRetries
from workbench.agent.scheduler import Clock, SlotScheduler, SystemClock
from workbench.agent.watchdog import SubscriptionWatchdog
from workbench.agent.webhooks import GraphLifecycle
from workbench.errors import WorkbenchError
from workbench.mailbox import MailboxBackend
from workbench.retry import CancelToken
from workbench.store import Store
from workbench.store import sync_requests as queue
from workbench.store.settings_table import load as load_settings

__all__ = ["Agent", "AgentOptions", "EventLog", "FULL", "INCREMENTAL"]

#: the settings the mailbox backend is opened with; a change opens it again (``operator_backends``: a hybrid's
#: routing, so a moved operator's mailbox goes to its new backend)
_BACKEND_SETTINGS = ("exchange_url", "impersonation_account", "keystore_path", "exchange_version", "backend",
                     "operator_backends", "graph_tenant_id", "graph_client_id", "graph_certificate_path",
                     "graph_authority_host", "graph_endpoint", "graph_ca_bundle", "graph_service_mailbox")


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


class Agent:
    def __init__(self, store: Store, *, clock: Clock | None = None, log: Callable[..., None] | None = None,
                 options: AgentOptions | None = None) -> None:
        self.store = store
        self.clock = clock or SystemClock()
        self.log = log or EventLog()
        self.options = options or AgentOptions()
        self.stop_event = threading.Event()
        self.settings: Any = None
        self.retries = JobRetries()
        self.registry = SubscriptionRegistry()
        self.inbox = PushInbox(self.registry, self.clock, self.log, self.stop_event, self.submit)
        self.watchdog = SubscriptionWatchdog(self, self.registry, every_seconds=self.options.watchdog_seconds,
                                             retry_seconds=self.options.subscribe_retry_seconds)
        self.webhooks = GraphLifecycle(self, self.registry, self.inbox, self.options.watchdog_seconds)
        self.jobs: JobQueue | None = None
        self.listener: Listener | None = None
        self.scheduler: SlotScheduler | None = None
        self._served: dict[str, state.Served] = {}    # enabled operator id -> (mailbox, verified)
        self._backend: MailboxBackend | None = None
        self._backend_lock = threading.Lock()
        self._cancel = CancelToken()                  # the engine's: cancelled on stop
        self.ticks = 0

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "Agent":
        self.settings = load_settings(self.store)
        if not self.settings.notification_url:
            raise WorkbenchError("SETTINGS_INCOMPLETE", "notification_url: empty; the agent listens there")
        self.store.migrate()
        released = queue.release_unfinished(self.store)
        self.jobs = JobQueue(self.store, self._work, self.log, self.stop_event,
                             self.settings.max_concurrent_mailboxes)
        self.registry.load({row.subscription_id: op for op, row in state.mailbox_rows(self.store).items()
                            if row.subscription_id})
        self._served = state.served_mailboxes(self.store)
        if self.options.listen:
            self.listener = self._open_listener()
        self.scheduler = SlotScheduler(self.settings.slot_size_minutes, self.clock.now())
        state.save_next_slot(self.store, list(self._served), self.scheduler.next_at)
        self.log("agent-started", mailboxes=len(self._served), slot_minutes=self.settings.slot_size_minutes,
                 next_slot=self.scheduler.next_at.isoformat(), listening=listening_url(self.listener),
                 requeued=released or None)
        return self

    def request_stop(self) -> None:
        self.stop_event.set()
        self._cancel.cancel()     # the engine finishes the batch in flight, commits and returns

    def close(self) -> None:
        """Wait for the jobs in flight (they stop after their current batch), close listener and connection."""
        self.request_stop()
        if self.jobs is not None:
            self.jobs.shutdown()
        if self.listener is not None:
            self.listener.stop()
            self.listener = None
        self.inbox.flush(self._save_heard)
        queue.release_unfinished(self.store)
        self._drop_backend()
        self.log("agent-stopped", jobs=self.jobs_done)

    # ------------------------------------------------------------------ main loop
    def run(self) -> None:
        """Until ``request_stop()``: the loop of ticks."""
        if self.options.catch_up_on_start:
            for op in self.push_targets():
                self.submit(op, INCREMENTAL, "start")
        while not self.stop_event.is_set():
            self.tick()
            self.clock.wait(self.stop_event, self.options.poll_seconds)

    def run_once(self) -> None:
        """Subscribe / refresh subscriptions, one full slot for every served mailbox, pending requests; wait."""
        self.watchdog.run(self.clock.now(), force=True)
        self.take_requests()
        for op in self._served:
            self.submit(op, FULL, "once")
        self.wait_idle()
        self.inbox.flush(self._save_heard)

    def tick(self) -> None:
        try:
            polled = self.inbox.flush(lambda heard: state.poll(self.store, heard))
            self._apply_settings(polled.settings)
            self._served = polled.served
            self._take(polled.requests)
            now = self.clock.now()
            if self.scheduler is not None and self.scheduler.due(now):
                self.start_slot(now)
            for op, kind in self.retries.take_due(now):
                self.submit(op, kind, "retry")
            self.watchdog.run(now)
            self.webhooks.run(now)
            self.ticks += 1
        except WorkbenchError as exc:
            self.log("agent-error", code=exc.code, detail=exc.detail[:300])
        except Exception as exc:   # the loop survives anything one tick does
            self.log("agent-error", code="INTERNAL", detail=f"{type(exc).__name__}: {exc}"[:300])

    def _apply_settings(self, fresh: Any) -> None:
        if fresh != self.settings:
            old, self.settings = self.settings, fresh
            if self.scheduler is not None:
                self.scheduler.resize(fresh.slot_size_minutes, self.clock.now())
            if any(getattr(old, k) != getattr(fresh, k) for k in _BACKEND_SETTINGS):
                self._drop_backend()
            self.log("settings-changed")
            moved = old.notification_url != fresh.notification_url or old.backends_in_use != fresh.backends_in_use
            if moved and self.listener is not None:
                self._move_listener()

    def _open_listener(self) -> Listener:
        return open_listener(self.settings, self.options, self.webhooks.decide, self.log, self.webhooks.client_state)

    def _move_listener(self) -> None:
        """Listen where notification_url now points, in the formats of the backends now in use, before the
        watchdog re-subscribes there."""
        assert self.listener is not None
        self.listener.stop()
        self.listener = None
        try:
            self.listener = self._open_listener()
        except WorkbenchError as exc:
            self.log("listener-failed", code=exc.code, detail=exc.detail)
            return
        self.log("listening", url=listening_url(self.listener))

    def start_slot(self, now: datetime) -> None:
        assert self.scheduler is not None
        boundary = self.scheduler.take(now)
        ops = list(self._served) if self.settings.contact_integration else []
        self.log("slot", at=boundary.isoformat(), mailboxes=len(ops), next=self.scheduler.next_at.isoformat())
        state.save_next_slot(self.store, ops, self.scheduler.next_at)
        for op in ops:
            self.submit(op, FULL, "slot")

    def take_requests(self) -> None:
        self._take(queue.claim_pending(self.store))

    def _take(self, taken: list[queue.SyncRequest]) -> None:
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

    # ------------------------------------------------------------------ jobs
    def submit(self, op: str, kind: str, reason: str, *, request_id: int | None = None) -> None:
        """Queue a job for a mailbox (coalesced with one waiting or running there); nothing before start."""
        if self.jobs is not None:
            self.jobs.submit(op, kind, reason, request_id=request_id)

    def _work(self, op: str, kind: str, reasons: list[str]) -> str:
        return run_mailbox_job(self, op, kind, reasons)

    def queue_propagation(self, op: str, result: Any) -> list[str]:
        """See ``workbench.agent.propagate.queue_propagation``."""
        return queue_propagation(self.store, self.log, op, result)

    def _save_heard(self, heard: dict) -> None:
        if heard:
            with self.store.write() as con:
                state.save_heard(con, heard)

    def cancel_token(self) -> CancelToken:
        return self._cancel

    # ------------------------------------------------------------------ what the parts share
    def backend(self) -> MailboxBackend:
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

    def served(self) -> Mapping[str, state.Served]:
        return self._served

    def push_targets(self) -> list[str]:
        """The operators that get a push subscription: enabled and verified, when push is wanted at all."""
        if not self._push_wanted():
            return []
        return [op for op, served in self._served.items() if served.verified]

    def _push_wanted(self) -> bool:
        """Push subscriptions serve the Exchange -> CRM direction."""
        s = self.settings
        return bool(s.contact_integration) and s.sync_direction != "crm-to-exchange"

    @property
    def jobs_done(self) -> int:
        return self.jobs.jobs_done if self.jobs is not None else 0

    def busy(self) -> bool:
        return self.jobs is not None and self.jobs.busy()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no job runs or waits (``timeout`` seconds real time, None = no limit)."""
        return self.jobs is None or self.jobs.wait_idle(timeout)

    def subscriptions(self) -> dict[str, str]:
        return self.registry.live()
