"""Helpers shared by the operators tests (a unique module name: safe next to other conftest.py files)."""
from __future__ import annotations

import hashlib
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "data"
HEADER = "operator_id,name,email,contact_sync\n"


def operator_rows(store) -> list[tuple]:
    return store.rows("SELECT * FROM operators ORDER BY operator_id")


def file_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
