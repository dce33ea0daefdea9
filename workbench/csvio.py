"""Reading and writing ops CSV files.

Reading: UTF-8 with or without BOM, delimiter (comma, semicolon, tab) detected
from the header record, headers trimmed and lower-cased, quoted fields may hold
delimiters and newlines. Every record keeps the physical line number where it
starts, so messages can say "line 17" even after multi-line quoted fields.
File-level problems (not text, broken quoting, duplicate or missing headers,
no header) raise ``CsvFileError`` (code CSV_INVALID) whose ``errors`` are
(line, column, value, reason) tuples like the row-level ones of the importers.

Records are kept column-wise (one list per header column), which keeps a 50 MB
file's memory modest and lets importers validate column by column.

Writing: ``write_csv`` neutralises spreadsheet formulas: a value starting with
``= + - @`` (or with the quote used for that) gets a leading single quote;
``unneutralise`` strips it again so an export re-imports exactly.
"""
from __future__ import annotations

import csv
import io
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple, Sequence

from workbench.errors import ValidationError, WorkbenchError

DELIMITERS = ",;\t"
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
FORMULA_CHARS = "=+-@"
_QUOTE_PREFIXED = FORMULA_CHARS + "'"

# A single field may be long (notes, addresses) but not unbounded.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
MAX_FIELD_CHARS = 1_000_000


class CellError(NamedTuple):
    """One problem in a CSV file: physical line, column (header name or ''), offending value, reason."""
    line: int
    column: str
    value: str
    reason: str

    def message(self) -> str:
        where = f"line {self.line}"
        if self.column:
            where += f", column {self.column}"
        value = f" ({self.value!r})" if self.value else ""
        return f"{where}: {self.reason}{value}"


class CsvFileError(ValidationError):
    """The file as a whole cannot be read as the expected CSV (code CSV_INVALID)."""

    def __init__(self, path: Path, errors: list[CellError]) -> None:
        self.path = path
        self.errors = errors
        super().__init__("CSV_INVALID", [f"{path.name}: {e.message()}" for e in errors])


