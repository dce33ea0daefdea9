"""`workbench demo`: a demo organisation in ``--dir`` that lives on, against the sandbox Exchange.

The first run builds the world through the code paths a user runs (no shortcut into the tables):
the sandbox is started from ``data/exchange_seed.json``; the server certificate is fetched and
imported into a new JKS keystore (`workbench keystore fetch-cert` + `import --chain`); the settings
are written with ``settings_table.update`` (`workbench settings set`); operators and contacts come
from ``data/*.csv`` through the import services (`workbench operators import`, `contacts import`).

What it needs to come back is kept in the directory (``workbench.demo_world``): the sandbox's state
and certificate authority, the port, and the demo's throwaway passwords in the demo-only secrets file
(``workbench.demo_secrets``, never the store). A later run reopens the same world — the same Exchange
on the same URL with its mailboxes, the same store with its run history; ``--fresh`` rebuilds it.
The Exchange runs in-process for as long as the dashboard (or the pipeline) runs, unless
``workbench demo --serve`` already serves it: then that one is used.

Without a terminal, or with ``--no-tui``, the demo runs check -> verify -> preview -> sync and prints
a summary (``--json`` for scripts).
"""
from __future__ import annotations

import os
import secrets
import shutil
import socket
import sys
from collections import Counter
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

from workbench import demo_secrets, demo_world
from workbench.demo_world import KEYSTORE_FILE, SANDBOX_DIR, STORE_FILE, World
from workbench.errors import WorkbenchError
from workbench.store import Store

FAILURE_RECIPIENTS = "sales-ops@example.com"
# the demo Exchange is what on-premises customers run today: Exchange Server Subscription Edition
DEMO_VERSION = "ExchangeSE"
SERVICE_ACCOUNT = "svc-sync@example.com"


def data_dir() -> Path:
    """data/ of the working directory if present, else the one next to the package (a source checkout)."""
    here = Path("data")
    if (here / "exchange_seed.json").is_file():
        return here
    return Path(__file__).resolve().parents[1] / "data"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class DemoEnv:
    dir: Path
    store: Store
    sandbox: Any
    keystore_path: Path


def is_demo_store(path: Path) -> bool:
    """A store `workbench demo` made: its directory holds the demo's sandbox state beside it."""
    return path.name == STORE_FILE and (path.parent / SANDBOX_DIR).is_dir()


