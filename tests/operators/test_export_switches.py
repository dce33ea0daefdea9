"""`operators export` (round trip, formula neutralisation), `enable|disable`, `list`."""
from __future__ import annotations

import json

from op_helpers import file_digest, operator_rows
from workbench.store import Store

TRICKY = [
    ("OP-001", "=HYPERLINK(\"http://evil\",\"x\")", "a@example.com", True),
    ("OP-002", "+49 Sales, Berlin", "b@example.com", False),
    ("OP-003", "-minus", "c@example.com", True),
    ("OP-004", "@SUM(A1)", "d@example.com", False),
    ("OP-005", "'quoted already", "e@example.com", True),
    ("OP-006", "'=not a formula", "f@example.com", True),
    ("OP-007", "Zoë \"Zo\" Müller; Ødegaard", "+tag@example.com", False),
    ("-OP-008", "Plain", "g@example.com", True),
]


def test_export_neutralises_formulas_and_round_trips_exactly(op_store, cli, tmp_path):
    with op_store.write() as con:
        for r in TRICKY:
            con.execute("INSERT INTO operators VALUES (?, ?, ?, ?, now()::TIMESTAMP, 'test')", list(r))
    out = tmp_path / "ops.csv"
    assert cli("operators", "export", str(out)) == 0
    assert "exported 8 operators" in cli.out
    text = out.read_text(encoding="utf-8")
    for line in text.splitlines()[1:]:
        for cell in line.split(","):
            assert not cell.lstrip('"').startswith(("=", "+", "-", "@")), line
    assert "'=HYPERLINK" in text and "'+49 Sales" in text and "'@SUM" in text and "''quoted" in text
    other = Store(tmp_path / "other.duckdb")
    from workbench.operators.csv_import import import_operators
    review = import_operators(other, out)
    assert review.written and review.added == 8
    assert other.rows("SELECT operator_id, name, email, contact_sync FROM operators ORDER BY 1") == \
        sorted(TRICKY)
    # and re-importing into the source store changes nothing
    before = file_digest(op_store.path)
    assert cli("operators", "import", str(out)) == 0 and "unchanged        8" in cli.out
    assert file_digest(op_store.path) == before


def test_export_with_bom_reimports(demo_store, cli, tmp_path):
    out = tmp_path / "ops.csv"
    assert cli("operators", "export", str(out), "--bom") == 0
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    assert cli("operators", "import", str(out)) == 0 and "unchanged       24" in cli.out


def test_enable_disable_and_unknown_id_changes_nothing(demo_store, cli):
    assert cli("operators", "enable", "OP-006", "OP-012", "OP-001") == 0
    assert "contact sync enabled: OP-006, OP-012" in cli.out and "already enabled: OP-001" in cli.out
    assert cli("operators", "disable", "OP-002") == 0
    flags = dict(demo_store.rows("SELECT operator_id, contact_sync FROM operators"))
    assert flags["OP-006"] and flags["OP-012"] and not flags["OP-002"]
    before = operator_rows(demo_store)
    assert cli("operators", "disable", "OP-001", "OP-404") == 2
    assert cli.err.startswith("OPERATOR_NOT_FOUND") and "OP-404" in cli.err
    assert operator_rows(demo_store) == before


def test_list_filters_and_json(demo_store, cli):
    assert cli("operators", "list", "--enabled", "--json") == 0
    data = json.loads(cli.out)
    assert len(data) == 20 and all(d["contact_sync"] for d in data)
    with demo_store.write() as con:
        con.execute("INSERT INTO operator_checks (operator_id, checked_at, status) "
                    "VALUES ('OP-004', now()::TIMESTAMP + INTERVAL 1 HOUR, 'ok'), "
                    "('OP-005', now()::TIMESTAMP + INTERVAL 1 HOUR, 'mailbox-not-found')")
    assert cli("operators", "list", "--unverified", "--json") == 0
    ids = {d["operator_id"] for d in json.loads(cli.out)}
    assert "OP-004" not in ids and "OP-005" in ids and len(ids) == 23
    assert cli("operators", "list") == 0
    assert cli.out.splitlines()[0].split() == ["operator_id", "name", "email", "contact_sync", "effective_backend",
                                               "verify_status", "verified_at"]
