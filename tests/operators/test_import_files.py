"""`workbench operators import`: malformed files are refused with line numbers and change nothing;
valid variants (BOM, semicolons, tabs, quoting, odd headers and booleans) import."""
from __future__ import annotations

import csv
import random

import pytest

from op_helpers import HEADER, file_digest, operator_rows
from workbench.csvio import CsvFileError
from workbench.operators.csv_import import import_operators

GOOD = "OP-100,Anna Berg,anna.berg@example.com,true\n"


def _garbage() -> bytes:
    return random.Random(1).randbytes(20_000)


MALFORMED = {
    # name: (file bytes, extra args, fragments expected in stdout+stderr)
    "missing column (add mode)": (
        b"operator_id,name,contact_sync\nOP-100,A,true\n", ["--mode", "add"],
        ["line 1, column email: required column missing"]),
    "missing column needed to add (add-or-update)": (
        b"operator_id,name,contact_sync\nOP-100,A,true\n", [],
        ["line 2, column email: column email is missing from the file"]),
    "duplicate header": (
        b"operator_id,name,Email, EMAIL ,contact_sync\nOP-100,A,a@example.com,a@example.com,true\n", [],
        ["line 1, column email: header appears twice (fields 3 and 4)"]),
    "bad e-mail on one line": (
        (HEADER + GOOD + "OP-101,Bo,bo@@example.com,true\nOP-102,Cy,cy@example.com,false\n").encode(), [],
        ["line 3, column email: not a valid e-mail address ('bo@@example.com')", "failed           1",
         "(lines 3)"]),
    "unknown boolean": (
        (HEADER + GOOD + "OP-101,Bo,bo@example.com,maybe\n").encode(), [],
        ["line 3, column contact_sync: unknown boolean", "'maybe'"]),
    "duplicate ids": (
        (HEADER + GOOD + "OP-101,Bo,bo@example.com,true\n" + GOOD.replace("anna.", "a2.")).encode(), [],
        ["line 4, column operator_id: duplicate operator_id: already on line 2"]),
    "empty file": (b"", [], ["line 1: empty file"]),
    "blank lines only": (b"\r\n \n\n", [], ["line 1: empty file"]),
    "header only": (HEADER.encode(), [], ["line 1: header only: no data rows"]),
    "binary garbage": (_garbage(), [], ["binary data", "line "]),
    "excel workbook": (b"PK\x03\x04" + b"\x01" * 100, [], ["line 1: this is a zip/Excel workbook"]),
    "latin-1 bytes": ((HEADER + GOOD).encode() + "OP-101,Jos\xe9,j@example.com,true\n".encode("latin-1"), [],
                      ["line 3: not UTF-8 text: byte 0xe9"]),
    "unterminated quote": ((HEADER + GOOD + 'OP-101,"Bo,bo@example.com,true\nOP-102,Cy,cy@example.com,no\n').encode(),
                           [], ["line 3: malformed CSV (record starting at line 3", "never closed"]),
    "stray quote": ((HEADER + 'OP-101,"Bo"x,bo@example.com,true\n').encode(), [],
                    ["line 2: malformed CSV"]),
    "too many fields": ((HEADER + GOOD + "OP-101,Bo,Smith,bo@example.com,true\n").encode(), [],
                        ["line 3: 5 fields but the header has 4"]),
    "multi-line quoted field then a bad row": (
        ("operator_id;name;email;contact_sync;notes\n"
         'OP-100;"Berg; Anna";anna@example.com;yes;"first line\nsecond; line\n""third"" line"\n'
         "OP-101;Bo;not-an-email;no;\n").encode(), [],
        ["line 5, column email: not a valid e-mail address"]),
    "line break inside a name": (
        (HEADER + 'OP-100,"Anna\nBerg",anna@example.com,true\nOP-101,Bo,bo@example.com,1\n'
         'OP-102,Cy,cy@example.com,2\n').encode(), [],
        ["line 2, column name: must be at most 256 characters without line breaks",
         "line 5, column contact_sync: unknown boolean", "('2')"]),
    "empty required values": (
        (HEADER + ",Bo,bo@example.com,true\nOP-101,,,\n").encode(), [],
        ["line 2, column operator_id: empty", "line 3, column name: empty", "line 3, column email: empty",
         "line 3, column contact_sync: empty"]),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_file_is_refused_with_line_numbers_and_store_untouched(name, demo_store, cli, tmp_path):
    data, extra, fragments = MALFORMED[name]
    f = tmp_path / "in.csv"
    f.write_bytes(data)
    before_rows, before_digest = operator_rows(demo_store), file_digest(demo_store.path)
    assert cli("operators", "import", str(f), *extra) == 2
    text = cli.out + cli.err
    assert "CSV_INVALID: CSV file refused" in cli.err
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in:\n{text}"
    assert "Traceback" not in text
    assert operator_rows(demo_store) == before_rows
    assert file_digest(demo_store.path) == before_digest


def test_50_mb_file_with_one_bad_line_names_it_and_writes_nothing(demo_store, cli, tmp_path):
    f = tmp_path / "big.csv"
    row = "OP-{0:07d},Operator Number {0} With A Fairly Long Display Name,operator.{0}@sales.example.com,true\n"
    n = 50 * 1024 * 1024 // len(row.format(1)) + 1
    bad = n - 7
    with open(f, "w", encoding="utf-8", newline="") as fh:
        fh.write(HEADER)
        fh.writelines(row.format(i) if i != bad else row.format(i).replace(".com", ".com>") for i in range(n))
    assert f.stat().st_size >= 50 * 1024 * 1024
    before = file_digest(demo_store.path)
    assert cli("operators", "import", str(f)) == 2
    assert f"line {bad + 2}, column email: not a valid e-mail address" in cli.out
    assert f"{n} rows processed" in cli.out and f"added     {n - 1:>8}" in cli.out
    assert file_digest(demo_store.path) == before


def test_file_level_problem_goes_to_errors_csv_too(demo_store, cli, tmp_path):
    f = tmp_path / "in.csv"
    f.write_text("operator_id,name,Name\nOP-1,a,b\n")
    out = tmp_path / "errors.csv"
    assert cli("operators", "import", str(f), "--errors", str(out)) == 2
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert rows[0]["line"] == "1" and rows[0]["column"] == "name" and "appears twice" in rows[0]["reason"]


def test_python_api_raises_csv_file_error_with_cells(op_store, tmp_path):
    f = tmp_path / "in.csv"
    f.write_bytes(b"")
    with pytest.raises(CsvFileError) as info:
        import_operators(op_store, f)
    assert info.value.code == "CSV_INVALID" and info.value.errors[0].line == 1


def test_missing_file(op_store, cli, tmp_path):
    assert cli("operators", "import", str(tmp_path / "nope.csv")) == 2
    assert cli.err.startswith("FILE_NOT_FOUND")


VALID = {
    "bom + semicolons + CRLF": "\ufeffoperator_id;name;email;contact_sync\r\nOP-100;Berg, Anna;anna@example.com;TRUE\r\n"
                               "OP-101;Bo;bo@example.com;No\r\n",
    "tabs and odd header spacing/case": " Operator_ID \tNAME\t Email\tContact_Sync \nOP-100\tBerg, Anna\tanna@example.com\ty\n"
                                        "OP-101\tBo\tbo@example.com\t0\n",
    "quoted fields with delimiters, quotes, extra multi-line column": (
        'operator_id,name,email,contact_sync,Notes\n'
        'OP-100,"Berg, Anna",anna@example.com,Yes,"call ""after"" 5pm,\nnot before"\n'
        '"OP-101","Bo",bo@example.com,"N",\n'),
    "blank and trailing-delimiter lines": "operator_id,name,email,contact_sync\n\nOP-100,\"Berg, Anna\",anna@example.com,1,\n"
                                          ",,,\nOP-101,Bo,bo@example.com,false\n",
}


@pytest.mark.parametrize("name", list(VALID))
def test_valid_variants_import(name, op_store, cli, tmp_path):
    f = tmp_path / "in.csv"
    f.write_bytes(VALID[name].encode("utf-8"))
    assert cli("operators", "import", str(f)) == 0, cli.out + cli.err
    assert "added            2" in cli.out
    assert op_store.rows("SELECT operator_id, name, email, contact_sync FROM operators ORDER BY 1") == [
        ("OP-100", "Berg, Anna", "anna@example.com", True), ("OP-101", "Bo", "bo@example.com", False)]


def test_unknown_columns_are_reported_and_ignored(op_store, cli, tmp_path):
    f = tmp_path / "in.csv"
    f.write_text("operator_id,name,email,contact_sync,Department,\n" + GOOD.rstrip("\n") + ",Sales,\n")
    assert cli("operators", "import", str(f)) == 0
    assert "unknown columns ignored: department, (empty)" in cli.out
    assert op_store.scalar("SELECT count(*) FROM operators") == 1
