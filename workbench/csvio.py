"""Reading ops CSV files: UTF-8 with or without BOM, delimiter detected, headers normalised."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import WorkbenchError

DELIMITERS = ",;\t"


@dataclass
class CsvTable:
    path: Path
    delimiter: str
    header: list[str]                 # trimmed, lower-cased
    rows: list[tuple[int, list[str]]]  # (line number of the record's first line, values)


def _decode(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise WorkbenchError("FILE_NOT_FOUND", f"{path}: no such file") from None
    if b"\x00" in data[:4096]:
        raise WorkbenchError("CSV_INVALID", f"{path}: binary data, not a CSV text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise WorkbenchError("CSV_INVALID", f"{path}: not UTF-8 text (byte {exc.start})") from None


def _sniff_delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in DELIMITERS}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def read_csv(path: str | Path, *, required: tuple[str, ...] = ()) -> CsvTable:
    """Parse the whole file; refuse empty files, duplicate headers and missing required columns."""
    path = Path(path)
    text = _decode(path)
    if not text.strip():
        raise WorkbenchError("CSV_INVALID", f"{path}: empty file (expected a header line)")
    delimiter = _sniff_delimiter(text.splitlines()[0])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = [h.strip().lower() for h in next(reader)]
        rows: list[tuple[int, list[str]]] = []
        line = reader.line_num + 1
        for record in reader:
            if any(v.strip() for v in record):
                rows.append((line, record))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise WorkbenchError("CSV_INVALID", f"{path}: line {reader.line_num}: {exc}") from None
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise WorkbenchError("CSV_INVALID", f"{path}: line 1: header {name!r} appears twice (headers must be unique)")
        seen.add(name)
    missing = [c for c in required if c not in seen]
    if missing:
        raise WorkbenchError("CSV_INVALID", f"{path}: line 1: missing required column(s) {', '.join(missing)}")
    return CsvTable(path, delimiter, header, rows)
