"""`workbench contacts export` writes what `contacts import` reads: 2,000 contacts round trip identical."""
from __future__ import annotations

import csv

import pytest

from workbench.cli import main
from workbench.contacts_import import COLUMNS
from workbench.demodata import generate
from workbench.store import Store

HOSTILE = [  # values a spreadsheet would run, and the guard quote itself
    {"contact_id": "CRM-HOSTILE-1", "given_name": "=1+1", "surname": "@SUM(A1)", "company": "-Minus Ltd",
     "job_title": "'quoted", "street": "+plus street", "city": "\tTabbed", "email": "x.hostile@example.test"},
]


def _store(tmp_path, name: str, monkeypatch) -> Store:
    path = tmp_path / name
    monkeypatch.setenv("WORKBENCH_STORE", str(path))
    return Store(path)


def _tables(store: Store):
    contacts = store.df("SELECT * EXCLUDE (deleted_at) FROM contacts ORDER BY contact_id")
    team = store.df("SELECT contact_id, operator_id FROM contact_team ORDER BY contact_id, operator_id")
    return contacts, team


def test_export_import_round_trip_of_2000_contacts(tmp_path, monkeypatch, capsys):
    seed = tmp_path / "seed"
    generate(seed, operators=12, contacts=2000)
    with open(seed / "contacts.csv", "a", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(COLUMNS), lineterminator="\n")
        for row in HOSTILE:
            w.writerow({**{c: "" for c in COLUMNS}, **row, "team": "OP-001", "private": "false",
                        "updated_at": "2026-05-01T09:30:00.123456"})
    first = _store(tmp_path, "a.duckdb", monkeypatch)
    assert main(["operators", "import", str(seed / "operators.csv")]) == 0
    assert main(["contacts", "import", str(seed / "contacts.csv")]) == 0
    assert main(["contacts", "export", str(tmp_path / "out.csv")]) == 0
    assert "exported 2001 contacts" in capsys.readouterr().out
    text = (tmp_path / "out.csv").read_text(encoding="utf-8")
    assert "'=1+1" in text and "'@SUM(A1)" in text and "''quoted" in text and "'+plus street" in text

    second = _store(tmp_path, "b.duckdb", monkeypatch)
    assert main(["operators", "import", str(seed / "operators.csv")]) == 0
    assert main(["contacts", "import", str(tmp_path / "out.csv")]) == 0
    a_contacts, a_team = _tables(first)
    b_contacts, b_team = _tables(second)
    assert len(a_contacts) == 2001 and len(a_team) > 2001
    assert a_contacts.equals(b_contacts) and a_team.equals(b_team)
    hostile = b_contacts.set_index("contact_id").loc["CRM-HOSTILE-1"]
    assert (hostile["given_name"], hostile["surname"], hostile["job_title"], hostile["city"]) == (
        "=1+1", "@SUM(A1)", "'quoted", "Tabbed")     # a field's blanks at both ends are trimmed by the import
    assert main(["contacts", "export", str(tmp_path / "again.csv")]) == 0
    assert (tmp_path / "again.csv").read_text(encoding="utf-8") == text


@pytest.mark.parametrize("argv, code, exit_code", [
    (["contacts", "export", "{tmp}/nope/out.csv"], "FILE_UNWRITABLE", 2),
    (["contacts", "export", "{tmp}/out.csv", "--changed-since", "42"], "RUN_NOT_FOUND", 2),
])
def test_export_refuses_bad_paths_and_runs(tmp_path, monkeypatch, capsys, argv, code, exit_code):
    store = _store(tmp_path, "s.duckdb", monkeypatch)
    with store.write():
        pass
    assert main([a.replace("{tmp}", str(tmp_path)) for a in argv]) == exit_code
    err = capsys.readouterr().err
    assert err.startswith(f"{code}: ") and "Traceback" not in err
    assert not (tmp_path / "out.csv").exists()