def fresh(directory: Path) -> None:
    """Remove what a previous demo left in ``directory`` (only the demo's own files)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in (STORE_FILE, STORE_FILE + ".wal", STORE_FILE + ".lock", KEYSTORE_FILE, "exchange-server.pem",
                 demo_world.WORLD_FILE, demo_world.SERVE_FILE, demo_secrets.FILE_NAME):
        (directory / name).unlink(missing_ok=True)
    shutil.rmtree(directory / SANDBOX_DIR, ignore_errors=True)


@contextmanager
def demo_exchange(directory: Path, world: World, ews_password: str) -> Iterator[Any]:
    """The world's Exchange: the one `workbench demo --serve` runs (yields None), else one started here.

    Started here it listens on the world's port with its state, CA and service password, and stops
    (saving its state) when the block ends.
    """
    from workbench.sandbox import Sandbox
    if demo_world.serving(directory) is not None:
        yield None
        return
    if demo_world.port_in_use(world.ews_port):
        raise WorkbenchError("DEMO_PORT_BUSY", f"127.0.0.1:{world.ews_port} is taken by another program")
    with Sandbox(state_dir=directory / SANDBOX_DIR, seed=data_dir(), version=world.version, port=world.ews_port,
                 password=ews_password, service_account=world.account) as sb:
        yield sb


def prepare(directory: Path, sandbox: Any, *, data: Path | None = None,
            say: Callable[[str], None] = lambda _m: None) -> DemoEnv:
    """Configure a fresh store in ``directory`` against a running ``sandbox``, as a user would.

    The demo's passwords go to the demo-only secrets file, then ``demo.json`` marks the world complete.
    """
    from workbench.contacts_import import import_contacts
    from workbench.exchange import keystore as ks
    from workbench.operators.csv_import import import_operators
    from workbench.store import settings_table

    data = data or data_dir()
    store = Store(directory / STORE_FILE)
    keystore_path = directory / KEYSTORE_FILE
    account = sandbox.info.service_account
    demo_secrets.write(directory, demo_secrets.DemoSecrets(
        store=str(store.path), keystore=str(keystore_path), account=account.username,
        keystore_password=secrets.token_urlsafe(12), ews_password=account.password))
    os.environ["WORKBENCH_STORE"] = str(store.path)      # this process works on the demo store from here on

    say(f"keystore: fetch the server certificate of {sandbox.info.url} and import it")
    pem = ks.save_pem(ks.fetch_chain(sandbox.info.url), directory / "exchange-server.pem")
    ks.import_certificate(pem, keystore_path, "exchange", demo_world.secrets_of(directory).keystore_password,
                          chain=True)

    say("settings: exchange_url, version, impersonation account, keystore, listener, recipients")
    settings_table.update(store, {
        "contact_integration": "true",
        "exchange_url": sandbox.info.url,
        "exchange_version": sandbox.info.version,
        "impersonation_account": account.username,
        "keystore_path": str(keystore_path),
        "notification_url": f"http://127.0.0.1:{_free_port()}/ews/notify",
        "failure_recipients": FAILURE_RECIPIENTS,
    }, source="demo")

    say(f"operators and contacts from {data}")
    review = import_operators(store, data / "operators.csv", source="demo")
    if not review.written and review.failed:
        raise WorkbenchError("CSV_INVALID", review.outcome())
    import_contacts(store, data / "contacts.csv")
    demo_world.save(directory, World(urlsplit(sandbox.info.url).port, sandbox.info.version, account.username))
    return DemoEnv(directory, store, sandbox, keystore_path)


@dataclass
class DemoSummary:
    check_ok: bool = False
    check_failed: list[str] = field(default_factory=list)
    verified: dict[str, int] = field(default_factory=dict)
    verify_problems: list[str] = field(default_factory=list)
    preview_writes: int = 0
    preview_actions: dict[str, int] = field(default_factory=dict)
    preview_errors: dict[str, str] = field(default_factory=dict)
    run_id: int | None = None
    run_status: str = ""
    planned: int = 0
    done: int = 0
    failed: int = 0
    mailboxes: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        out = [f"check:   {'✓ passed' if self.check_ok else '✗ failed'}"
               + (f" ({', '.join(self.check_failed)})" if self.check_failed else "")]
        out.append("verify:  " + ", ".join(f"{n} {s}" for s, n in sorted(self.verified.items())))
        out += [f"         ✗ {p}" for p in self.verify_problems]
        out.append(f"preview: {self.preview_writes} write(s): "
                   + ", ".join(f"{a} {n}" for a, n in sorted(self.preview_actions.items())))
        out += [f"         ✗ {op}: {e}" for op, e in sorted(self.preview_errors.items())]
        out.append(f"sync:    run {self.run_id} {self.run_status}: planned {self.planned}, done {self.done}, "
                   f"failed {self.failed}")
        bad = {op: s for op, s in self.mailboxes.items() if s not in ("ok", "dry-run")}
        out += [f"         {op}: {s}" for op, s in sorted(bad.items())]
        return out


def pipeline(store: Store, say: Callable[[str], None] = lambda _m: None) -> DemoSummary:
    """check -> verify -> preview -> sync, each through its service; the summary of what happened."""
    from workbench.checks import run_check
    from workbench.errors import WorkbenchError
    from workbench.operators.verify import verify_operators
    from workbench.sync.engine import run_sync
    from workbench.sync.preview import preview

    summary = DemoSummary()
    say("check: settings, endpoint, keystore, TLS, credentials, version, impersonation, listener")
    report = run_check(store, source="demo")
    summary.check_ok = report.ok
    summary.check_failed = [f"{s.step}: {s.code}" for s in report.failed]

    say("verify: every operator with contact sync on")
    checks = verify_operators(store)
    summary.verified = dict(Counter(c.status for c in checks))
    summary.verify_problems = [f"{c.operator_id} {c.status} ({c.code})" for c in checks if not c.ok]

    say("preview: snapshot every mailbox and plan")
    pv = preview(store)
    summary.preview_writes = len(pv.plan.writes)
    summary.preview_actions = {str(k): int(v) for k, v in pv.plan.writes["action"].value_counts().items()}
    summary.preview_errors = dict(pv.errors)

    say("sync: execute the plan in batches")
    try:
        result = run_sync(store, trigger="cli")
    except WorkbenchError as exc:
        summary.run_status = f"failed: {exc.headline()}"
        return summary
    summary.run_id, summary.run_status = result.run_id, result.status
    summary.planned, summary.done, summary.failed = result.planned, result.done, result.failed
    summary.mailboxes = {m.operator_id: m.status + (f" {m.code}" if m.code else "") for m in result.mailboxes}
    return summary


def run_demo(directory: str | Path, *, tui: bool | None = None, as_json: bool = False, rebuild: bool = False,
             out: Callable[[str], None] = print, note: Callable[[str], None] | None = None) -> int:
    """Reopen the demo world in ``directory`` (build it first when there is none, or ``rebuild``), then open
    the dashboard or run the pipeline. Exit code."""
    note = note or (lambda m: print(m, file=sys.stderr))
    directory = Path(directory).resolve()
    if tui is None:
        tui = sys.stdin.isatty() and sys.stdout.isatty()
    world = None if rebuild else demo_world.load(directory)
    if world is None:
        if not rebuild and (directory / STORE_FILE).exists():
            raise WorkbenchError("DEMO_INCOMPLETE", f"{directory}: a store without {demo_world.WORLD_FILE} "
                                 "(made by an older workbench)")
        fresh(directory)
        world = World(_free_port(), DEMO_VERSION, SERVICE_ACCOUNT)
        note(f"demo: a new demo organisation in {directory}; starting its Exchange (seed {data_dir()})")
        with demo_exchange(directory, world, secrets.token_urlsafe(18)) as sb:
            env = prepare(directory, sb, say=lambda m: note(f"demo: {m}"))
            return _show(env.store, tui, as_json, out, note, served_here=True)
    kept = demo_world.secrets_of(directory)
    os.environ["WORKBENCH_STORE"] = kept.store
    note(f"demo: reopening the demo organisation in {directory} ({world.url()}); --fresh rebuilds it")
    with demo_exchange(directory, world, kept.ews_password) as sb:
        return _show(Store(kept.store), tui, as_json, out, note, served_here=sb is not None)


def _show(store: Store, tui: bool, as_json: bool, out: Callable[[str], None], note: Callable[[str], None], *,
          served_here: bool) -> int:
    """The dashboard on the demo store, or the pipeline and its summary. Exit code."""
    if tui:
        from workbench.ui import run_dashboard
        where = "in-process" if served_here else "served by `workbench demo --serve`"
        run_dashboard(store, banner=f"demo · sandbox Exchange {where}")
        note(f"demo: the world stays in {store.path.parent}; `make demo` reopens it, `workbench demo --serve "
             f"--dir {store.path.parent}` brings its Exchange back for notebooks and the CLI")
        return 0
    summary = pipeline(store, say=lambda m: note(f"demo: {m}"))
    if as_json:
        import json
        out(json.dumps({"dir": str(store.path.parent), "store": str(store.path), **summary.to_dict()}, indent=2))
    else:
        for line in summary.lines():
            out(line)
        out(f"store:   {store.path}")
    return 0 if summary.run_id is not None and summary.run_status in ("ok", "partial") else 1
