"""Shared fixtures: a running sandbox Exchange and a workbench store configured against it.

- ``seed_dir``            (session) demo data for 6 operators / 60 contacts (operators.csv, contacts.csv,
                          exchange_seed.json), generated once into a temp dir; read-only for tests.
- ``make_sandbox``        factory: ``make_sandbox(seed=..., version=..., **Sandbox kwargs)`` -> running Sandbox,
                          stopped at teardown (exchangelib connections closed too).
- ``sandbox``             a running Sandbox seeded from ``seed_dir`` (Exchange2016, HTTPS).
- ``seeded_store_file``   (session) a store with the demo operators and contacts imported once; ``copy_store``.
- ``exchange_env``        sandbox + a fresh store in tmp_path configured the way a user does it: keystore via
                          fetch-cert + import (Python API), settings via ``settings_table.update``, operators and
                          contacts from ``seed_dir`` (a copy of ``seeded_store_file``), and WORKBENCH_EWS_PASSWORD /
                          WORKBENCH_KEYSTORE_PASSWORD / WORKBENCH_STORE set with monkeypatch. Yields ``ExchangeEnv``.
- ``close_ews_connections()`` drops exchangelib's cached protocols/sessions (``ews_clean`` is the fixture form).

Only fixtures that more than one test area needs live here; areas add theirs in their own conftest.py.
"""
from __future__ import annotations

import itertools
import json
import os
import secrets
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

DEMO_OPERATORS = 6
DEMO_CONTACTS = 60


def close_ews_connections() -> None:
    """exchangelib caches Protocol objects per (endpoint, credentials): close them between tests."""
    from exchangelib.protocol import close_connections
    close_connections()


#: ports handed out by ``free_port``: below Linux's ephemeral range (32768-60999), so no outgoing connection takes
#: one between the test's choice and the server's bind, and a slice of its own for each xdist worker
PORTS_FROM, PORTS_PER_WORKER = 20000, 1500
_next_port = itertools.count()


def free_port() -> int:
    """A loopback TCP port nobody listens on, and that nobody else is given: a port from the kernel's ephemeral
    range (bind to port 0) can be taken by an outgoing connection before the agent binds it, as in a CI run
    ("cannot listen on 127.0.0.1:43359: Address already in use")."""
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    first = PORTS_FROM + worker * PORTS_PER_WORKER
    for _ in range(PORTS_PER_WORKER):
        port = first + next(_next_port) % PORTS_PER_WORKER
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port in {first}-{first + PORTS_PER_WORKER - 1}")


@pytest.fixture
def ews_clean() -> Iterator[None]:
    close_ews_connections()
    yield
    close_ews_connections()


@pytest.fixture(scope="session")
def seed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from workbench.demodata import generate
    out = tmp_path_factory.mktemp("demo-seed")
    generate(out, operators=DEMO_OPERATORS, contacts=DEMO_CONTACTS)
    return out


def user_env() -> dict[str, str]:
    """The environment of a user who set nothing: no store, no password variable."""
    return {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}


