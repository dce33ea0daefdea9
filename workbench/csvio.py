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

Limits, checked on the raw lines before the csv module splits them (so a hostile
file is refused in bounded time and memory): the header record holds at most
``MAX_HEADER_CHARS`` characters and ``MAX_COLUMNS`` columns, any other record at
most ``MAX_RECORD_CHARS``, a field at most ``MAX_FIELD_CHARS`` (Excel's cell
limit). Messages quote at most ``EXCERPT_CHARS`` of a value. Line breaks may be
LF, CRLF or old-Mac CR; line numbers count each of them as one line.

Writing: ``write_csv`` / ``write_rows`` neutralise spreadsheet formulas: a value
starting with ``= + - @``, tab or CR (or with the quote used for that) gets a
leading single quote; ``unneutralise`` strips it again so an export re-imports
exactly. Every CSV the workbench writes goes through ``write_rows``.
"""
from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterable, Iterator, NamedTuple, Sequence

from workbench.errors import ValidationError, WorkbenchError

DELIMITERS = ",;\t"
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
FORMULA_CHARS = "=+-@\t\r"
_QUOTE_PREFIXED = FORMULA_CHARS + "'"

MAX_COLUMNS = 512               # columns in the header
MAX_HEADER_CHARS = 65_536       # characters of the header record
MAX_RECORD_CHARS = 1_048_576    # characters of any other record (quoted line breaks included)
MAX_FIELD_CHARS = 32_767        # characters of one field: Excel's cell limit
EXCERPT_CHARS = 60              # characters of a value quoted in a message


def excerpt(value: str, limit: int = EXCERPT_CHARS) -> str:
    """``value`` as quoted in a message: its repr, cut to ``limit`` characters and "…"."""
    return repr(value) if len(value) <= limit else f"{value[:limit]!r}…"


class CellError(NamedTuple):
    """One problem in a CSV file: physical line, column (header name or ''), offending value, reason."""
    line: int
    column: str
    value: str
    reason: str

    def message(self) -> str:
        where = f"line {self.line}"
        if self.column:
            column = self.column if len(self.column) <= EXCERPT_CHARS else excerpt(self.column)
            where += f", column {column}"
        value = f" ({excerpt(self.value)})" if self.value else ""
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
    """Physical line of a byte offset; LF, CRLF and a lone CR each end a line (as the reader counts)."""
    return data.count(b"\n", 0, offset) + data.count(b"\r", 0, offset) - data.count(b"\r\n", 0, offset) + 1


_EOL = re.compile("\r\n|\r|\n")


class _BoundedLines:
    """Physical lines for ``csv.reader`` that refuse a record over its size limit before it is split.

    Lines end at LF, CRLF or a lone CR. The search for a line's end stops at the limit, so a 10 MB
    line costs no more than the limit. The reader loop calls ``next_record`` after each record; the
    first record (the header) has the smaller limit ``MAX_HEADER_CHARS``.
    """

    def __init__(self, text: str, path: Path) -> None:
        self._text = text
        self._pos = 0
        self._path = path
        self.limit = MAX_HEADER_CHARS
        self.line = 0            # physical lines handed out
        self._start = 1          # physical line the current record starts on
        self._used = 0

    def __iter__(self) -> "_BoundedLines":
        return self

    def __next__(self) -> str:
        text, pos = self._text, self._pos
        if pos >= len(text):
            raise StopIteration
        room = self.limit - self._used
        end = _EOL.search(text, pos, pos + room + 2)
        stop = end.end() if end else len(text)
        if stop - pos > room:
            self._refuse(text[pos:pos + EXCERPT_CHARS + 1])
        self.line += 1
        self._used += stop - pos
        self._pos = stop
        return text[pos:stop]

    def _refuse(self, start_of_line: str) -> None:
        if self.limit == MAX_HEADER_CHARS:
            reason = f"the header is longer than {MAX_HEADER_CHARS:,} characters (at most {MAX_COLUMNS} columns)"
        else:
            reason = (f"a record is longer than {MAX_RECORD_CHARS:,} characters (binary data, an unclosed "
                      "quote or a runaway line?)")
        raise CsvFileError(self._path, [CellError(self._start, "", start_of_line, reason)])

    def next_record(self, *, header_done: bool) -> None:
        if header_done:
            self.limit = MAX_RECORD_CHARS
        self._start = self.line + 1
        self._used = 0


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
    head = text[:MAX_HEADER_CHARS]
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
    records, headers or fields over the limits, a file with a header but no data rows (unless
    ``allow_empty``), duplicate headers, missing required columns.
    """
    path = Path(path)
    text = _decode(path)
    if not text.strip():
        raise CsvFileError(path, [CellError(1, "", "", "empty file: expected a header line "
                                            "(operator_id,name,...) and data rows")])
    delimiter = _sniff_delimiter(text.lstrip("\r\n"))
    table = _parse(path, text, delimiter)
    problems = _header_problems(table, required)
    if not problems and not table.lines and not allow_empty:
        problems.append(CellError(table.header_line, "", "", "header only: no data rows to import"))
    if problems:
        raise CsvFileError(path, problems)
    for pos, col in enumerate(table.columns):
        i = next((i for i, v in enumerate(col) if len(v) > MAX_FIELD_CHARS), None)
        if i is not None:
            raise CsvFileError(path, [CellError(table.lines[i], table.header[pos], col[i][:EXCERPT_CHARS + 1],
                                                f"field longer than {MAX_FIELD_CHARS:,} characters")])
    return table


