"""A store session keeps the DuckDB file open for a run's operations, and gives it up to anyone who asks."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import duckdb
import pytest

from workbench.store import Store
from workbench.store.maintenance import backup_store, restore_store


def add(store: Store, name: str) -> None:
    with store.write() as con:
        con.execute("INSERT INTO settings VALUES (?, 'v', now())", [name])


def names(store: Store) -> list[str]:
    return [r[0] for r in store.rows("SELECT key FROM settings ORDER BY key")]


@pytest.fixture
def opens(monkeypatch):
    """Counts the times the store file is opened."""
    count = [0]
    real = duckdb.connect

    def connect(*args, **kwargs):
        count[0] += 1
        return real(*args, **kwargs)
    monkeypatch.setattr(duckdb, "connect", connect)
    return count


def test_a_session_opens_the_file_once_for_many_operations(tmp_path, opens):
    store = Store(tmp_path / "s.duckdb")
    store.migrate()
    opens[0] = 0
    with store.session():
        for i in range(10):
            add(store, f"k{i}")
            assert len(names(store)) == i + 1
    assert opens[0] == 1
    add(store, "outside")                   # without a session: one open per operation again
    assert names(store)[-1] == "outside"
    assert opens[0] == 3


HOLDER = textwrap.dedent("""
    import sys
    from workbench.store import Store
    store = Store(sys.argv[1])
    with store.session():
        with store.write() as con:
            con.execute("INSERT INTO settings VALUES ('holder-1', 'v', now())")
        print("kept", flush=True)
        sys.stdin.readline()                # between operations, as while a run waits for Exchange
        with store.write() as con:
            con.execute("INSERT INTO settings VALUES ('holder-2', 'v', now())")
        print(store.scalar("SELECT string_agg(key, ',' ORDER BY key) FROM settings"), flush=True)
""")


def test_another_process_gets_a_store_kept_open_by_an_idle_session(tmp_path, monkeypatch):
    path = tmp_path / "s.duckdb"
    Store(path).migrate()
    monkeypatch.setenv("WORKBENCH_LOCK_TIMEOUT", "10")      # a file never given up would be STORE_BUSY
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "kept", holder.stderr.read()
        store = Store(path)
        add(store, "other")                 # the holder's file is open and idle: it gives it up
        assert names(store) == ["holder-1", "other"]
        holder.stdin.write("go\n")
        holder.stdin.flush()
        out, err = holder.communicate(timeout=60)
    finally:
        holder.kill()
        holder.wait()
    assert holder.returncode == 0, err
    assert out.strip() == "holder-1,holder-2,other"         # it opened the file again and saw the other write


def test_restore_during_a_session_replaces_the_file_the_session_uses(tmp_path):
    path, backup = tmp_path / "s.duckdb", tmp_path / "b.duckdb"
    store = Store(path)
    with store.session():
        add(store, "before-backup")
        backup_store(path, backup)
        add(store, "after-backup")
        restore_store(path, backup)
        assert names(store) == ["before-backup"]
        add(store, "after-restore")
    assert names(Store(path)) == ["after-restore", "before-backup"]
    assert os.stat(backup).st_size > 0
