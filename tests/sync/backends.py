"""One store and one view of the mailboxes per backend, so a behaviour test runs the same steps on each (#14).

``make_backend_env(kind)`` builds a world from the demo seed (operators, CRM contacts, the seeded Exchange
contacts) served by ``kind``:

- ``fake``   the in-memory backend (``tests/fakes/memory_backend.py``), given to the engine the way the CLI
             gets any backend: ``workbench.backends.open_backend`` answers with it while this env is active;
- ``ews``    the sandbox over EWS (keystore, NTLM), configured as in ``exchange_env``;
- ``graph``  the same sandbox's Graph side (client secret, pinned CA), configured as in ``graph_env``.

The store is a copy of ``seeded_store_file``; ews and graph share one sandbox per module (``parity_sandbox``),
each test with a mailbox of its own that starts as the seed's mailbox of OP.

``BackendEnv`` drives the CLI (``workbench.cli.main``) and reads the outcome where it lives: the store, and the
mailbox as the server keeps it (the sandbox's own state or the memory backend's items, never our client).
Outlook edits are made there too, as a person's edits reach Exchange without our client.
"""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import workbench.backends as backends
from tests.conftest import configure_store
from tests.fakes.memory_backend import MemoryBackend
from tests.sync.conftest import item_row
from workbench.fields import CONTACT_FIELDS
from workbench.store import Store

KINDS = ("fake", "ews", "graph")
OP = "OP-004"
GRAPH_SERVICE_MAILBOX = "alice.jones@example.com"
#: the seed's contact keys -> the store's field names (the seed says company_name, as EWS does)
SEED_FIELDS = {f: ("company_name" if f == "company" else f) for f in CONTACT_FIELDS}
#: fields an Outlook edit may change on a sandbox item, and where the item keeps them
SANDBOX_TEXT = {"given_name": "GivenName", "surname": "Surname", "company": "CompanyName", "job_title": "JobTitle"}
PLACES = ("contacts", "deleted-items", "recoverable-items")
OPEN_BACKEND = backends.open_backend          # the real one, whatever an active fake env patched in


def comparable(row: dict[str, Any]) -> tuple:
    """An item as the tests compare it across backends: CRM id (those the CRM gave an Outlook-made contact are
    random, so only their kind), categories, private flag, the synced fields."""
    crm_id = row.get("crm_id")
    kind = "EXC-*" if crm_id and crm_id.startswith("EXC-") else crm_id
    return (kind, tuple(sorted(row.get("categories") or [])), bool(row.get("private")),
            *((row.get(f) or None) for f in CONTACT_FIELDS))


class MemoryMailboxes:
    """The in-memory organisation, loaded with the seed's mailboxes (primary addresses and aliases)."""

    def __init__(self, seed: dict[str, Any]) -> None:
        self.backend = MemoryBackend()
        for mb in seed["mailboxes"]:
            if mb.get("impersonation_denied"):
                continue                     # the memory backend has no impersonation: such a mailbox is absent
            box = self.backend.add_mailbox(mb["primary_address"])
            for alias in mb.get("aliases", ()):
                self.backend.mailboxes[alias.lower()] = box
            for c in mb["contacts"]:
                box.user_create(categories=c.get("categories") or [], private=bool(c.get("private")),
                                **{f: c.get(key) for f, key in SEED_FIELDS.items()})

    def _item(self, address: str, crm_id: str) -> dict[str, Any]:
        [item] = [i for i in self.backend.mailbox(address).items.values()
                  if i["folder"] == "contacts" and i.get("crm_id") == crm_id]
        return item

    def rows(self, address: str, place: str = "contacts") -> list[dict[str, Any]]:
        box = self.backend.mailbox(address)
        return [dict(box.items[i]) for i in box.in_folder(place)]

    def sent_subjects(self) -> list[str]:
        return [subject for _to, subject, _body in self.backend.sent]

    def edit(self, address: str, crm_id: str, **changes: Any) -> None:
        self.backend.mailbox(address).user_edit(self._item(address, crm_id)["item_id"], **changes)

    def trash(self, address: str, crm_id: str) -> None:
        self.backend.mailbox(address).user_delete(self._item(address, crm_id)["item_id"])

    def add(self, address: str, categories: list[str], **fields: Any) -> None:
        self.backend.mailbox(address).user_create(categories=categories, **fields)

    def reject(self, crm_id: str | None) -> None:
        for box in self.backend.mailboxes.values():
            box.faults.reject = {crm_id} if crm_id else set()