def workbench(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python -m workbench ARGS`` run in ``root`` as that user."""
    return subprocess.run([sys.executable, "-m", "workbench", *args], cwd=root, env=env or user_env(),
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="session")
def demo_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    """`workbench demo --no-tui --json --dir demo` run once from a "repository root" by a user who set nothing
    (a usual umask: the private files must be 0600 all the same): (its summary, the root). Shared by
    tests/demo and the living demo, which run in xdist group "demo": one demo build for both (suite time)."""
    root = tmp_path_factory.mktemp("repo")
    (root / "notebooks").mkdir()
    umask = os.umask(0o022)
    try:
        done = workbench(root, "demo", "--no-tui", "--json", "--dir", "demo")
    finally:
        os.umask(umask)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), root


@pytest.fixture(scope="session")
def ews_schema_dir() -> Path:
    """The EWS schema every sandbox checks requests against; missing = a failing test, never a skip."""
    from tests.ews_schema import require_schema_dir
    return require_schema_dir()


@pytest.fixture
def make_sandbox(tmp_path: Path, seed_dir: Path, ews_schema_dir: Path) -> Iterator[Callable[..., Any]]:
    from workbench.sandbox import Sandbox
    started: list[Any] = []

    def make(seed: Path | None | str = "default", *, state_dir: Path | None = None, **kwargs: Any):
        use_seed = seed_dir if seed == "default" else seed
        state = state_dir or tmp_path / f"sandbox-{len(started) + 1}"
        kwargs.setdefault("schema_dir", ews_schema_dir)
        sb = Sandbox(state_dir=state, seed=use_seed, **kwargs).start()
        started.append(sb)
        return sb

    yield make
    close_ews_connections()
    for sb in reversed(started):
        sb.stop()


@pytest.fixture
def sandbox(make_sandbox: Callable[..., Any]):
    return make_sandbox()


@dataclass
class ExchangeEnv:
    store: Any                 # workbench.store.Store
    sandbox: Any               # workbench.sandbox.Sandbox
    info: Any                  # SandboxInfo (url, ca_cert, service_account, mailboxes, admin_url, version)
    seed_dir: Path
    workdir: Path
    keystore_path: Path
    keystore_password: str
    password: str              # the impersonation account's password (also in WORKBENCH_EWS_PASSWORD)

    def connect(self, **kwargs: Any):
        """An ExchangeConnection through the public API (passwords from the environment)."""
        from workbench.exchange.client import connect
        from workbench.store.settings_table import load
        return connect(load(self.store), **kwargs)

    def settings(self):
        from workbench.store.settings_table import load
        return load(self.store)


def load_operators(store: Any, csv_path: Path) -> None:
    """Operators from a demo operators.csv through the operators import service (add or update)."""
    from workbench.operators.csv_import import import_operators
    review = import_operators(store, csv_path, source="test-seed")
    assert review.written or review.failed == 0, f"operators import refused: {review.errors[:3]}"


def configure_store(store: Any, sandbox: Any, workdir: Path, keystore_password: str, *,
                    seed_dir: Path | None = None, alias: str = "exchange") -> Path:
    """What a user does: fetch the server certificate, import it into a new JKS, set the settings."""
    from workbench.exchange import keystore as ks
    from workbench.store import settings_table
    pem = ks.save_pem(ks.fetch_chain(sandbox.info.url), workdir / "exchange-server.pem")
    keystore_path = workdir / "exchange.jks"
    ks.import_certificate(pem, keystore_path, alias, keystore_password)
    settings_table.update(store, {
        "contact_integration": "true",
        "exchange_url": sandbox.info.url,
        "exchange_version": sandbox.info.version,
        "impersonation_account": sandbox.info.service_account.username,
        "keystore_path": str(keystore_path),
        "notification_url": f"http://127.0.0.1:{free_port()}/ews/notify",
        "failure_recipients": "sales-ops@example.com",
    }, source="test")
    if seed_dir is not None:
        from workbench.contacts_import import import_contacts
        load_operators(store, seed_dir / "operators.csv")
        import_contacts(store, seed_dir / "contacts.csv")
    return keystore_path


@pytest.fixture(scope="session")
def seeded_store_file(tmp_path_factory: pytest.TempPathFactory, seed_dir: Path) -> Path:
    """A store holding the demo operators and CRM contacts, loaded once through the import services; a test
    copies it (``copy_store``) instead of importing them again (suite time)."""
    from workbench.contacts_import import import_contacts
    from workbench.store import Store
    path = tmp_path_factory.mktemp("seeded-store") / "workbench.duckdb"
    store = Store(path)
    load_operators(store, seed_dir / "operators.csv")
    import_contacts(store, seed_dir / "contacts.csv")
    return path


def copy_store(template: Path, target: Path) -> Any:
    """A Store at ``target`` starting as a copy of the store file ``template`` (closed between operations; its
    modes kept: a store is born 0600)."""
    import shutil
    from workbench.store import Store
    for suffix in ("", ".wal"):
        source = template.with_name(template.name + suffix)
        if source.exists():
            shutil.copy2(source, target.with_name(target.name + suffix))
    return Store(target)


@pytest.fixture
def exchange_env(sandbox: Any, seed_dir: Path, seeded_store_file: Path, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> ExchangeEnv:
    workdir = tmp_path / "work"
    workdir.mkdir()
    store_path = workdir / "workbench.duckdb"
    keystore_password = "ks-" + secrets.token_urlsafe(12)
    monkeypatch.setenv("WORKBENCH_STORE", str(store_path))
    monkeypatch.setenv("WORKBENCH_KEYSTORE_PASSWORD", keystore_password)
    monkeypatch.setenv("WORKBENCH_EWS_PASSWORD", sandbox.info.service_account.password)
    store = copy_store(seeded_store_file, store_path)
    keystore_path = configure_store(store, sandbox, workdir, keystore_password)
    return ExchangeEnv(store=store, sandbox=sandbox, info=sandbox.info, seed_dir=seed_dir, workdir=workdir,
                       keystore_path=keystore_path, keystore_password=keystore_password,
                       password=sandbox.info.service_account.password)


@pytest.fixture
def configure_exchange_store() -> Callable[..., Path]:
    """``configure_exchange_store(store, sandbox, workdir, keystore_password, seed_dir=None)`` -> keystore path."""
    return configure_store
