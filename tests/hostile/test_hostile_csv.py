"""Hostile CSV input and spreadsheet-safe output, through the real CLI (issue 19).

Every refusal: exit 2, its catalogue code, a message naming the line/column and quoting at most an
excerpt of the value, no INTERNAL or traceback, and the store file byte-for-byte unchanged. The 10 MB
cases run the CLI in a subprocess and bound its peak memory and the size of its stderr (never time).
"""
from __future__ import annotations

import csv
import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.csvio import EXCERPT_CHARS, MAX_COLUMNS, MAX_FIELD_CHARS, neutralise, unneutralise
from workbench.store import Store, now

OPS = "operator_id,name,email,contact_sync\n"
CONTACTS = "contact_id,given_name,surname,email,company,street,team,updated_at\n"
TEN_MB = 10 * 1024 * 1024


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def store(tmp_path, monkeypatch) -> Store:
    """A store (also the CLI's) with two enabled operators."""
    path = tmp_path / "wb.duckdb"
    monkeypatch.setenv("WORKBENCH_STORE", str(path))
    store = Store(path)
    with store.write() as con:
        for op in ("OP-1", "OP-2"):
            con.execute("INSERT INTO operators VALUES (?, ?, ?, true, ?, 'test')", [op, op, f"{op}@example.com", now()])
    return store


class Run:
    """``workbench ARGS`` through the CLI entry point; keeps exit code, stdout, stderr."""

    def __init__(self, capsys) -> None:
        self.capsys = capsys

    def __call__(self, *argv: str) -> int:
        self.code = main(list(argv))
        got = self.capsys.readouterr()
        self.out, self.err = got.out, got.err
        return self.code


@pytest.fixture
def run(capsys) -> Run:
    return Run(capsys)


def assert_refused(run: Run, store: Store, argv: list[str], code: str, *fragments: str) -> None:
    before = digest(store.path)
    assert run(*argv) == 2, run.err
    assert any(line.startswith(f"{code}: ") for line in run.err.splitlines()), run.err
    for fragment in fragments:
        assert fragment in run.err, f"{fragment!r} not in {run.err!r}"
    assert "INTERNAL" not in run.err and "Traceback" not in run.err
    assert digest(store.path) == before


def write(tmp_path: Path, text: str, name: str = "in.csv") -> Path:
    f = tmp_path / name
    f.write_bytes(text.encode("utf-8"))
    return f


# --- bounded input ---------------------------------------------------------------------------