class SandboxMailboxes:
    """The sandbox's stored state (shared by its EWS and Graph sides); edits go through its store's own
    mutations, so change keys, sync states and Graph's immutable ids follow as for any client's edit."""

    def __init__(self, sandbox: Any, kind: str, service_mailbox: str) -> None:
        self.sandbox, self.kind, self.service_mailbox = sandbox, kind, service_mailbox
        self._sent_before = len(sandbox.mailbox(service_mailbox).sent_items)    # the sandbox is shared

    def rows(self, address: str, place: str = "contacts") -> list[dict[str, Any]]:
        view = self.sandbox.mailbox(address)
        folders = dict(zip(PLACES, (view.contacts, view.deleted_items, view.recoverable_items)))
        rows = [item_row(d) for d in folders[place]]
        if self.kind == "graph":            # the ids a Graph client knows the items by (immutable ids)
            with self.sandbox.store.lock:
                mb = self.sandbox.store.find_mailbox(address)
                for r in rows:
                    r["item_id"] = self.sandbox.graph.state.ids.immutable_entry_id(mb, r["item_id"])
        return rows

    def sent_subjects(self) -> list[str]:
        sent = self.sandbox.mailbox(self.service_mailbox).sent_items
        return [str(m.get("subject")) for m in sent[self._sent_before:]]

    def _item(self, address: str, crm_id: str):
        mb = self.sandbox.store.find_mailbox(address)
        [item] = [i for i in mb.by_name["contacts"].items.values() if crm_id in i.ext_values()]
        return mb, item

    def edit(self, address: str, crm_id: str, **changes: Any) -> None:
        with self.sandbox.store.lock:
            mb, item = self._item(address, crm_id)
            for name, value in changes.items():
                if name == "categories":
                    item.lists["Categories"] = list(value)
                else:
                    item.text[SANDBOX_TEXT[name]] = value
            mb.modified(item)

    def trash(self, address: str, crm_id: str) -> None:
        with self.sandbox.store.lock:
            mb, item = self._item(address, crm_id)
            mb.move(item, mb.by_name["deleteditems"])

    def add(self, address: str, categories: list[str], **fields: Any) -> None:
        from workbench.sandbox.sandbox import contact_from_seed
        data = {"display_name": " ".join(fields[k] for k in ("given_name", "surname") if fields.get(k)),
                "categories": categories, **{SEED_FIELDS[f]: v for f, v in fields.items()}}
        with self.sandbox.store.lock:
            mb = self.sandbox.store.find_mailbox(address)
            mb.create(mb.by_name["contacts"], contact_from_seed(data))

    def reject(self, crm_id: str | None) -> None:
        faults = self.sandbox.faults if self.kind == "ews" else self.sandbox.graph.faults
        code = "ErrorItemSave" if self.kind == "ews" else "ErrorInvalidProperty"
        faults.set(item_failures={crm_id: code} if crm_id else {})