@dataclass
class CsvTable:
    path: Path
    delimiter: str
    header: list[str]                    # trimmed, lower-cased
    header_line: int                     # physical line of the header record
    lines: list[int] = field(default_factory=list)           # start line of each data record
    columns: list[list[str]] = field(default_factory=list)   # one list of values per header column
    field_counts: dict[int, int] = field(default_factory=dict)  # record index -> field count, when != header

    @property
    def delimiter_name(self) -> str:
        return _DELIMITER_NAMES.get(self.delimiter, repr(self.delimiter))

    def __len__(self) -> int:
        return len(self.lines)

    def column(self, name: str) -> list[str] | None:
        """Values of a column (by normalised header name), or None if the column is absent."""
        try:
            return self.columns[self.header.index(name)]
        except ValueError:
            return None

    @property
    def rows(self) -> list[tuple[int, list[str]]]:
        """(line, values) per data record: the row-wise view older callers use."""
        return list(self.iter_rows())

    def iter_rows(self) -> Iterator[tuple[int, list[str]]]:
        cols = self.columns
        for i, line in enumerate(self.lines):
            yield line, [c[i] for c in cols]


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _decode(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise WorkbenchError("FILE_NOT_FOUND", f"{path}: no such file") from None
    except IsADirectoryError:
        raise WorkbenchError("FILE_NOT_FOUND", f"{path}: is a directory, not a file") from None
    except PermissionError:
        raise WorkbenchError("FILE_NOT_FOUND", f"{path}: permission denied") from None
    if data[:4] == b"PK\x03\x04":
        raise CsvFileError(path, [CellError(1, "", "", "this is a zip/Excel workbook, not CSV text: "
                                            "save it as 'CSV UTF-8 (comma delimited)'")])
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise CsvFileError(path, [CellError(1, "", "", "the file is UTF-16 text: save it as UTF-8 CSV")])
    nul = data.find(b"\x00")
    if nul >= 0:
        raise CsvFileError(path, [CellError(_line_of(data, nul), "", "",
                                            f"binary data (NUL byte at offset {nul}), not a CSV text file")])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = _line_of(data, exc.start)
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise CsvFileError(path, [CellError(line, "", "", f"not UTF-8 text: byte 0x{data[exc.start]:02x} at "
                                            f"character {col} (save the file as UTF-8 CSV)")]) from None


def _sniff_delimiter(text: str) -> str:
    """The delimiter that splits the header record into the most fields (quotes respected)."""
    head = text[:65536]
    best, best_n = ",", 1
    for d in DELIMITERS:
        try:
            first = next(csv.reader(io.StringIO(head, newline=""), delimiter=d), [])
        except csv.Error:
            continue
        if len(first) > best_n:
            best, best_n = d, len(first)
    return best


def read_csv(path: str | Path, *, required: Sequence[str] = (), allow_empty: bool = False) -> CsvTable:
    """Parse the whole file. Refuses: unreadable/binary/non-UTF-8 files, broken quoting, an empty file,
    a file with a header but no data rows (unless ``allow_empty``), duplicate headers, missing required columns.
    """
    path = Path(path)
    text = _decode(path)
    if not text.strip():
        raise CsvFileError(path, [CellError(1, "", "", "empty file: expected a header line "
                                            "(operator_id,name,...) and data rows")])
    delimiter = _sniff_delimiter(text.lstrip("\r\n"))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    header_line = 0
    start = 1
    lines: list[int] = []
    columns: list[list[str]] = []
    counts: dict[int, int] = {}
    try:
        for record in reader:
            if not record or not "".join(record).strip():          # blank line or ,,, only
                start = reader.line_num + 1
                continue
            if header is None:
                header = [h.strip().lower() for h in record]
                header_line = start
                width = len(header)
                columns = [[] for _ in range(width)]
                appenders = [c.append for c in columns]
            else:
                n = len(record)
                if n != width:
                    if n > width and not any(v.strip() for v in record[width:]):
                        n = width                         # trailing empty fields: harmless
                    else:
                        counts[len(lines)] = n
                    record = (record + [""] * width)[:width]
                for append, value in zip(appenders, record):
                    append(value)
                lines.append(start)
            start = reader.line_num + 1
    except csv.Error as exc:
        where = f"record starting at line {start}"
        if reader.line_num != start:
            where += f", error at line {reader.line_num}"
        reason = str(exc)
        if "field larger than field limit" in reason:
            reason = "a field is absurdly long (binary data or an unclosed quote?)"
        elif "unexpected end of data" in reason:
            reason = "a quoted field is never closed (unbalanced double quote)"
        raise CsvFileError(path, [CellError(start, "", "", f"malformed CSV ({where}): {reason}")]) from None
    if header is None:
        raise CsvFileError(path, [CellError(1, "", "", "empty file: expected a header line")])
    problems: list[CellError] = []
    seen: dict[str, int] = {}
    for pos, name in enumerate(header, start=1):
        if name and name in seen:
            problems.append(CellError(header_line, name, "", f"header appears twice (fields {seen[name]} and "
                                      f"{pos}); headers must be unique, case and spaces ignored"))
        seen.setdefault(name, pos)
    for name in required:
        if name not in seen:
            problems.append(CellError(header_line, name, "", f"required column missing (header has: "
                                      f"{', '.join(h or '(empty)' for h in header)}; delimiter "
                                      f"{_DELIMITER_NAMES[delimiter]})"))
    if not problems and not lines and not allow_empty:
        problems.append(CellError(header_line, "", "", "header only: no data rows to import"))
    if problems:
        raise CsvFileError(path, problems)
    for pos, col in enumerate(columns):
        if any(len(v) > MAX_FIELD_CHARS for v in col):
            i = next(i for i, v in enumerate(col) if len(v) > MAX_FIELD_CHARS)
            raise CsvFileError(path, [CellError(lines[i], header[pos], "", f"field longer than "
                                                f"{MAX_FIELD_CHARS} characters")])
    return CsvTable(path, delimiter, header, header_line, lines, columns, counts)


# --- writing -------------------------------------------------------------------

def neutralise(value: str) -> str:
    """Guard a cell against spreadsheet formula injection (reversible by ``unneutralise``)."""
    if value and value[0] in _QUOTE_PREFIXED:
        return "'" + value
    return value


def unneutralise(value: str) -> str:
    """Strip the guard quote ``neutralise`` adds: a leading ' followed by = + - @ or '."""
    if len(value) > 1 and value[0] == "'" and value[1] in _QUOTE_PREFIXED:
        return value[1:]
    return value


def write_csv(path: str | Path, header: Sequence[str], rows: Iterable[Sequence[object]], *,
              bom: bool = False) -> int:
    """Write atomically (temp file + rename), every text cell neutralised. Returns the number of rows."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    n = 0
    try:
        with open(tmp, "w", newline="", encoding="utf-8-sig" if bom else "utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(header)
            for row in rows:
                w.writerow([neutralise(v) if isinstance(v, str) else ("" if v is None else _text(v))
                            for v in row])
                n += 1
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise WorkbenchError("FILE_NOT_FOUND", f"{path}: cannot write ({exc.strerror})") from None
    return n


def _text(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)
