"""`workbench contacts import` and the demo data generator."""
from __future__ import annotations

import csv
import json

import pytest

from workbench.cli import main
from workbench.demodata import generate
from workbench.store import Store, now


@pytest.fixture
def store(tmp_path, monkeypatch):
    path = tmp_path / "wb.duckdb"
    monkeypatch.setenv("WORKBENCH_STORE", str(path))
    store = Store(path)
    with store.write() as con:
        for op in ("OP-001", "OP-002"):
            con.execute("INSERT INTO operators VALUES (?, ?, ?, true, ?, 'test')", [op, op, f"{op}@example.com", now()])
    return store


HEADER = "contact_id,given_name,surname,email,business_phone,company,private,team\n"


def test_import_loads_contacts_and_team(store, tmp_path, capsys):
    f = tmp_path / "c.csv"
    f.write_text(HEADER + 'CRM-1,Zoë,Müller,zoe@x.test,,"Acme, Inc.",false,OP-001;OP-002\n'
                          "CRM-2,Raj,Patel,,+1 555,Globex,yes,OP-002\n", encoding="utf-8")
    assert main(["contacts", "import", str(f)]) == 0
    assert "imported 2 contacts, 3 team memberships" in capsys.readouterr().out
    rows = store.rows("SELECT contact_id, given_name, company, email, private FROM contacts ORDER BY 1")
    assert rows == [("CRM-1", "Zoë", "Acme, Inc.", "zoe@x.test", False), ("CRM-2", "Raj", "Globex", None, True)]
    assert store.scalar("SELECT count(*) FROM contact_team") == 3


def test_bad_rows_are_all_reported_with_line_numbers_and_nothing_is_written(store, tmp_path, capsys):
    f = tmp_path / "c.csv"
    f.write_text(HEADER + "CRM-1,A,B,not-an-email,,,false,OP-001\n"
                          "CRM-2,A,B,,,,perhaps,OP-001\n"
                          "CRM-3,A,B,,,,false,OP-999\n"
                          "CRM-3,A,B,,,,false,OP-001\n", encoding="utf-8")
    assert main(["contacts", "import", str(f)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("CSV_INVALID")
    assert "line 2: email='not-an-email'" in err
    assert "line 3: private='perhaps'" in err
    assert "line 4: team='OP-999' is not a known operator id" in err
    assert "line 5: contact_id='CRM-3' already on line 4" in err
    assert store.scalar("SELECT count(*) FROM contacts") == 0


def test_missing_column_and_missing_file(store, tmp_path, capsys):
    f = tmp_path / "c.csv"
    f.write_text("contact_id,given_name\nCRM-1,A\n")
    assert main(["contacts", "import", str(f)]) == 2
    err = capsys.readouterr().err
    assert all(f"column {c}: required column missing" in err for c in ("surname", "email", "team"))
    assert main(["contacts", "import", str(tmp_path / "nope.csv")]) == 2
    assert "FILE_NOT_FOUND" in capsys.readouterr().err


def test_generator_writes_varied_data_at_the_requested_size(tmp_path):
    generate(tmp_path, operators=30, contacts=500)
    with open(tmp_path / "operators.csv", encoding="utf-8") as fh:
        ops = list(csv.DictReader(fh))
    with open(tmp_path / "contacts.csv", encoding="utf-8") as fh:
        contacts = list(csv.DictReader(fh))
    seed = json.loads((tmp_path / "exchange_seed.json").read_text(encoding="utf-8"))
    assert len(ops) == 30 and len(contacts) == 500
    assert any(not c["business_phone"] for c in contacts)
    assert any(c["private"] == "true" for c in contacts)
    assert any(any(ord(ch) > 127 for ch in c["surname"]) for c in contacts)
    assert max(len(c["company"]) for c in contacts) > 60
    emails = [c["email"] for c in contacts if c["email"]]
    assert len(emails) - len(set(emails)) == 1                       # exactly one shared address
    mailboxes = {m["primary_address"]: m for m in seed["mailboxes"]}
    assert ops[1]["email"] not in mailboxes                          # the operator without a mailbox
    assert ops[0]["email"] in mailboxes[next(a for a in mailboxes if ops[0]["email"] in mailboxes[a]["aliases"])]["aliases"]
    assert sum(m["impersonation_denied"] for m in seed["mailboxes"]) == 1
    generate(tmp_path / "again", operators=30, contacts=500)
    assert (tmp_path / "again" / "contacts.csv").read_bytes() == (tmp_path / "contacts.csv").read_bytes()


def test_committed_demo_data_is_what_the_generator_writes(tmp_path):
    from pathlib import Path
    repo_data = Path(__file__).resolve().parents[2] / "data"
    generate(tmp_path)
    for name in ("operators.csv", "contacts.csv", "exchange_seed.json"):
        assert (tmp_path / name).read_bytes() == (repo_data / name).read_bytes(), name


def test_generated_contacts_import_cleanly(tmp_path, monkeypatch):
    generate(tmp_path, operators=8, contacts=100)
    store = Store(tmp_path / "wb.duckdb")
    with store.write() as con:
        with open(tmp_path / "operators.csv", encoding="utf-8") as fh:
            for op in csv.DictReader(fh):
                con.execute("INSERT INTO operators VALUES (?, ?, ?, ?, ?, 'test')",
                            [op["operator_id"], op["name"], op["email"], op["contact_sync"] == "true", now()])
    from workbench.contacts_import import import_contacts
    assert import_contacts(store, tmp_path / "contacts.csv").contacts == 100
