"""`workbench contacts find|show` against a store synced with the sandbox (every kind of key), and bad input."""
from __future__ import annotations

import json
import unicodedata

import pytest

from workbench.cli import main
from workbench.sync.engine import run_sync


def plain(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if not unicodedata.combining(ch))


def find(capsys, text: str) -> list[dict]:
    capsys.readouterr()
    assert main(["contacts", "find", text, "--json", "--limit", "500"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def synced(env):
    run_sync(env.store)
    return env


def test_find_by_each_kind_of_key(synced, capsys):
    store = synced.store
    cid, given, surname, email, company, phone = store.rows(
        "SELECT contact_id, given_name, surname, email, company, business_phone FROM contacts "
        "WHERE given_name <> strip_accents(given_name) AND business_phone IS NOT NULL AND company IS NOT NULL "
        "AND contact_id IN (SELECT contact_id FROM links) ORDER BY contact_id LIMIT 1")[0]
    item_id = store.scalar("SELECT item_id FROM links WHERE contact_id = ? ORDER BY operator_id LIMIT 1", [cid])
    digits = "".join(ch for ch in phone if ch.isdigit())
    spaced_phone = f"+{digits[:2]} ({digits[2:4]}) {digits[4:7]}-{digits[7:]}"
    keys = {
        "name": plain(f"{given} {surname}").upper(),          # no accents, other case
        "e-mail": email.upper(),
        "company": plain(company).lower(),
        "phone": spaced_phone,                                  # other formatting, same digits
        "crm id": cid.lower(),
        "exchange item id": item_id,
    }
    for kind, text in keys.items():
        hits = {h["contact_id"]: h for h in find(capsys, text)}
        assert cid in hits, f"{kind}: {text!r} did not find {cid}"
        assert kind in hits[cid]["matched"].split(", "), (kind, text, hits[cid]["matched"])
    assert [h["contact_id"] for h in find(capsys, item_id)] == [cid]
    assert find(capsys, cid)[0]["contact_id"] == cid                     # the exact id first
    assert find(capsys, "no such contact anywhere") == []


def test_show_lays_the_sides_side_by_side(synced, capsys):
    from tests.sync.edits import edit
    from tests.sync.conftest import mailbox_of
    store = synced.store
    op, cid = store.rows("SELECT operator_id, contact_id FROM links ORDER BY operator_id, contact_id LIMIT 1")[0]
    edit(synced, mailbox_of(store, op), cid, job_title="Edited in Outlook")
    run_sync(store, [op], dry_run=True)              # a fresh snapshot, nothing written
    capsys.readouterr()
    assert main(["contacts", "show", cid, "--json"]) == 0
    story = json.loads(capsys.readouterr().out)
    box = next(m for m in story["mailboxes"] if m["operator_id"] == op)
    assert box["linked"] and box["differs"] == ["job_title"]
    row = next(f for f in box["fields"] if f["field"] == "job_title")
    assert row["exchange"] == "Edited in Outlook" and row["crm"] == story["crm"]["job_title"] and row["differs"]
    assert op in [t["operator_id"] for t in story["team"]]
    assert [a["action"] for a in story["next_actions"] if a["operator_id"] == op] == ["update-crm"]
    assert main(["contacts", "show", cid]) == 0
    text = capsys.readouterr().out
    assert "differs in job_title" in text and "next sync:" in text


@pytest.mark.parametrize("argv, code", [
    (["contacts", "find", "   "], "CONTACT_QUERY_INVALID"),
    (["contacts", "find", "x" * 201], "CONTACT_QUERY_INVALID"),
    (["contacts", "show", "CRM-NOPE"], "CONTACT_NOT_FOUND"),
])
def test_bad_input_names_the_value_and_exits_2(tmp_path, monkeypatch, capsys, argv, code):
    from workbench.store import Store
    monkeypatch.setenv("WORKBENCH_STORE", str(tmp_path / "workbench.duckdb"))
    with Store().write():
        pass                                       # a new, migrated, empty store
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{code}: ") and " — " in err and "Traceback" not in err


def test_export_takes_back_what_came_from_exchange(synced, capsys, tmp_path):
    from tests.sync.edits import edit
    from tests.sync.conftest import mailbox_of
    from workbench.csvio import read_csv
    store = synced.store
    op, cid = store.rows("SELECT operator_id, contact_id FROM links ORDER BY operator_id, contact_id LIMIT 1")[0]
    edit(synced, mailbox_of(store, op), cid, job_title="From Outlook")
    run = run_sync(store, [op])
    assert store.scalar("SELECT job_title FROM contacts WHERE contact_id = ?", [cid]) == "From Outlook"
    out = tmp_path / "from-exchange.csv"
    assert main(["contacts", "export", str(out), "--changed-since", str(run.run_id)]) == 0
    table = read_csv(out)
    rows = [dict(zip(table.header, values)) for _, values in table.rows]
    assert [(r["contact_id"], r["job_title"]) for r in rows] == [(cid, "From Outlook")]
    assert op in rows[0]["team"].split(";")
    assert main(["contacts", "export", str(out), "--source", "exchange"]) == 0
    table = read_csv(out)
    assert cid in [dict(zip(table.header, v))["contact_id"] for _, v in table.rows]
