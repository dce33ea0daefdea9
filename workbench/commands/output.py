"""Printing helpers shared by the command groups: tables, JSON, stderr diagnostics."""
from __future__ import annotations

import json
import sys
from datetime import date, datetime
from typing import Any, Iterable, Sequence


def _default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if hasattr(value, "item"):          # numpy scalars
        return value.item()
    return str(value)


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, default=_default, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def records(df) -> list[dict[str, Any]]:
    """DataFrame rows as JSON-ready dicts (NaN/NaT become None)."""
    clean = df.astype(object).where(df.notna(), None)
    return clean.to_dict(orient="records")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value != value:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def print_table(rows: Iterable[Sequence[Any]], columns: Sequence[str]) -> None:
    text = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in text]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip())
    for row in text:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())


def print_df(df, columns: Sequence[str] | None = None) -> None:
    columns = list(columns or df.columns)
    print_table(df[columns].astype(object).where(df[columns].notna(), None).itertuples(index=False), columns)


def note(message: str) -> None:
    print(message, file=sys.stderr)