def _parse(path: Path, text: str, delimiter: str) -> CsvTable:
    """Split records (size-bounded by ``_BoundedLines``) into the header and columns."""
    src = _BoundedLines(text, path)
    reader = csv.reader(src, delimiter=delimiter, strict=True)
    table: CsvTable | None = None
    start = 1
    try:
        for record in reader:
            if record and "".join(record).strip():          # not a blank line or ,,, only
                if table is None:
                    table = _header_table(path, delimiter, record, start)
                    width = len(table.header)
                    appenders = [c.append for c in table.columns]
                else:
                    n = len(record)
                    if n != width:
                        if n < width or any(v.strip() for v in record[width:]):
                            table.field_counts[len(table.lines)] = n     # trailing empty fields are harmless
                        record = (record + [""] * width)[:width]
                    for append, value in zip(appenders, record):
                        append(value)
                    table.lines.append(start)
            src.next_record(header_done=table is not None)
            start = src.line + 1
    except csv.Error as exc:
        where = f"record starting at line {start}"
        if src.line != start:
            where += f", error at line {src.line}"
        reason = str(exc)
        if "field larger than field limit" in reason:
            reason = f"a field is longer than {MAX_FIELD_CHARS:,} characters (binary data or an unclosed quote?)"
        elif "unexpected end of data" in reason:
            reason = "a quoted field is never closed (unbalanced double quote)"
        raise CsvFileError(path, [CellError(start, "", "", f"malformed CSV ({where}): {reason}")]) from None
    if table is None:
        raise CsvFileError(path, [CellError(1, "", "", "empty file: expected a header line")])
    return table


def _header_table(path: Path, delimiter: str, record: list[str], line: int) -> CsvTable:
    if len(record) > MAX_COLUMNS:
        raise CsvFileError(path, [CellError(line, "", "", f"the header has {len(record):,} columns; at most "
                                            f"{MAX_COLUMNS} are allowed")])
    header = [h.strip().lower() for h in record]
    return CsvTable(path, delimiter, header, line, columns=[[] for _ in header])


def _header_problems(table: CsvTable, required: Sequence[str]) -> list[CellError]:
    """Duplicate headers (each name once, with its positions) and missing required columns."""
    header, line = table.header, table.header_line
    positions: dict[str, list[int]] = {}
    for pos, name in enumerate(header, start=1):
        positions.setdefault(name, []).append(pos)
    problems = [CellError(line, name, "", f"header appears {_times(len(pos))} (fields {_list(pos)}); "
                          "headers must be unique, case and spaces ignored")
                for name, pos in positions.items() if name and len(pos) > 1]
    names = [h if len(h) <= EXCERPT_CHARS else excerpt(h) for h in header] or ["(none)"]
    for name in required:
        if name not in positions:
            problems.append(CellError(line, name, "", f"required column missing (header has: "
                                      f"{_list([n or '(empty)' for n in names])}; delimiter "
                                      f"{_DELIMITER_NAMES[table.delimiter]})"))
    return problems


def _times(n: int) -> str:
    return "twice" if n == 2 else f"{n} times"


def _list(items: Sequence[object], limit: int = 10) -> str:
    """Items joined for a message: the first ``limit``, then how many more."""
    text = ", ".join(str(i) for i in items[:limit])
    if len(items) == 2 and all(isinstance(i, int) for i in items):
        return f"{items[0]} and {items[1]}"
    return text + (f", … ({len(items) - limit} more)" if len(items) > limit else "")


# --- writing -------------------------------------------------------------------

def neutralise(value: str) -> str:
    """Guard a cell against spreadsheet formula injection (reversible by ``unneutralise``)."""
    if value and value[0] in _QUOTE_PREFIXED:
        return "'" + value
    return value


def unneutralise(value: str) -> str:
    """Strip the guard quote ``neutralise`` adds: a leading ' followed by = + - @ tab CR or '."""
    if len(value) > 1 and value[0] == "'" and value[1] in _QUOTE_PREFIXED:
        return value[1:]
    return value


def write_rows(fh: IO[str], header: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    """Write CSV to an open text stream, every text cell neutralised. Returns the number of rows."""
    w = csv.writer(fh, lineterminator="\n")
    # QUOTE_MINIMAL quotes only the line terminator's characters, so a lone CR would end the record
    # for every reader: a row holding one is written fully quoted.
    w_quoted = csv.writer(fh, lineterminator="\n", quoting=csv.QUOTE_ALL)
    w.writerow(header)
    n = 0
    for row in rows:
        cells = [neutralise(v) if isinstance(v, str) else ("" if v is None else _text(v)) for v in row]
        (w_quoted if any("\r" in c for c in cells) else w).writerow(cells)
        n += 1
    return n


def check_writable(path: str | Path) -> Path:
    """Refuse (FILE_UNWRITABLE) an output path ``write_csv`` could not write, before any other work is done."""
    path = Path(path)
    parent = path.parent
    if path.is_dir():
        problem = "is a directory; give a file name"
    elif not parent.is_dir():
        problem = (f"folder {parent} does not exist" if not parent.exists() else f"{parent} is not a folder")
    elif not os.access(parent, os.W_OK | os.X_OK):
        problem = f"folder {parent} is not writable"
    elif path.exists() and not os.access(path, os.W_OK):
        problem = "the file exists and is not writable"
    else:
        return path
    raise WorkbenchError("FILE_UNWRITABLE", f"{path}: cannot write: {problem}")


def write_csv(path: str | Path, header: Sequence[str], rows: Iterable[Sequence[object]], *,
              bom: bool = False) -> int:
    """Write atomically (temp file + rename) with ``write_rows``. Returns the number of rows."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", newline="", encoding="utf-8-sig" if bom else "utf-8") as fh:
            n = write_rows(fh, header, rows)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise WorkbenchError("FILE_UNWRITABLE", f"{path}: cannot write ({exc.strerror})") from None
    return n


def _text(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)
