"""`workbench demo`: a fresh demo store against the in-process sandbox Exchange, then the dashboard.

Everything is set up through the code paths a user runs (no shortcut into the tables):
the sandbox is started from ``data/exchange_seed.json``; the server certificate is fetched and
imported into a new JKS keystore (`workbench keystore fetch-cert` + `import --chain`); the settings
are written with ``settings_table.update`` (`workbench settings set`); operators and contacts come
from ``data/*.csv`` through the import services (`workbench operators import`, `contacts import`).

The impersonation password (the sandbox's random one) and the keystore password are put into
``WORKBENCH_EWS_PASSWORD`` / ``WORKBENCH_KEYSTORE_PASSWORD`` of this process only; they are never
written to the store. The sandbox runs in-process for as long as the dashboard (or the pipeline) runs.

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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from workbench.store import Store

STORE_FILE = "workbench.duckdb"
KEYSTORE_FILE = "exchange.jks"
SANDBOX_DIR = "sandbox"
FAILURE_RECIPIENTS = "sales-ops@example.com"


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
    for name in (STORE_FILE, STORE_FILE + ".wal", KEYSTORE_FILE, "exchange-server.pem"):
        (directory / name).unlink(missing_ok=True)
    shutil.rmtree(directory / SANDBOX_DIR, ignore_errors=True)


def prepare(directory: Path, sandbox: Any, *, data: Path | None = None,
            say: Callable[[str], None] = lambda _m: None) -> DemoEnv:
    """Configure a fresh store in ``directory`` against a running ``sandbox``, as a user would."""
    from workbench.contacts_import import import_contacts
    from workbench.exchange import keystore as ks
    from workbench.operators.csv_import import import_operators
    from workbench.store import settings_table

    data = data or data_dir()
    store = Store(directory / STORE_FILE)
    keystore_password = secrets.token_urlsafe(12)
    os.environ["WORKBENCH_KEYSTORE_PASSWORD"] = keystore_password
    os.environ["WORKBENCH_EWS_PASSWORD"] = sandbox.info.service_account.password
    os.environ["WORKBENCH_STORE"] = str(store.path)

    say(f"keystore: fetch the server certificate of {sandbox.info.url} and import it")
    pem = ks.save_pem(ks.fetch_chain(sandbox.info.url), directory / "exchange-server.pem")
    keystore_path = directory / KEYSTORE_FILE
    ks.import_certificate(pem, keystore_path, "exchange", keystore_password, chain=True)

    say("settings: exchange_url, version, impersonation account, keystore, listener, recipients")
    settings_table.update(store, {
        "contact_integration": "true",
        "exchange_url": sandbox.info.url,
        "exchange_version": sandbox.info.version,
        "impersonation_account": sandbox.info.service_account.username,
        "keystore_path": str(keystore_path),
        "notification_url": f"http://127.0.0.1:{_free_port()}/ews/notify",
        "failure_recipients": FAILURE_RECIPIENTS,
    }, source="demo")

    say(f"operators and contacts from {data}")
    review = import_operators(store, data / "operators.csv", source="demo")
    if not review.written and review.failed:
        from workbench.errors import WorkbenchError
        raise WorkbenchError("CSV_INVALID", review.outcome())
    import_contacts(store, data / "contacts.csv")
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


def run_demo(directory: str | Path, *, tui: bool | None = None, as_json: bool = False,
             out: Callable[[str], None] = print, note: Callable[[str], None] | None = None) -> int:
    """Build the demo in ``directory`` and open the dashboard (or run the pipeline). Exit code."""
    from workbench.sandbox import Sandbox

    note = note or (lambda m: print(m, file=sys.stderr))
    directory = Path(directory).resolve()
    if tui is None:
        tui = sys.stdin.isatty() and sys.stdout.isatty()
    fresh(directory)
    note(f"demo: fresh store in {directory}; starting the sandbox Exchange (seed {data_dir()})")
    # the demo Exchange is what on-premises customers run today: Exchange Server Subscription Edition
    with Sandbox(state_dir=directory / SANDBOX_DIR, seed=data_dir(), version="ExchangeSE") as sb:
        env = prepare(directory, sb, say=lambda m: note(f"demo: {m}"))
        if tui:
            from workbench.ui import run_dashboard
            run_dashboard(env.store, banner="sandbox Exchange in-process")
            note(f"demo: the store stays in {env.store.path}; `workbench --store {env.store.path} dashboard` "
                 "reopens it (the sandbox stops with the demo)")
            return 0
        summary = pipeline(env.store, say=lambda m: note(f"demo: {m}"))
    if as_json:
        import json
        out(json.dumps({"dir": str(directory), "store": str(env.store.path), **summary.to_dict()}, indent=2))
    else:
        for line in summary.lines():
            out(line)
        out(f"store:   {env.store.path}")
    return 0 if summary.run_id is not None and summary.run_status in ("ok", "partial") else 1