@dataclass
class BackendEnv:
    kind: str
    store: Store
    mailboxes: MemoryMailboxes | SandboxMailboxes
    environ: dict[str, str]
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture
    item_rejected: str                       # the catalogue code of a per-item refusal on this backend
    sandbox: Any = None

    # --- driving it as a user does
    def activate(self) -> None:
        """Point the CLI at this env (its store, its secrets; for fake, its in-memory backend)."""
        for name, value in self.environ.items():
            self.monkeypatch.setenv(name, value)
        if self.kind == "fake":
            be = self.mailboxes.backend
            self.monkeypatch.setattr(backends, "open_backend", lambda settings, **kwargs: be)
        else:
            self.monkeypatch.setattr(backends, "open_backend", OPEN_BACKEND)

    def cli(self, *argv: str) -> tuple[int, str]:
        self.activate()
        self.capsys.readouterr()
        from workbench.cli import main
        rc = main(list(argv))
        captured = self.capsys.readouterr()
        assert "Traceback" not in captured.err and "INTERNAL" not in captured.err, captured.err
        return rc, captured.out

    def sync(self, *extra: str, operator: str = OP) -> dict[str, Any]:
        """``workbench sync run --operator OP --json``: the run's JSON (exit code checked by the caller's status)."""
        rc, out = self.cli("sync", "run", "--operator", operator, "--json", "--no-progress", *extra)
        data = json.loads(out)
        assert rc in (0, 1), (rc, out)
        return data

    def settings(self, **pairs: str) -> None:
        from workbench.store.settings_table import update
        update(self.store, pairs, source="test")

    # --- reading the outcome
    def address(self, operator: str = OP) -> str:
        return self.store.scalar("SELECT email FROM operators WHERE operator_id = ?", [operator])

    def items(self, operator: str = OP, place: str = "contacts") -> dict[str | None, dict[str, Any]]:
        """The mailbox's items in ``place`` by CRM id (uncategorised ones under None are left out)."""
        return {r["crm_id"]: r for r in self.mailboxes.rows(self.address(operator), place) if r["crm_id"]}

    def state(self, operator: str = OP) -> list[tuple]:
        """The mailbox's contacts as comparable rows, sorted: what "the same end state" compares."""
        return sorted((comparable(r) for r in self.mailboxes.rows(self.address(operator))), key=repr)

    def change_keys(self, operator: str = OP) -> dict[str, str]:
        return {r["item_id"]: r["change_key"] for r in self.mailboxes.rows(self.address(operator))}

    def linked(self, operator: str = OP, n: int = 6) -> list[str]:
        return [r[0] for r in self.store.rows("SELECT contact_id FROM links WHERE operator_id = ? AND contact_id "
                                              "LIKE 'CRM-%' ORDER BY contact_id LIMIT ?", [operator, n])]

    def on_team(self, contact_id: str, operator: str = OP) -> bool:
        return bool(self.store.scalar("SELECT count(*) FROM contact_team WHERE contact_id = ? AND operator_id = ?",
                                      [contact_id, operator]))

    def crm(self, contact_id: str, column: str) -> Any:
        return self.store.scalar(f"SELECT {column} FROM contacts WHERE contact_id = ?", [contact_id])

    def crm_set(self, contact_id: str, **values: Any) -> None:
        with self.store.write() as con:
            for k, v in values.items():
                con.execute(f"UPDATE contacts SET {k} = ?, updated_at = now() WHERE contact_id = ?", [v, contact_id])

    def assert_in_sync(self, operator: str = OP) -> None:
        """Every live team contact is in the mailbox once, with its content and the category; links point at
        items that are there; nothing else carries the category unsynced."""
        rows = self.mailboxes.rows(self.address(operator))
        ids = [r["crm_id"] for r in rows if r["crm_id"]]
        assert len(ids) == len(set(ids)), f"{self.kind}: a CRM id twice"
        team = self.store.df("SELECT c.* FROM contacts c JOIN contact_team t USING (contact_id) WHERE "
                             "t.operator_id = ? AND c.deleted_at IS NULL AND NOT c.private", [operator])
        team = team.astype(object).where(team.notna(), None).to_dict("records")
        by_id = {r["crm_id"]: r for r in rows if r["crm_id"]}
        for c in team:
            item = by_id.get(c["contact_id"])
            assert item is not None, f"{self.kind}: {c['contact_id']} missing in the mailbox"
            assert {f: c[f] or None for f in CONTACT_FIELDS} == {f: item[f] or None for f in CONTACT_FIELDS}
            assert "PegaSASync" in item["categories"]
        assert not [r for r in rows if "PegaSASync" in r["categories"] and not r["private"] and not r["crm_id"]]
        links = self.store.df("SELECT contact_id, item_id FROM links WHERE operator_id = ?", [operator])
        assert set(links["item_id"]) <= {r["item_id"] for r in rows}
        assert set(links["contact_id"]) == {c["contact_id"] for c in team}

    def assert_converged(self, operator: str = OP) -> None:
        """A new plan (``sync preview`` on a fresh snapshot) writes nothing; the mailbox is as it was."""
        before = self.change_keys(operator)
        rc, out = self.cli("sync", "preview", "--operator", operator, "--format", "json")
        assert rc == 0 and {r["action"] for r in json.loads(out)["summary"]} <= {"skip"}, out[:500]
        assert self.change_keys(operator) == before
        self.assert_in_sync(operator)


