"""What a demo directory keeps so the same demo organisation can be brought back.

``<dir>/demo.json`` (no secrets): the port and version of the demo Exchange, its service account and the port
of its Microsoft Graph (the demo is a hybrid organisation: EWS and Graph over the same mailboxes).
Beside it: the store, the keystore, the sandbox's own state directory (mailboxes, its certificate
authority, sandbox.json) and the demo-only secrets file (``workbench.demo_secrets``). While
``workbench demo --serve`` runs, ``<dir>/serve.json`` names its process and URL, so another demo
command uses that Exchange instead of starting a second one on the same port.
"""
from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

from workbench import demo_secrets
from workbench.errors import WorkbenchError

WORLD_FILE = "demo.json"
SERVE_FILE = "serve.json"
STORE_FILE = "workbench.duckdb"
KEYSTORE_FILE = "exchange.jks"
SANDBOX_DIR = "sandbox"
KEPT = (STORE_FILE, KEYSTORE_FILE, demo_secrets.FILE_NAME, f"{SANDBOX_DIR}/state.json", f"{SANDBOX_DIR}/sandbox-ca.pem")
GRAPH_KEPT = (f"{SANDBOX_DIR}/graph.json",)     # the Graph app (tenant, client id and secret), ids, subscriptions


@dataclass(frozen=True)
class World:
    ews_port: int
    version: str
    account: str
    graph_port: int = 0          # 0: a world made before the demo ran Graph (EWS only)

    def url(self) -> str:
        return f"https://127.0.0.1:{self.ews_port}/EWS/Exchange.asmx"

    def graph_url(self) -> str | None:
        return f"https://127.0.0.1:{self.graph_port}/v1.0" if self.graph_port else None


def save(directory: Path, world: World) -> None:
    from workbench.files import write_private
    write_private(directory / WORLD_FILE, (json.dumps(asdict(world), indent=2) + "\n").encode("utf-8"))


def load(directory: Path) -> World | None:
    """The world kept in ``directory``; None when there is none. DEMO_INCOMPLETE when it cannot be reopened."""
    path = directory / WORLD_FILE
    if not path.is_file():
        return None
    try:
        world = World(**json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError) as exc:
        raise WorkbenchError("DEMO_INCOMPLETE", f"{path}: unreadable ({type(exc).__name__})") from None
    missing = [name for name in (*KEPT, *(GRAPH_KEPT if world.graph_port else ())) if not (directory / name).is_file()]
    if missing:
        raise WorkbenchError("DEMO_INCOMPLETE", f"{directory}: missing {', '.join(missing)}")
    return world


def secrets_of(directory: Path) -> demo_secrets.DemoSecrets:
    found = demo_secrets.for_store(directory / STORE_FILE)
    if found is None:
        raise WorkbenchError("DEMO_INCOMPLETE", f"{directory}: no {demo_secrets.FILE_NAME}")
    return found


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) == 0


def serving(directory: Path) -> int | None:
    """The PID of the `workbench demo --serve` that serves this world right now, else None."""
    try:
        data = json.loads((directory / SERVE_FILE).read_text(encoding="utf-8"))
        pid, port = int(data["pid"]), int(data["port"])
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return pid if port_in_use(port) else None


def mark_serving(directory: Path, world: World) -> None:
    from workbench.files import write_private
    data = {"pid": os.getpid(), "port": world.ews_port, "url": world.url()}
    write_private(directory / SERVE_FILE, (json.dumps(data) + "\n").encode("utf-8"))


def unmark_serving(directory: Path) -> None:
    (directory / SERVE_FILE).unlink(missing_ok=True)
