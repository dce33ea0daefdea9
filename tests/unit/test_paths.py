"""Relative paths are resolved once, from where the user gave them, and passed on absolute."""
from __future__ import annotations

import os

from workbench.cli import main
from workbench.paths import from_notebook, notebook_root


def test_a_relative_store_and_keystore_path_on_the_command_line_are_stored_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WORKBENCH_STORE", "")
    (tmp_path / "demo").mkdir()
    assert main(["--store", "demo/workbench.duckdb", "settings", "set", "keystore_path=demo/exchange.jks"]) == 0
    assert os.environ["WORKBENCH_STORE"] == str(tmp_path / "demo" / "workbench.duckdb")
    from workbench.store import Store
    store = Store(tmp_path / "demo" / "workbench.duckdb")
    assert store.scalar("SELECT value FROM settings WHERE key = 'keystore_path'") == str(tmp_path / "demo" / "exchange.jks")


def test_a_relative_workbench_store_is_made_absolute_for_whatever_runs_next(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WORKBENCH_STORE", "here.duckdb")
    assert main(["settings", "show", "--json"]) == 0
    assert os.environ["WORKBENCH_STORE"] == str(tmp_path / "here.duckdb")


def test_a_notebook_reads_relative_paths_from_the_repository_root(tmp_path, monkeypatch):
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")            # where Jupyter starts a notebook's kernel
    assert notebook_root() == tmp_path
    assert from_notebook("demo/workbench.duckdb") == tmp_path / "demo" / "workbench.duckdb"
    assert from_notebook("/abs/store.duckdb") == __import__("pathlib").Path("/abs/store.duckdb")
    monkeypatch.chdir(tmp_path)                          # a kernel started elsewhere: its own directory
    assert from_notebook("demo/workbench.duckdb") == tmp_path / "demo" / "workbench.duckdb"