def shared_sandbox(tmp_path_factory: pytest.TempPathFactory, seed_dir: Path, schema_dir: Path) -> Any:
    """One sandbox serving EWS and Graph for a whole module (``parity_sandbox``); each test gets its own mailbox."""
    from tests.graph.conftest import in_scope
    from workbench.sandbox import Sandbox
    sb = Sandbox(state_dir=tmp_path_factory.mktemp("parity-sandbox"), seed=seed_dir, schema_dir=schema_dir,
                 graph=True).start()
    sb.add_mailbox(GRAPH_SERVICE_MAILBOX)
    in_scope(sb, GRAPH_SERVICE_MAILBOX)
    return sb


def _fresh_mailbox(sb: Any, kind: str, store: Store, seed: dict[str, Any]) -> None:
    """A new mailbox in the shared sandbox holding what the seed gives OP's, and OP pointed at it."""
    from tests.graph.conftest import in_scope
    original = store.scalar("SELECT email FROM operators WHERE operator_id = ?", [OP]).lower()
    [contacts] = [mb["contacts"] for mb in seed["mailboxes"] if original in (mb["primary_address"], *mb["aliases"])]
    address = f"{kind}.{secrets.token_hex(4)}@example.com"
    sb.add_mailbox(address, contacts=contacts)
    if kind == "graph":
        in_scope(sb, address)
    with store.write() as con:
        con.execute("UPDATE operators SET email = ? WHERE operator_id = ?", [address, OP])


def make_env(kind: str, request: pytest.FixtureRequest, workdir: Path, monkeypatch: pytest.MonkeyPatch,
             capsys: pytest.CaptureFixture) -> BackendEnv:
    from tests.conftest import copy_store
    seed_dir: Path = request.getfixturevalue("seed_dir")
    seed = json.loads((seed_dir / "exchange_seed.json").read_text(encoding="utf-8"))
    workdir.mkdir(parents=True)
    store = copy_store(request.getfixturevalue("seeded_store_file"), workdir / "workbench.duckdb")
    environ = {"WORKBENCH_STORE": str(workdir / "workbench.duckdb")}
    common = dict(store=store, monkeypatch=monkeypatch, capsys=capsys)
    if kind == "fake":
        from workbench.store.settings_table import update
        update(store, {"contact_integration": "true", "failure_recipients": "sales-ops@example.com"}, source="test")
        return BackendEnv(kind, mailboxes=MemoryMailboxes(seed), environ=environ, item_rejected="EWS_ITEM_REJECTED",
                          **common)
    sb = request.getfixturevalue("parity_sandbox")
    request.addfinalizer(sb.faults.clear)
    request.addfinalizer(sb.graph.faults.clear)
    _fresh_mailbox(sb, kind, store, seed)
    if kind == "ews":
        password = "ks-" + secrets.token_urlsafe(12)
        configure_store(store, sb, workdir, password)
        environ.update(WORKBENCH_KEYSTORE_PASSWORD=password, WORKBENCH_EWS_PASSWORD=sb.info.service_account.password)
        return BackendEnv(kind, mailboxes=SandboxMailboxes(sb, kind, sb.info.service_account.username),
                          environ=environ, item_rejected="EWS_ITEM_REJECTED", sandbox=sb, **common)
    from tests.graph.conftest import configure_graph_store
    configure_graph_store(store, sb, None)
    environ["WORKBENCH_GRAPH_CLIENT_SECRET"] = sb.info.graph["client_secret"]
    return BackendEnv(kind, mailboxes=SandboxMailboxes(sb, kind, GRAPH_SERVICE_MAILBOX), environ=environ,
                      item_rejected="GRAPH_ITEM_REJECTED", sandbox=sb, **common)


__all__ = ["KINDS", "OP", "PLACES", "BackendEnv", "comparable", "make_env"]
