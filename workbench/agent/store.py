"""The store as the agent's threads share it.

DuckDB refuses, within one process, a read-only connection to a file that a read-write connection has
open ("different configuration"), while read-write connections of one process share one database
instance. Opening and closing such connections from several threads at once is not safe either
(DuckDB 2.0 then loses its pandas replacement scan: "Table Function with name pandas_scan does not
exist"). The agent uses the store from several threads (listener flush, main loop, mailbox workers, the
engine's pool), so its store opens read-write connections for reads too and runs one store operation at
a time within the process. Operations are short (open, one transaction, close), so this costs little;
other processes are unaffected: every operation still opens, works and closes.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

import duckdb

from workbench.store import Store
from workbench.store.connection import transaction

_STORE_LOCK = threading.RLock()


class AgentStore(Store):
    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        self.migrate()
        with _STORE_LOCK:
            with transaction(self.path) as con:
                yield con

    @contextmanager
    def write(self) -> Iterator[duckdb.DuckDBPyConnection]:
        self.migrate()
        with _STORE_LOCK:
            with transaction(self.path) as con:
                yield con

    def migrate(self) -> None:
        with _STORE_LOCK:
            super().migrate()


def agent_store(store: Store) -> AgentStore:
    return store if isinstance(store, AgentStore) else AgentStore(store.path)
