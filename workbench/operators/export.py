"""Export operators as CSV that `operators import` reads back exactly (formula-safe)."""
from __future__ import annotations

from pathlib import Path

from workbench.csvio import write_csv
from workbench.operators.csv_import import COLUMNS
from workbench.store import Store


def export_operators(store: Store, path: str | Path, *, bom: bool = False) -> int:
    """Write every operator (ordered by id) to ``path``; returns the number of rows.

    Values starting with = + - @ (or ') get a leading single quote so spreadsheets do not run them;
    the importer strips it again. Booleans are written as true/false.
    """
    rows = store.rows("SELECT operator_id, name, email, contact_sync FROM operators ORDER BY operator_id")
    return write_csv(path, COLUMNS, rows, bom=bom)
