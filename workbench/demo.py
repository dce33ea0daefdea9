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

The demo organisation is hybrid: its Exchange serves the same mailboxes over EWS and Microsoft Graph; the
organisation's ``backend`` is EWS and ``GRAPH_OPERATORS`` are on Graph from the start (`workbench operators
backend`, before their first sync), with the Graph settings (tenant, app, the sandbox CA pinned) and the app's
client secret in the demo-only secrets file. ``notification_url`` is https (Graph calls nothing else): the agent
listens with the sandbox's loopback certificate (``LISTENER_CERT``, ``LISTENER_KEY``).

Without a terminal, or with ``--no-tui``, the demo runs check -> verify -> preview -> sync and prints
a summary (``--json`` for scripts); the first run then moves ``MOVED_OPERATOR`` from EWS to Graph
(`workbench operators move`, journaled) and syncs it again on Graph.
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
#: healthy operators of data/ served by Graph from the start, and the one moved there after the first sync
GRAPH_OPERATORS = ("OP-004", "OP-005")
MOVED_OPERATOR = "OP-007"
#: the sandbox's loopback server certificate (its CA is pinned as graph_ca_bundle), for the agent's listener
LISTENER_CERT = f"{SANDBOX_DIR}/sandbox-server.pem"
LISTENER_KEY = f"{SANDBOX_DIR}/sandbox-server.key"


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
                 password=ews_password, service_account=world.account, graph=bool(world.graph_port),
                 graph_port=world.graph_port) as sb:
        yield sb


def prepare(directory: Path, sandbox: Any, *, data: Path | None = None,
            say: Callable[[str], None] = lambda _m: None) -> DemoEnv:
    """Configure a fresh store in ``directory`` against a running ``sandbox``, as a user would.

    The demo's passwords go to the demo-only secrets file, then ``demo.json`` marks the world complete.
    """
    from workbench.contacts_import import import_contacts
    from workbench.exchange import keystore as ks
    from workbench.operators.backend_choice import set_backend
    from workbench.operators.csv_import import import_operators
    from workbench.store import settings_table

    data = data or data_dir()
    store = Store(directory / STORE_FILE)
    keystore_path = directory / KEYSTORE_FILE
    account, graph = sandbox.info.service_account, sandbox.info.graph
    demo_secrets.write(directory, demo_secrets.DemoSecrets(
        store=str(store.path), keystore=str(keystore_path), account=account.username,
        keystore_password=secrets.token_urlsafe(12), ews_password=account.password,
        graph_client_id=graph["client_id"], graph_client_secret=graph["client_secret"]))
    os.environ["WORKBENCH_STORE"] = str(store.path)      # this process works on the demo store from here on

    say(f"keystore: fetch the server certificate of {sandbox.info.url} and import it")
    pem = ks.save_pem(ks.fetch_chain(sandbox.info.url), directory / "exchange-server.pem")
    ks.import_certificate(pem, keystore_path, "exchange", demo_world.secrets_of(directory).keystore_password,
                          chain=True)

    say("settings: backend ews, exchange_url, version, impersonation account, keystore, listener, recipients; "
        "the Graph app (tenant, client id, sandbox CA)")
    settings_table.update(store, {
        "contact_integration": "true",
        "backend": "ews",
        "exchange_url": sandbox.info.url,
        "exchange_version": sandbox.info.version,
        "impersonation_account": account.username,
        "keystore_path": str(keystore_path),
        "notification_url": f"https://127.0.0.1:{_free_port()}/notify",
        "failure_recipients": FAILURE_RECIPIENTS,
        **graph_settings(graph, account.username),
    }, source="demo")

    say(f"operators and contacts from {data}; {', '.join(GRAPH_OPERATORS)} on Graph")
    review = import_operators(store, data / "operators.csv", source="demo")
    if not review.written and review.failed:
        raise WorkbenchError("CSV_INVALID", review.outcome())
    set_backend(store, GRAPH_OPERATORS, "graph", source="demo")
    import_contacts(store, data / "contacts.csv")
    demo_world.save(directory, World(urlsplit(sandbox.info.url).port, sandbox.info.version, account.username,
                                     urlsplit(graph["graph_url"]).port))
    return DemoEnv(directory, store, sandbox, keystore_path)


def graph_settings(graph: dict[str, Any], service_mailbox: str) -> dict[str, str]:
    """The Graph settings for the sandbox's Graph (``SandboxInfo.graph``): its tenant, app, endpoint and CA."""
    host, tenant = graph["authority"].rsplit("/", 1)
    return {"graph_tenant_id": tenant, "graph_client_id": graph["client_id"], "graph_authority_host": host,
            "graph_endpoint": graph["graph_url"], "graph_ca_bundle": graph["ca_cert"],
            "graph_service_mailbox": service_mailbox}


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
    backends: dict[str, int] = field(default_factory=dict)     # enabled operators per backend serving them
    move: str = ""                   # the first run's move of MOVED_OPERATOR to Graph, then its sync on Graph
    move_run_id: int | None = None
    move_run_status: str = ""

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
        if self.move:
            out.append(f"move:    {self.move}; sync run {self.move_run_id} {self.move_run_status}")
        out.append("backends: " + ", ".join(f"{k} {n}" for k, n in sorted(self.backends.items()))
                   + " enabled operators")
        return out


def pipeline(store: Store, say: Callable[[str], None] = lambda _m: None, *, move: str | None = None) -> DemoSummary:
    """check -> verify -> preview -> sync, each through its service (then ``move``: that operator to Graph and its
    sync there); the summary of what happened."""
    from workbench.checks import pick_operator, run_check
    from workbench.errors import WorkbenchError
    from workbench.operators.verify import verify_operators
    from workbench.settings import BACKENDS
    from workbench.store.settings_table import stored_values
    from workbench.sync.engine import run_sync
    from workbench.sync.preview import preview

    summary = DemoSummary()
    say("check: settings, endpoint, keystore, TLS, credentials, version, impersonation, listener; in a hybrid "
        "organisation also the other backend's checklist for an operator on it")
    reports = [run_check(store, source="demo")]
    for kind in sorted(set(BACKENDS) - {stored_values(store)["backend"]}):     # a hybrid's other backend
        other = pick_operator(store, None, kind)
        if other is not None:
            reports.append(run_check(store, operator_id=other[0], source="demo"))
    summary.check_ok = all(r.ok for r in reports)
    summary.check_failed = [f"{s.step}: {s.code}" for r in reports for s in r.failed]

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
    if move:
        _move_to_graph(store, move, summary, say)
    summary.backends = _enabled_per_backend(store)
    return summary


def _move_to_graph(store: Store, op: str, summary: DemoSummary, say: Callable[[str], None]) -> None:
    """`operators move OP --to graph` (ids translated, journaled), then `sync run --operator OP` on Graph."""
    from workbench.operators.move import move_operators
    from workbench.sync.engine import run_sync
    say(f"move: {op} from EWS to Graph (its item ids translated), then sync it on Graph")
    try:
        moved, = move_operators(store, [op], "graph", source="demo")
        summary.move = moved.describe(dry_run=False)
        if moved.code:                  # nothing was written for it: do not sync it on Graph
            raise WorkbenchError(moved.code, moved.detail)
        result = run_sync(store, [op], trigger="cli")
    except WorkbenchError as exc:
        summary.move = summary.move or f"{op}: move failed"
        summary.move_run_status = f"failed: {exc.headline()}"
        return
    summary.move_run_id, summary.move_run_status = result.run_id, result.status


def _enabled_per_backend(store: Store) -> dict[str, int]:
    from workbench.readmodels.operators import backend_counts
    return {row.backend: int(row.enabled) for row in backend_counts(store).itertuples()}


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
        world = World(_free_port(), DEMO_VERSION, SERVICE_ACCOUNT, _free_port())
        note(f"demo: a new demo organisation in {directory}; starting its Exchange (seed {data_dir()})")
        with demo_exchange(directory, world, secrets.token_urlsafe(18)) as sb:
            env = prepare(directory, sb, say=lambda m: note(f"demo: {m}"))
            return _show(env.store, tui, as_json, out, note, served_here=True, move=MOVED_OPERATOR)
    kept = demo_world.secrets_of(directory)
    os.environ["WORKBENCH_STORE"] = kept.store
    note(f"demo: reopening the demo organisation in {directory} ({world.url()}); --fresh rebuilds it")
    with demo_exchange(directory, world, kept.ews_password) as sb:
        return _show(Store(kept.store), tui, as_json, out, note, served_here=sb is not None)


def _agent_hint(directory: Path) -> str:
    """How to run the agent on the demo (its https listener with the sandbox's loopback certificate)."""
    return (f"demo: the agent (EWS and Graph push), while its Exchange runs: workbench --store "
            f"{directory / STORE_FILE} agent --tls-cert {directory / LISTENER_CERT} "
            f"--tls-key {directory / LISTENER_KEY}")


def _show(store: Store, tui: bool, as_json: bool, out: Callable[[str], None], note: Callable[[str], None], *,
          served_here: bool, move: str | None = None) -> int:
    """The dashboard on the demo store, or the pipeline (``move``: see ``pipeline``) and its summary. Exit code."""
    if tui:
        from workbench.ui import run_dashboard
        where = "in-process" if served_here else "served by `workbench demo --serve`"
        run_dashboard(store, banner=f"demo · sandbox Exchange {where}")
        note(f"demo: the world stays in {store.path.parent}; `make demo` reopens it, `workbench demo --serve "
             f"--dir {store.path.parent}` brings its Exchange back for notebooks and the CLI")
        note(_agent_hint(store.path.parent))
        return 0
    summary = pipeline(store, say=lambda m: note(f"demo: {m}"), move=move)
    if as_json:
        import json
        out(json.dumps({"dir": str(store.path.parent), "store": str(store.path), **summary.to_dict()}, indent=2))
    else:
        for line in summary.lines():
            out(line)
        out(f"store:   {store.path}")
        note(_agent_hint(store.path.parent))
    moved_ok = not move or summary.move_run_status in ("ok", "partial")
    return 0 if summary.run_id is not None and summary.run_status in ("ok", "partial") and moved_ok else 1
