"""Export operators as CSV that `operators import` reads back exactly (formula-safe)."""
from __future__ import annotations

from pathlib import Path

from workbench.csvio import write_csv
from workbench.operators.csv_import import ALL_COLUMNS
from workbench.store import Store


def export_operators(store: Store, path: str | Path, *, bom: bool = False) -> int:
    """Write every operator (ordered by id) to ``path``; returns the number of rows.

    Values starting with = + - @ (or ') get a leading single quote so spreadsheets do not run them;
    the importer strips it again. Booleans are written as true/false; ``backend`` is the operator's override,
    empty for the organisation's setting (so a later change of that setting still applies to it).
    """
    rows = store.rows("SELECT o.operator_id, o.name, o.email, o.contact_sync, coalesce(b.backend, '') FROM operators o "
                      "LEFT JOIN operator_backends b USING (operator_id) ORDER BY o.operator_id")
    return write_csv(path, ALL_COLUMNS, rows, bom=bom)
