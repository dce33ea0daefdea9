"""`workbench demo --serve [--dir DIR]`: the demo organisation's Exchange, back on its URL, until stopped.

For notebooks, the CLI and a dashboard started on the demo store after `workbench demo` has exited:
the same sandbox state (mailboxes and everything earlier runs wrote), the same certificate authority,
port and service password. Runs in the foreground; Ctrl-C or SIGTERM stop it cleanly (state saved).
"""
from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from workbench import demo_world
from workbench.errors import WorkbenchError


def serve(directory: Path, *, out=print) -> int:
    """Serve the demo Exchange of ``directory`` until SIGINT/SIGTERM. Exit code."""
    from workbench.demo import demo_exchange
    directory = directory.resolve()
    world = demo_world.load(directory)
    if world is None:
        raise WorkbenchError("DEMO_NOT_FOUND", f"--dir {directory}: no {demo_world.WORLD_FILE}")
    pid = demo_world.serving(directory)
    if pid is not None:
        raise WorkbenchError("DEMO_PORT_BUSY", f"{world.url()} is already served by `workbench demo --serve` "
                                               f"(pid {pid})")
    kept = demo_world.secrets_of(directory)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with demo_exchange(directory, world, kept.ews_password):
            demo_world.mark_serving(directory, world)
            try:
                out(f"demo Exchange  {world.url()}  ({world.version}) for the store {kept.store}", flush=True)
                if world.graph_url():
                    out(f"demo Graph     {world.graph_url()}  (the same mailboxes)", flush=True)
                out("Ctrl-C (or SIGTERM) stops it.", flush=True)
                stop.wait()
            finally:
                demo_world.unmark_serving(directory)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("demo Exchange stopped; its state is saved.", file=sys.stderr, flush=True)
    return 0
