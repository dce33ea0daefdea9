"""The DuckDB store shared by the CLI, the dashboard, notebooks and the agent.

``Store(path)`` is cheap: it holds only the path. Each operation opens the
file, works in one transaction and closes it (see ``connection``), unless a
``session`` keeps the file open for a run's many operations. Read helpers
return pandas DataFrames.
"""
from __future__ import annotations

import functools
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, TypeVar

import duckdb

from workbench.store.connection import session, transaction
from workbench.store.schema import migrate, now

from workbench.paths import DEFAULT_STORE as DEFAULT_PATH, STORE_ENV

__all__ = ["Store", "default_path", "in_session", "now"]

T = TypeVar("T")


def default_path() -> Path:
    return Path(os.environ.get(STORE_ENV, DEFAULT_PATH))


class Store:
    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        self._migrated = False

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    def migrate(self) -> None:
        """Bring the schema up to date in a transaction of its own (once per Store object)."""
        if not self._migrated:
            with transaction(self.path) as con:
                migrate(con)
            self._migrated = True

    @contextmanager
    def session(self) -> Iterator[None]:
        """Keep the file open in this process until the block ends; every operation still holds the gate,
        and another process asking for it between operations gets it at once (``kept_open``)."""
        with session(self.path):
            yield

    @contextmanager
    def write(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write transaction."""
        self.migrate()
        with transaction(self.path) as con:
            yield con

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A transaction for reading (the same gate as writes: see ``connection``)."""
        with self.write() as con:
            yield con

    def df(self, sql: str, params: Sequence[Any] | None = None):
        """Run a query and return a pandas DataFrame."""
        with self.read() as con:
            return con.execute(sql, params or []).df()

    def rows(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        with self.read() as con:
            return con.execute(sql, params or []).fetchall()

    def scalar(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        with self.read() as con:
            row = con.execute(sql, params or []).fetchone()
        return None if row is None else row[0]


def in_session(fn: Callable[..., T]) -> Callable[..., T]:
    """``fn(store, ...)`` with ``store`` kept open for the call (``Store.session``): for a sync run."""
    @functools.wraps(fn)
    def kept(store: Store, *args: Any, **kwargs: Any) -> T:
        with store.session():
            return fn(store, *args, **kwargs)
    return kept
