"""Import semantics: modes, match keys, skip-invalid, dry run, review, unchanged rows, the Python API."""
from __future__ import annotations

import csv
import json

import pytest

from op_helpers import DATA, HEADER, file_digest, operator_rows
from workbench.operators.csv_import import ImportReview, import_operators


def write(tmp_path, text: str, name: str = "in.csv"):
    f = tmp_path / name
    f.write_text(text, encoding="utf-8")
    return f


def test_demo_file_imports_all_24_with_flags_and_source(op_store, cli):
    assert cli("operators", "import", str(DATA / "operators.csv")) == 0
    assert "24 rows processed" in cli.out and "added           24" in cli.out
    assert "written: 24 operators" in cli.out
    rows = op_store.rows("SELECT operator_id, contact_sync, source FROM operators ORDER BY 1")
    assert len(rows) == 24
    assert [r[0] for r in rows if not r[1]] == ["OP-006", "OP-012", "OP-018", "OP-024"]
    assert {r[2] for r in rows} == {"csv:operators.csv"}


def test_add_or_update_updates_adds_and_leaves_identical_rows_alone(demo_store, cli, tmp_path):
    stamp_003 = demo_store.scalar("SELECT updated_at FROM operators WHERE operator_id = 'OP-003'")
    f = write(tmp_path, HEADER +
              "OP-001,José Dubois,jose.dubois1@example.com,true\n"              # e-mail fixed
              "OP-006,Anna Berg 6,anna.berg6@example.com,yes\n"                 # name? see below
              "OP-003,Łukasz Fernández,lukasz.fernandez3@example.com,true\n"    # identical
              "OP-100,New Person,new.person@example.com,n\n")
    name_006 = demo_store.scalar("SELECT name FROM operators WHERE operator_id = 'OP-006'")
    assert cli("operators", "import", str(f), "--json") == 0
    review = json.loads(cli.out)
    assert (review["processed"], review["added"], review["updated"], review["unchanged"], review["failed"]) == \
        (4, 1, 2, 1, 0)
    assert review["written"] is True
    got = dict((r[0], r[1:]) for r in demo_store.rows(
        "SELECT operator_id, name, email, contact_sync, updated_at FROM operators"))
    assert got["OP-001"][1] == "jose.dubois1@example.com"
    assert got["OP-006"][:3] == ("Anna Berg 6", "anna.berg6@example.com", True) and name_006 != "Anna Berg 6"
    assert got["OP-003"][3] == stamp_003                       # unchanged rows are not rewritten
    assert got["OP-100"][:3] == ("New Person", "new.person@example.com", False)
    assert len(got) == 25


def test_partial_file_enables_existing_operators_keeping_other_columns(demo_store, cli, tmp_path):
    before = {r[0]: r for r in operator_rows(demo_store)}
    f = write(tmp_path, "operator_id,contact_sync\nOP-006,true\nOP-012,TRUE\nOP-001,true\n")
    assert cli("operators", "import", str(f)) == 0
    assert "updated          2" in cli.out and "unchanged        1" in cli.out
    after = {r[0]: r for r in operator_rows(demo_store)}
    assert after["OP-006"][1:4] == (before["OP-006"][1], before["OP-006"][2], True)
    assert after["OP-001"] == before["OP-001"]


def test_partial_file_cannot_add_a_new_operator(demo_store, cli, tmp_path):
    f = write(tmp_path, "operator_id,contact_sync\nOP-006,true\nOP-999,true\n")
    before = file_digest(demo_store.path)
    assert cli("operators", "import", str(f)) == 2
    assert "line 3, column name: column name is missing from the file" in cli.out
    assert "line 3, column email: column email is missing" in cli.out
    assert file_digest(demo_store.path) == before


def test_add_mode_refuses_existing_operators(demo_store, cli, tmp_path):
    f = write(tmp_path, HEADER + "OP-100,New,new@example.com,true\nOP-002,Zoë,z@example.com,true\n")
    before = operator_rows(demo_store)
    assert cli("operators", "import", str(f), "--mode", "add") == 2
    assert "line 3, column operator_id: operator OP-002 already exists" in cli.out
    assert "added            1" in cli.out and "failed           1" in cli.out
    assert operator_rows(demo_store) == before


def test_skip_invalid_writes_valid_rows_and_errors_csv_lists_the_rest(demo_store, cli, tmp_path):
    f = write(tmp_path, HEADER + "OP-100,New,new@example.com,true\nOP-101,=cmd|' /C calc'!A0,bad,true\n"
                                 "OP-102,Other,other@example.com,perhaps\n")
    out = tmp_path / "errors.csv"
    assert cli("operators", "import", str(f), "--skip-invalid", "--errors", str(out)) == 0
    assert "written: 1 operator (1 added, 0 updated) in one transaction; 2 failed rows skipped" in cli.out
    assert demo_store.scalar("SELECT count(*) FROM operators WHERE operator_id LIKE 'OP-1__'") == 1
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [(r["line"], r["column"], r["value"]) for r in rows] == [
        ("3", "email", "bad"), ("4", "contact_sync", "perhaps")]


