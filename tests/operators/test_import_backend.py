"""The optional `backend` column of `operators import` / `operators export` (hybrid organisations, issue 14)."""
from __future__ import annotations

import csv
import json

from op_helpers import file_digest
from workbench.store import Store


def write(tmp_path, text: str, name: str = "in.csv"):
    f = tmp_path / name
    f.write_text(text, encoding="utf-8")
    return f


def overrides(store: Store) -> dict[str, tuple[str, str]]:
    return {r[0]: (r[1], r[2]) for r in store.rows("SELECT operator_id, backend, source FROM operator_backends")}


def test_backend_column_sets_and_clears_overrides_with_the_other_columns(demo_store, cli, tmp_path):
    assert cli("operators", "backend", "OP-003", "--to", "graph") == 0
    f = write(tmp_path, "operator_id,name,email,contact_sync,backend\n"
                        "OP-001,José Dubois,jose.dubois1@example.com,true,graph\n"
                        "OP-002,Renamed Two,ana.two@example.com,true, EWS \n"
                        "OP-003,Łukasz Fernández,lukasz.fernandez3@example.com,true,\n"
                        "OP-100,New Person,new.person@example.com,false,Graph\n")
    assert cli("operators", "import", str(f), "--json") == 0
    review = json.loads(cli.out)
    assert (review["added"], review["updated"], review["failed"], review["written"]) == (1, 3, 0, True)
    assert overrides(demo_store) == {"OP-001": ("graph", "csv:in.csv"), "OP-002": ("ews", "csv:in.csv"),
                                     "OP-100": ("graph", "csv:in.csv")}
    assert demo_store.scalar("SELECT name FROM operators WHERE operator_id = 'OP-002'") == "Renamed Two"
    assert cli("operators", "list", "--json") == 0
    listed = {r["operator_id"]: r for r in json.loads(cli.out)}
    assert [listed[o]["effective_backend"] for o in ("OP-001", "OP-002", "OP-003", "OP-100")] == \
        ["graph", "ews", "ews", "graph"]
    assert cli("operators", "list") == 0
    at = cli.out.splitlines()[0].index("effective_backend")          # a fixed-width table
    table = {line.split()[0]: line[at:].split()[0] for line in cli.out.splitlines()[1:] if line.startswith("OP-")}
    assert (table["OP-100"], table["OP-001"], table["OP-003"]) == ("graph", "graph", "ews"), cli.out


def test_review_shows_the_backend_change_and_a_file_without_the_column_keeps_overrides(demo_store, cli, tmp_path):
    from workbench.operators.csv_import import import_operators
    f = write(tmp_path, "operator_id,backend\nOP-001,graph\nOP-002,\n")
    review = import_operators(demo_store, f, dry_run=True)
    assert review.changes_df()[["operator_id", "action", "changes"]].values.tolist() == [
        ["OP-001", "update", "backend: default -> graph"], ["OP-002", "unchanged", ""]]
    assert overrides(demo_store) == {}
    assert cli("operators", "import", str(f)) == 0 and "updated          1" in cli.out
    g = write(tmp_path, "operator_id,contact_sync\nOP-001,false\n", "flags.csv")
    assert cli("operators", "import", str(g)) == 0
    assert overrides(demo_store) == {"OP-001": ("graph", "csv:in.csv")}


def test_an_unknown_backend_names_line_column_value_and_rule_and_nothing_is_written(demo_store, cli, tmp_path):
    f = write(tmp_path, "operator_id,contact_sync,backend\nOP-006,true,graph\nOP-007,true,exchange-online\n")
    before = file_digest(demo_store.path)
    assert cli("operators", "import", str(f)) == 2
    assert ("line 3, column backend: unknown backend: use ews or graph, or leave it empty for the "
            "organisation's backend setting ('exchange-online')") in cli.out, cli.out
    assert "nothing was changed" in cli.out
    assert file_digest(demo_store.path) == before
    assert cli("operators", "import", str(f), "--skip-invalid") == 0
    assert overrides(demo_store) == {"OP-006": ("graph", "csv:in.csv")}
    assert demo_store.scalar("SELECT contact_sync FROM operators WHERE operator_id = 'OP-007'") is True   # as before


def test_an_operator_with_links_keeps_its_backend(demo_store, cli, tmp_path):
    with demo_store.write() as con:
        con.execute("INSERT INTO links VALUES ('OP-001', 'C1', 'I1', 'ck1', 'h1', 'h2', now()::TIMESTAMP)")
    f = write(tmp_path, "operator_id,backend\nOP-001,graph\nOP-002,graph\n")
    before = file_digest(demo_store.path)
    assert cli("operators", "import", str(f)) == 2
    assert ("line 2, column backend: operator OP-001 has links on ews; changing its backend needs "
            "`workbench operators move OP-001 --to graph` (it translates the item ids) ('graph')") in cli.out, cli.out
    assert file_digest(demo_store.path) == before
    pinned = write(tmp_path, "operator_id,backend\nOP-001,ews\n", "pin.csv")      # same backend: allowed
    assert cli("operators", "import", str(pinned)) == 0
    assert overrides(demo_store) == {"OP-001": ("ews", "csv:pin.csv")}


def test_export_writes_the_backend_and_round_trips(demo_store, cli, tmp_path):
    assert cli("operators", "backend", "OP-004", "OP-005", "--to", "graph") == 0
    assert cli("operators", "backend", "OP-006", "--to", "ews") == 0
    out = tmp_path / "ops.csv"
    assert cli("operators", "export", str(out)) == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert list(rows[0]) == ["operator_id", "name", "email", "contact_sync", "backend"]
    assert {r["operator_id"]: r["backend"] for r in rows if r["backend"]} == {
        "OP-004": "graph", "OP-005": "graph", "OP-006": "ews"}
    fresh = Store(tmp_path / "other.duckdb")
    from workbench.operators.csv_import import import_operators
    assert import_operators(fresh, out).added == 24
    assert {k: v[0] for k, v in overrides(fresh).items()} == {"OP-004": "graph", "OP-005": "graph", "OP-006": "ews"}
    before = file_digest(demo_store.path)
    assert cli("operators", "import", str(out)) == 0 and "unchanged       24" in cli.out
    assert file_digest(demo_store.path) == before
