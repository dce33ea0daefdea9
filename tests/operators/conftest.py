"""Fixtures for the operators tests: a store file per test and a CLI runner."""
from __future__ import annotations

import pytest

from op_helpers import DATA
from workbench.cli import main
from workbench.store import Store


@pytest.fixture
def op_store(tmp_path, monkeypatch) -> Store:
    """An empty store file, also the CLI's store (WORKBENCH_STORE)."""
    path = tmp_path / "wb.duckdb"
    monkeypatch.setenv("WORKBENCH_STORE", str(path))
    store = Store(path)
    store.scalar("SELECT 1")     # create + migrate
    return store


@pytest.fixture
def demo_store(op_store, capsys) -> Store:
    """The store with the 24 demo operators imported through the CLI."""
    assert main(["operators", "import", str(DATA / "operators.csv")]) == 0
    capsys.readouterr()
    return op_store


class Cli:
    def __init__(self, capsys) -> None:
        self.capsys = capsys
        self.out = self.err = ""

    def __call__(self, *argv: str) -> int:
        code = main(list(argv))
        captured = self.capsys.readouterr()
        self.out, self.err = captured.out, captured.err
        return code


@pytest.fixture
def cli(capsys) -> Cli:
    return Cli(capsys)