def test_errors_csv_neutralises_formula_values(demo_store, cli, tmp_path):
    f = write(tmp_path, HEADER + "OP-101,X,=HYPERLINK(\"http://evil\"),true\n")
    out = tmp_path / "errors.csv"
    assert cli("operators", "import", str(f), "--errors", str(out)) == 2
    assert "'=HYPERLINK" in out.read_text(encoding="utf-8")


def test_dry_run_reviews_but_writes_nothing(demo_store, cli, tmp_path):
    f = write(tmp_path, HEADER + "OP-100,New,new@example.com,true\nOP-001,José,jose@example.com,false\n")
    before = file_digest(demo_store.path)
    assert cli("operators", "import", str(f), "--dry-run") == 0
    assert "added            1" in cli.out and "updated          1" in cli.out
    assert "dry run: nothing written" in cli.out
    assert file_digest(demo_store.path) == before


def test_dry_run_with_failures_exits_2(demo_store, cli, tmp_path):
    f = write(tmp_path, HEADER + "OP-100,New,new,true\n")
    assert cli("operators", "import", str(f), "--dry-run", "--skip-invalid") == 2


def test_match_by_email_is_case_insensitive_and_updates_that_operator(demo_store, cli, tmp_path):
    f = write(tmp_path, "email,contact_sync,name\nMEI.DEMIR4@example.com,false,Mei Demir-Ok\n")
    assert cli("operators", "import", str(f), "--match", "email") == 0
    assert "updated          1" in cli.out
    assert demo_store.rows("SELECT name, email, contact_sync FROM operators WHERE operator_id = 'OP-004'") == [
        ("Mei Demir-Ok", "MEI.DEMIR4@example.com", False)]


def test_match_by_email_rules(demo_store, cli, tmp_path):
    with demo_store.write() as con:     # two stored operators share one e-mail
        con.execute("UPDATE operators SET email = 'shared@example.com' WHERE operator_id IN ('OP-010', 'OP-011')")
    f = write(tmp_path, HEADER +
              "OP-010,A,Shared@example.com,true\n"           # ambiguous
              "OP-999,B,mei.demir4@example.com,true\n"       # e-mail of OP-004 but another id
              "OP-005,C,brand.new@example.com,true\n"        # new e-mail but an existing id
              "OP-200,D,d@example.com,true\n"
              "OP-201,E,D@example.com,true\n")               # duplicate match key within the file
    before = operator_rows(demo_store)
    assert cli("operators", "import", str(f), "--match", "email") == 2
    assert "line 2, column email: matches 2 stored operators (OP-010, OP-011)" in cli.out
    assert "line 3, column operator_id: differs from 'OP-004'" in cli.out
    assert "line 4, column operator_id: already exists with e-mail" in cli.out
    assert "line 6, column email: duplicate email: already on line 5" in cli.out
    assert operator_rows(demo_store) == before


def test_add_or_update_needs_the_match_key_in_every_row(demo_store, cli, tmp_path):
    f = write(tmp_path, "email,contact_sync\n,true\n")
    assert cli("operators", "import", str(f), "--match", "email") == 2
    assert "line 2, column email: empty" in cli.out
    f = write(tmp_path, "name,contact_sync\nX,true\n")
    assert cli("operators", "import", str(f)) == 2
    assert "line 1, column operator_id: required column missing" in cli.err


@pytest.mark.parametrize("text,value", [(t, True) for t in ("true", "TRUE", "Yes", "y", "Y", "1")] +
                         [(t, False) for t in ("false", "False", "NO", "n", "N", "0")])
def test_booleans(op_store, tmp_path, text, value):
    f = write(tmp_path, HEADER + f"OP-1,A,a@example.com, {text} \n")
    review = import_operators(op_store, f)
    assert review.written and op_store.scalar("SELECT contact_sync FROM operators") is value


def test_python_api_review_and_errors_df(demo_store, tmp_path):
    f = write(tmp_path, HEADER + "OP-100,New,new@example.com,true\nOP-101,X,x@,true\nOP-001,J,j@example.com,1\n"
                                 ",Y,y@example.com,1\n")
    review = import_operators(demo_store, f)
    assert isinstance(review, ImportReview)
    assert (review.processed, review.added, review.updated, review.unchanged, review.failed, review.written) == \
        (4, 1, 1, 0, 2, False)
    df = review.errors_df()
    assert list(df.columns) == ["line", "column", "value", "reason"]
    assert df[["line", "column", "value"]].values.tolist() == [[3, "email", "x@"], [5, "operator_id", ""]]
    changes = review.changes_df()
    assert changes.set_index("operator_id").loc["OP-001", "action"] == "update"
    assert "email: jose.dubois1.old@example.com -> j@example.com" in changes.set_index("operator_id").loc[
        "OP-001", "changes"]
    assert review.unknown_columns == [] and review.delimiter == ","


def test_bad_mode_and_match_are_usage_errors(op_store, tmp_path):
    from workbench.errors import WorkbenchError
    f = write(tmp_path, HEADER + "OP-1,A,a@example.com,1\n")
    with pytest.raises(WorkbenchError) as info:
        import_operators(op_store, f, mode="replace")
    assert info.value.code == "USAGE"
    with pytest.raises(WorkbenchError):
        import_operators(op_store, f, match="name")