def _cli_subprocess(tmp_path: Path, *argv: str) -> tuple[int, str, int]:
    """Run the CLI in a child process: (exit code, stderr, peak RSS in bytes of that child)."""
    err_path = tmp_path / "stderr.txt"
    with open(err_path, "wb") as err:
        child = subprocess.Popen([sys.executable, "-m", "workbench", *argv], stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
    return os.waitstatus_to_exitcode(status), err_path.read_text(encoding="utf-8"), usage.ru_maxrss * 1024


@pytest.mark.parametrize("command, header", [
    ("operators", "operator_id,name,email,contact_sync," + ",".join(["email"] * (TEN_MB // 6))),
    ("contacts", "contact_id," + "x" * TEN_MB),
], ids=["5-million-columns", "one-10MB-field"])
def test_a_10_mb_header_is_refused_in_bounded_memory_with_a_short_message(store, tmp_path, command, header):
    f = write(tmp_path, header + "\nOP-9,a,a@example.com,true\n")
    assert f.stat().st_size >= TEN_MB
    before = digest(store.path)
    baseline_code, _, baseline_rss = _cli_subprocess(tmp_path, "--store", str(store.path), "explain", "CSV_INVALID")
    code, err, rss = _cli_subprocess(tmp_path, "--store", str(store.path), command, "import", str(f))
    assert baseline_code == 0
    assert code == 2 and err.startswith("CSV_INVALID: ")
    assert "line 1: the header is longer than 65,536 characters" in err
    assert "…" in err and len(err) < 1000              # an excerpt, not 10 MB (it was 727 MB)
    assert "Traceback" not in err and "INTERNAL" not in err
    assert rss - baseline_rss < 150 * 1024 * 1024       # the file is 10 MB; it took 6 GB
    assert digest(store.path) == before


def test_too_many_columns(run, store, tmp_path):
    header = ",".join(["operator_id", "name", "email", "contact_sync"] + [f"c{i}" for i in range(MAX_COLUMNS)])
    f = write(tmp_path, header + "\nOP-9,a,a@example.com,true\n")
    assert_refused(run, store, ["operators", "import", str(f)], "CSV_INVALID",
                   f"line 1: the header has {MAX_COLUMNS + 4} columns; at most {MAX_COLUMNS} are allowed")


def test_a_duplicate_column_is_named_once(run, store, tmp_path):
    f = write(tmp_path, "operator_id,name,email,Email, EMAIL,contact_sync\nOP-9,a,a@example.com,,,true\n")
    assert_refused(run, store, ["operators", "import", str(f)], "CSV_INVALID",
                   "line 1, column email: header appears 3 times (fields 3, 4, 5)")
    assert run.err.count("email") == 1


def test_a_runaway_record_and_a_long_field_are_refused_with_an_excerpt(run, store, tmp_path):
    f = write(tmp_path, OPS + "OP-9,a,a@example.com,true\nOP-10," + "y" * 2_000_000 + ",b@example.com,true\n")
    assert_refused(run, store, ["operators", "import", str(f)], "CSV_INVALID",
                   "line 3: a record is longer than 1,048,576 characters", "'OP-10,yyyy")
    assert len(run.err) < 1000
    long_name = "Z" * (MAX_FIELD_CHARS + 1)
    f = write(tmp_path, CONTACTS + f'C1,"{long_name}",B,,,,OP-1,\n')
    assert_refused(run, store, ["contacts", "import", str(f)], "CSV_INVALID",
                   f"line 2, column given_name: field longer than {MAX_FIELD_CHARS:,} characters",
                   "'" + "Z" * EXCERPT_CHARS + "'…")
    assert len(run.err) < 1000


def test_an_unclosed_quote_in_a_big_file_stops_at_the_field_limit(run, store, tmp_path):
    rows = "".join(f"OP-{i},Name {i},n{i}@example.com,true\n" for i in range(20_000))
    f = write(tmp_path, OPS + 'OP-X,"never closed,x@example.com,true\n' + rows)
    assert_refused(run, store, ["operators", "import", str(f)], "CSV_INVALID", "line 2: malformed CSV")
    assert len(run.err) < 1000


def test_long_values_in_row_errors_are_excerpted(run, store, tmp_path):
    f = write(tmp_path, CONTACTS + "C1,A,B," + "e" * 5000 + ",,,OP-1,\n")
    assert_refused(run, store, ["contacts", "import", str(f)], "CSV_INVALID",
                   "line 2: email='" + "e" * EXCERPT_CHARS + "'… is not a valid e-mail address")
    assert len(run.err) < 1000


@pytest.mark.parametrize("command", ["operators", "contacts"])
def test_old_mac_cr_line_endings_are_read_correctly(run, store, tmp_path, command):
    """CR-only files read like LF files; line numbers count a CR as a line break, also inside quotes."""
    if command == "operators":
        good = OPS + "OP-9,Ann,a@example.com,true\nOP-10,Bo,bo@example.com,no\n"
        check = "SELECT operator_id, email FROM operators WHERE operator_id NOT IN ('OP-1', 'OP-2') ORDER BY 1"
        stored = [("OP-10", "bo@example.com"), ("OP-9", "a@example.com")]
        bad_row, bad_line = "OP-11,Cy,cy@example,no\n", 4
    else:
        good = CONTACTS + 'C1,Ann,Berg,a@example.com,Acme,"1 Main St\nBuilding 2",OP-1,\nC2,Bo,Chen,,,,OP-2,\n'
        check = "SELECT contact_id, email, street FROM contacts ORDER BY 1"
        stored = [("C1", "a@example.com", "1 Main St\rBuilding 2"), ("C2", None, None)]
        bad_row, bad_line = "C3,Cy,Dale,cy@example,,,OP-1,\n", 5
    f = tmp_path / "cr.csv"
    f.write_bytes((good + bad_row).replace("\n", "\r").encode())
    assert_refused(run, store, [command, "import", str(f)], "CSV_INVALID")
    assert f"line {bad_line}" in run.out + run.err and "cy@example" in run.out + run.err
    f.write_bytes(good.replace("\n", "\r").encode())
    assert run(command, "import", str(f)) == 0, run.err
    assert store.rows(check) == stored


# --- control characters in contact text -------------------------------------------------------

@pytest.mark.parametrize("char", ["\x01", "\x1b", "\x7f", "\x9b", "\ufffe"])
def test_control_characters_in_contact_text_are_refused_with_the_code_point(run, store, tmp_path, char):
    f = write(tmp_path, CONTACTS + "C1,Ann,Berg,,Acme,,OP-1,\n" + f'C2,Bo,"Ch{char}en",,,,OP-1,\n')
    assert_refused(run, store, ["contacts", "import", str(f)], "CSV_INVALID",
                   f"line 3: surname={'Ch' + char + 'en'!r} holds control character U+{ord(char):04X} at position 3")
    assert store.scalar("SELECT count(*) FROM contacts") == 0


def test_tab_and_line_breaks_are_kept(run, store, tmp_path):
    f = write(tmp_path, CONTACTS + 'C1,Ann,Berg,,"Acme\tInc","1 Main St\r\nBuilding 2",OP-1,\n')
    assert run("contacts", "import", str(f)) == 0, run.err
    assert store.rows("SELECT company, street FROM contacts") == [("Acme\tInc", "1 Main St\r\nBuilding 2")]


# --- time zones in updated_at -------------------------------------------------------------------

def test_naive_and_mixed_offset_updated_at_are_stored_as_utc(run, store, tmp_path):
    f = write(tmp_path, CONTACTS + "C1,A,B,,,,OP-1,2024-05-01T09:30:00+02:00\n"
                                   "C2,A,B,,,,OP-1,2024-05-01 09:30\n"
                                   "C3,A,B,,,,OP-1,2024-05-01T09:30:00Z\n"
                                   "C4,A,B,,,,OP-1,2024-05-01T09:30:00-05:30\n"
                                   "C5,A,B,,,,OP-1,2024-05-01\n")
    assert run("contacts", "import", str(f)) == 0, run.err
    got = {cid: ts.isoformat() for cid, ts in store.rows("SELECT contact_id, updated_at FROM contacts")}
    assert got == {"C1": "2024-05-01T07:30:00", "C2": "2024-05-01T09:30:00", "C3": "2024-05-01T09:30:00",
                   "C4": "2024-05-01T15:00:00", "C5": "2024-05-01T00:00:00"}


def test_an_all_offset_file_is_utc_too(run, store, tmp_path):
    f = write(tmp_path, CONTACTS + "C1,A,B,,,,OP-1,2024-05-01T09:30:00+02:00\n"
                                   "C2,A,B,,,,OP-1,2024-12-01T23:00:00+09:00\n")
    assert run("contacts", "import", str(f)) == 0, run.err
    got = {cid: ts.isoformat() for cid, ts in store.rows("SELECT contact_id, updated_at FROM contacts")}
    assert got == {"C1": "2024-05-01T07:30:00", "C2": "2024-12-01T14:00:00"}


@pytest.mark.parametrize("value, reason", [
    ("2024-13-01", "not ISO 8601"), ("yesterday", "not ISO 8601"),
    ("2024-05-01T09:30:00+25:00", "not ISO 8601"), ("0001-01-01", "year 1 outside 1900..9999"),
])
def test_a_bad_updated_at_names_line_column_and_value(run, store, tmp_path, value, reason):
    f = write(tmp_path, CONTACTS + f"C1,A,B,,,,OP-1,2024-05-01\nC2,A,B,,,,OP-1,{value}\n")
    assert_refused(run, store, ["contacts", "import", str(f)], "CSV_INVALID",
                   f"line 3: updated_at={value!r} is refused: {reason}")


# --- nothing half-written: output paths checked first ---------------------------------------------

def _unwritable_paths(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("x")
    return {"no folder": (tmp_path / "nodir" / "e.csv", "does not exist"),
            "a directory": (tmp_path / "adir", "is a directory"),
            "parent is a file": (tmp_path / "afile" / "e.csv", "is not a folder")}


@pytest.mark.parametrize("case", ["no folder", "a directory", "parent is a file"])
def test_skip_invalid_with_an_unwritable_errors_path_writes_nothing(run, store, tmp_path, case):
    f = write(tmp_path, OPS + "OP-9,Ann,ann@example.com,true\nOP-10,Bo,not-an-email,true\n")
    out, why = _unwritable_paths(tmp_path)[case]
    assert_refused(run, store, ["operators", "import", str(f), "--skip-invalid", "--errors", str(out)],
                   "FILE_UNWRITABLE", str(out), why)
    assert store.scalar("SELECT count(*) FROM operators") == 2


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_errors_folder_is_refused_first(run, store, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    f = write(tmp_path, OPS + "OP-9,Ann,ann@example.com,true\nOP-10,Bo,not-an-email,true\n")
    assert_refused(run, store, ["operators", "import", str(f), "--skip-invalid", "--errors", str(ro / "e.csv")],
                   "FILE_UNWRITABLE", "is not writable")


@pytest.mark.parametrize("case", ["no folder", "a directory", "parent is a file"])
def test_export_to_an_unwritable_path(run, store, tmp_path, case):
    out, why = _unwritable_paths(tmp_path)[case]
    assert_refused(run, store, ["operators", "export", str(out)], "FILE_UNWRITABLE", why)


# --- formula neutralisation: one helper for every CSV written --------------------------------------

FORMULAS = ['=HYPERLINK("http://evil.example","x")', "+1+2", "-3+4", "@SUM(A1)", "\t=1+1", "\r=1+1"]


def test_neutralise_round_trip_for_every_prefix():
    for value in FORMULAS + ["'=quoted", "plain", ""]:
        guarded = neutralise(value)
        assert unneutralise(guarded) == value
        assert guarded == ("'" + value if value and value[0] in "=+-@\t\r'" else value)


def test_sync_preview_csv_is_formula_safe(run, store, tmp_path):
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([f"C{i}", "Ann", "Berg", "", v, "", "OP-1", ""]
                                                  for i, v in enumerate(FORMULAS[:4]))
    f = write(tmp_path, CONTACTS + buf.getvalue())
    assert run("contacts", "import", str(f)) == 0, run.err
    with store.write() as con:        # a leading tab / CR (the import trims them): trimmed, then guarded
        con.execute("UPDATE contacts SET street = ?, city = ? WHERE contact_id = 'C0'", ["\t=1+1", "\r-1"])
    assert run("sync", "preview", "--stored", "--format", "csv") == 0, run.err
    rows = list(csv.DictReader(io.StringIO(run.out)))
    after = {(r["contact_id"], r["field"]): r["after"] for r in rows}
    for i, v in enumerate(FORMULAS[:4]):
        assert after[(f"C{i}", "company")] == "'" + v
    assert after[("C0", "street")] == "'=1+1" and after[("C0", "city")] == "'-1"
    assert not any(cell[:1] in "=+-@\t\r" for r in rows for cell in r.values() if cell)


def test_errors_csv_is_formula_safe(run, store, tmp_path):
    f = write(tmp_path, OPS + "OP-9,Ann,@evil,true\nOP-10,Bo,bo@example.com,+1\nOP-11,=Cy,cy@example.com,-1\n")
    out = tmp_path / "errors.csv"
    assert run("operators", "import", str(f), "--errors", str(out)) == 2
    values = [r["value"] for r in csv.DictReader(out.open(encoding="utf-8"))]
    assert values == ["'@evil", "'+1", "'-1"]


@pytest.mark.parametrize("prefix", ["\t", "\r", "="])
def test_errors_csv_guards_tab_and_cr_prefixes(run, store, tmp_path, prefix):
    """A file-level error's value is the raw start of the field (not trimmed): still guarded."""
    f = write(tmp_path, OPS + f'OP-9,"{prefix}=cmd' + "x" * MAX_FIELD_CHARS + '",a@example.com,true\n')
    out = tmp_path / "errors.csv"
    assert_refused(run, store, ["operators", "import", str(f), "--errors", str(out)], "CSV_INVALID",
                   f"field longer than {MAX_FIELD_CHARS:,} characters")
    (row,) = csv.DictReader(out.open(encoding="utf-8", newline=""))
    assert row["value"].startswith("'" + prefix + "=cmd") and len(row["value"]) == EXCERPT_CHARS + 2
