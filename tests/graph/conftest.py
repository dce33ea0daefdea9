"""Fixtures for the Graph backend: the sandbox with its Graph side (same mailboxes as EWS) and a store set up
the way a user does it for ``backend=graph`` (settings through ``settings_table.update``, the client secret in
WORKBENCH_GRAPH_CLIENT_SECRET, trust pinned to the sandbox CA, operators and contacts from the demo seed)."""
from __future__ import annotations

import json
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from tests.conftest import copy_store, free_port, load_operators

REPO = Path(__file__).resolve().parents[2]
CSDL_FILE = Path(os.environ.get("GRAPH_SCHEMA_DIR", REPO.parent / "shared" / "graph-schema")) / "v1.0-csdl.xml"


@pytest.fixture(scope="session")
def referee():
    """The Graph CSDL; missing = a failing test, never a skip."""
    from workbench.sandbox.graph import csdl
    assert CSDL_FILE.is_file(), f"the Graph CSDL is needed at {CSDL_FILE} (or set GRAPH_SCHEMA_DIR)"
    return csdl.load(CSDL_FILE)


def check_bodies(captured: list[tuple[str, str, Any]], referee: Any) -> None:
    """Every JSON body the backend sent (and the sandbox answered) is valid against the Graph CSDL."""
    bad = [f"{d} {t}: {p[:3]} {json.dumps(b)[:300]}" for d, t, b in captured if (p := referee.check(t, b))]
    assert not bad, "JSON bodies not valid against the Graph CSDL:\n" + "\n".join(bad[:5])


@dataclass
class GraphEnv:
    store: Any
    sandbox: Any
    graph: dict[str, Any]       # the sandbox's Graph connection data
    workdir: Path

    def settings(self):
        from workbench.store.settings_table import load
        return load(self.store)

    def backend(self, **kwargs: Any):
        from workbench.backends import open_backend
        return open_backend(self.settings(), **kwargs)

    def http(self) -> httpx.Client:
        """A plain httpx client with the app's token, to look at the mailbox the way Graph shows it."""
        from workbench.graph.auth import TokenSource, resource_scope
        client = httpx.Client(verify=ssl.create_default_context(cafile=self.graph["ca_cert"]), trust_env=False,
                              base_url=self.graph["graph_url"] + "/", timeout=10)
        tokens = TokenSource(self.graph["authority"], self.graph["client_id"], self.graph["client_secret"],
                             resource_scope(self.graph["graph_url"]), client)
        client.headers["Authorization"] = tokens.bearer()
        return client


def graph_settings(sb: Any, *, certificate: bool = False) -> dict[str, str]:
    g = sb.info.graph
    host, tenant = g["authority"].rsplit("/", 1)
    pairs = {"backend": "graph", "graph_tenant_id": tenant, "graph_client_id": g["client_id"],
             "graph_authority_host": host, "graph_endpoint": g["graph_url"], "graph_ca_bundle": g["ca_cert"],
             "graph_service_mailbox": "alice.jones@example.com"}
    if certificate:
        pairs["graph_certificate_path"] = g["client_certificate"]
    return pairs


def configure_graph_store(store: Any, sb: Any, seed_dir: Path | None, **kwargs: Any) -> None:
    from workbench.store import settings_table
    settings_table.update(store, {
        "contact_integration": "true", "notification_url": f"https://127.0.0.1:{free_port()}/graph/notify",
        "failure_recipients": "sales-ops@example.com", **graph_settings(sb, **kwargs)}, source="test")
    if seed_dir is not None:
        from workbench.contacts_import import import_contacts
        load_operators(store, seed_dir / "operators.csv")
        import_contacts(store, seed_dir / "contacts.csv")


def healthy_operators(env) -> list[tuple[str, str]]:
    """Enabled operators whose mailbox exists, is open to EWS impersonation and in the Graph app's scope (the demo
    seed also holds departed users and denied mailboxes, on purpose)."""
    scope = set(env.sandbox.graph.default_app.scope or [])
    out = []
    for op, email in env.store.rows("SELECT operator_id, email FROM operators WHERE contact_sync ORDER BY 1"):
        box = env.sandbox.store.find_mailbox(email)
        if box is not None and not box.impersonation_denied and email.lower() in scope and box.primary == email:
            out.append((op, email))
    return out


def in_scope(sb: Any, *addresses: str) -> None:
    """Put mailboxes into the default app's RBAC scope."""
    app = sb.graph.default_app
    sb.graph.set_scope(app.client_id, [*(app.scope or []), *addresses])


@pytest.fixture
def graph_env(make_sandbox, seeded_store_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
              referee: Any) -> Iterator[GraphEnv]:
    sb = make_sandbox(graph=True, capture=True)
    sb.add_mailbox("alice.jones@example.com", aliases=["a.jones@example.com"])    # the service mailbox
    sb.add_mailbox("bob.smith@example.com")
    in_scope(sb, "alice.jones@example.com", "bob.smith@example.com")
    workdir = tmp_path / "work"
    workdir.mkdir()
    store_path = workdir / "workbench.duckdb"
    monkeypatch.setenv("WORKBENCH_STORE", str(store_path))
    monkeypatch.setenv("WORKBENCH_GRAPH_CLIENT_SECRET", sb.info.graph["client_secret"])
    for name in ("WORKBENCH_EWS_PASSWORD", "WORKBENCH_KEYSTORE_PASSWORD"):
        monkeypatch.delenv(name, raising=False)      # a Graph organisation needs neither
    store = copy_store(seeded_store_file, store_path)
    configure_graph_store(store, sb, None)
    yield GraphEnv(store, sb, sb.info.graph, workdir)
    check_bodies(sb.graph.captured, referee)


@pytest.fixture
def hybrid_env(make_sandbox, seeded_store_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
               configure_exchange_store, referee: Any) -> Iterator[GraphEnv]:
    """One sandbox serving the same mailboxes over EWS and Graph; the organisation on EWS (keystore, NTLM) with the
    Graph settings filled in, so operators can be moved to Graph one by one."""
    sb = make_sandbox(graph=True, capture=True)
    workdir = tmp_path / "work"
    workdir.mkdir()
    yield hybrid_world(sb, workdir, monkeypatch, seeded_store_file, configure_exchange_store)
    check_bodies(sb.graph.captured, referee)


def hybrid_world(sb: Any, workdir: Path, mp: pytest.MonkeyPatch, seeded_store_file: Path,
                 configure_exchange_store: Any) -> GraphEnv:
    """The hybrid organisation over a started sandbox: alice's mailbox in the app's scope, the secrets in the
    environment, a copy of the seeded store configured for EWS with the Graph settings filled in."""
    import secrets
    from workbench.store import settings_table
    sb.add_mailbox("alice.jones@example.com")
    in_scope(sb, "alice.jones@example.com")
    keystore_password = "ks-" + secrets.token_urlsafe(12)
    mp.setenv("WORKBENCH_STORE", str(workdir / "workbench.duckdb"))
    mp.setenv("WORKBENCH_KEYSTORE_PASSWORD", keystore_password)
    mp.setenv("WORKBENCH_EWS_PASSWORD", sb.info.service_account.password)
    mp.setenv("WORKBENCH_GRAPH_CLIENT_SECRET", sb.info.graph["client_secret"])
    store = copy_store(seeded_store_file, workdir / "workbench.duckdb")
    configure_exchange_store(store, sb, workdir, keystore_password)
    settings_table.update(store, {k: v for k, v in graph_settings(sb).items() if k != "backend"}, source="test")
    return GraphEnv(store, sb, sb.info.graph, workdir)
