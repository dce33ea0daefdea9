"""Statements built now and run later, in a store transaction.

``Deferred`` stands in for a connection: the write functions that take ``con`` (``sync_tables``) record
their statements and parameters on it instead of running them, and ``run(con)`` runs them in order. So a
sync batch builds its parameters (hashes, typed lists: Python work that holds the GIL) before it takes the
store's gate, and holds the gate only while DuckDB runs the statements. Only for writers that never read
a result: ``execute`` returns None, so reading one fails at once.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence


class Deferred:
    def __init__(self) -> None:
        self.statements: list[tuple[str, list[Any]]] = []

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.statements.append((sql, list(params)))

    def run(self, con: Any) -> None:
        for sql, params in self.statements:
            con.execute(sql, params)


def deferred(write: Callable[[Any], Any]) -> Deferred:
    """The statements ``write(con)`` makes, recorded to run later."""
    out = Deferred()
    write(out)
    return out
