"""``workbench sandbox [--port N] [--state-dir DIR] [--http] [--version V] [--seed DIR]`` (foreground)."""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from .sandbox import INFO_FILE, Sandbox
from .service import VERSIONS


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="workbench sandbox",
                                description="Run the sandbox Exchange (EWS over HTTPS + NTLM on 127.0.0.1).")
    p.add_argument("--port", type=int, default=0, help="EWS port (default: a free port)")
    p.add_argument("--admin-port", type=int, default=0, help="admin endpoint port (default: a free port)")
    p.add_argument("--state-dir", type=Path, default=Path(".sandbox"), help="state directory (default: .sandbox)")
    p.add_argument("--http", action="store_true", help="plain HTTP instead of HTTPS")
    p.add_argument("--version", choices=list(VERSIONS), default="Exchange2016",
                   help="Exchange version to emulate (its build and accepted RequestServerVersion values)")
    p.add_argument("--seed", type=Path, help="directory holding exchange_seed.json (or the file itself)")
    p.add_argument("--schema-dir", type=Path, help="EWS schema (messages.xsd, types.xsd) every request is checked "
                                                   "against (default: $EWS_SCHEMA_DIR, then ../shared/ews-schema)")
    p.add_argument("--graph", action="store_true",
                   help="also run the local Microsoft Graph (contacts) over the same mailboxes")
    p.add_argument("--graph-port", type=int, default=0, help="Graph port (default: a free port)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.seed is not None and not args.seed.exists():
        print(f"seed not found: {args.seed}", file=sys.stderr)
        return 2
    if args.schema_dir is not None and not (args.schema_dir / "messages.xsd").is_file():
        print(f"no EWS schema (messages.xsd) in --schema-dir {args.schema_dir}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        sandbox = Sandbox(args.state_dir, seed=args.seed, version=args.version, http=args.http, port=args.port,
                          admin_port=args.admin_port, schema_dir=args.schema_dir, graph=args.graph,
                          graph_port=args.graph_port).start()
    except (OSError, ValueError, KeyError) as exc:
        print(f"sandbox could not start: {exc}", file=sys.stderr)
        return 1
    info = sandbox.info
    build = ".".join(map(str, VERSIONS[info.version][0]))
    print(f"EWS endpoint     {info.url}  ({info.version}, build {build})")
    print(f"service account  {info.service_account.username}  (password in {args.state_dir / INFO_FILE})")
    print(f"CA certificate   {info.ca_cert or '-- plain HTTP --'}")
    print(f"admin endpoint   {info.admin_url}")
    print(f"mailboxes        {len(info.mailboxes)}")
    print(f"schema check     {info.schema_dir or 'off -- no EWS schema found (use --schema-dir)'}")
    if info.graph:
        print(f"Graph endpoint   {info.graph['graph_url']}")
        print(f"Graph authority  {info.graph['authority']}  (app {info.graph['client_id']}, secret in "
              f"{args.state_dir / INFO_FILE})")
        print(f"Graph admin      {info.graph['admin_url']}")
    print("Ctrl-C stops the sandbox.", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        sandbox.stop()
        print("sandbox stopped; state saved.", flush=True)
    return 0
