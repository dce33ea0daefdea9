"""`workbench agent [--once] [--json-log]`: the long-running real-time side (push listener, slots, watchdog)."""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "agent", help="run the sync agent: push listener, incremental sync, slots, subscription watchdog",
        description="Listens at notification_url for EWS push notifications and syncs the notified mailbox "
                    "at once (SyncFolderItems from its stored state); runs a full reconciliation of every "
                    "enabled operator each slot_size_minutes, aligned to the clock; keeps one push "
                    "subscription per enabled, verified operator and re-creates one silent for more than twice "
                    "notification_frequency_minutes; syncs operators that workbench changes queued. One log "
                    "line per event. SIGTERM or Ctrl-C finishes the batch in flight, commits and exits.")
    p.add_argument("--once", action="store_true",
                   help="subscribe/refresh subscriptions, run one full slot and the pending requests, then exit")
    p.add_argument("--json-log", action="store_true", help="log JSON lines instead of text")
    p.add_argument("--bind", metavar="HOST",
                   help="listen on this address (default: the host of notification_url when it is an IP "
                        "address or localhost, else all interfaces)")
    p.add_argument("--tls-cert", metavar="PEM", default=os.environ.get("WORKBENCH_AGENT_TLS_CERT"),
                   help="certificate (chain) for an https notification_url (env WORKBENCH_AGENT_TLS_CERT)")
    p.add_argument("--tls-key", metavar="PEM", default=os.environ.get("WORKBENCH_AGENT_TLS_KEY"),
                   help="its private key, if not in the certificate file (env WORKBENCH_AGENT_TLS_KEY)")
    p.add_argument("--no-listen", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(handler=run_agent)


def run_agent(args: argparse.Namespace) -> int:
    from workbench.agent.runner import Agent, AgentOptions, EventLog
    from workbench.store import Store

    log = EventLog(sys.stderr if not args.json_log else sys.stdout, json_lines=args.json_log)
    options = AgentOptions(bind=args.bind, tls_cert=args.tls_cert, tls_key=args.tls_key,
                           listen=not args.no_listen)
    agent = Agent(Store(), log=log, options=options)
    previous = _install_signals(agent)
    try:
        agent.start()
        try:
            if args.once:
                agent.run_once()
            else:
                agent.run()
        finally:
            agent.close()
    finally:
        _restore_signals(previous)
    return 0


def _install_signals(agent) -> dict:
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {}

    def stop(signum, _frame):
        agent.log("signal", name=signal.Signals(signum).name, action="finishing the batch in flight")
        agent.request_stop()

    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, stop)
    return previous


def _restore_signals(previous: dict) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)
