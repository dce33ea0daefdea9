"""Migrations, the connection policy and concurrent use of one store file."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time

import duckdb
import pytest

from workbench.errors import WorkbenchError
from workbench.store import Store
from workbench.store.connection import transaction
from workbench.store.schema import MIGRATIONS
from workbench.store.summary import TABLES

DESIGN_TABLES = {"settings", "operators", "operator_checks", "contacts", "contact_team", "exchange_contacts",
                 "links", "mailbox_state", "sync_runs", "sync_log", "notifications"}


def test_migrations_from_empty_create_every_table_and_rerun_is_a_no_op(tmp_path):
    path = tmp_path / "s.duckdb"
    Store(path).scalar("SELECT 1")
    con = duckdb.connect(str(path))
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    versions = con.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
    con.close()
    assert DESIGN_TABLES <= tables
    assert set(TABLES) <= tables
    assert [v[0] for v in versions] == list(range(1, len(MIGRATIONS) + 1))
    Store(path).scalar("SELECT 1")          # a second process/store object: nothing re-applied
    con = duckdb.connect(str(path))
    assert con.execute("SELECT count(*) FROM schema_version").fetchone()[0] == len(MIGRATIONS)
    con.close()


def test_a_store_from_a_newer_workbench_is_refused(tmp_path):
    path = tmp_path / "s.duckdb"
    Store(path).scalar("SELECT 1")
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO schema_version VALUES (999, now())")
    con.close()
    with pytest.raises(WorkbenchError) as exc:
        Store(path).scalar("SELECT 1")
    assert exc.value.code == "STORE_UNREADABLE"


def test_a_file_that_is_not_a_store_is_a_clear_error(tmp_path):
    path = tmp_path / "notes.duckdb"
    path.write_text("just text\n" * 100)
    with pytest.raises(WorkbenchError) as exc:
        Store(path).scalar("SELECT 1")
    assert exc.value.code == "STORE_CORRUPT"


def test_failed_transaction_rolls_back(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    with pytest.raises(RuntimeError):
        with store.write() as con:
            con.execute("INSERT INTO settings VALUES ('batch_size', '7', now())")
            raise RuntimeError("boom")
    assert store.scalar("SELECT count(*) FROM settings") == 0


HOLDERS = {
    "a foreign duckdb program": "import duckdb; con = duckdb.connect({path!r})",
    "a workbench process mid-transaction": "from workbench.store import Store; "
                                           "ctx = Store({path!r}).write(); ctx.__enter__()",
}


@pytest.mark.parametrize("holder_code", HOLDERS.values(), ids=HOLDERS.keys())
def test_lock_held_too_long_becomes_store_busy_naming_the_holder(tmp_path, holder_code):
    path = tmp_path / "s.duckdb"
    Store(path).scalar("SELECT 1")
    code = holder_code.format(path=str(path)) + "; import time; print('held', flush=True); time.sleep(30)"
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(WorkbenchError) as exc:
            with transaction(path, timeout=0.5):
                pass
        assert exc.value.code == "STORE_BUSY"
        assert f"PID {holder.pid}" in exc.value.detail
    finally:
        holder.kill()
        holder.wait()
    with transaction(path, timeout=5) as con:       # free again once the holder is gone
        assert con.execute("SELECT 1").fetchone() == (1,)


def test_threads_of_one_process_share_the_store(tmp_path):
    """Readers and writers on several threads at once: no 'different configuration', no lost row."""
    from concurrent.futures import ThreadPoolExecutor
    store = Store(tmp_path / "t.duckdb")

    def work(i: int) -> int:
        with store.write() as con:
            con.execute("INSERT INTO operators VALUES (?, 'n', 'e@x.test', false, now(), 't')", [f"T-{i}"])
        return len(store.df("SELECT * FROM operators"))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(80)))
    assert store.scalar("SELECT count(*) FROM operators") == 80


WRITER = textwrap.dedent("""
    import sys
    from workbench.store import Store, now
    store, tag = Store(sys.argv[1]), sys.argv[2]
    for i in range(150):
        with store.write() as con:
            con.execute("INSERT INTO operators VALUES (?, ?, ?, false, ?, 'test')",
                        [f"{tag}-{i}", f"Op {i}", f"{tag}{i}@example.com", now()])
""")
READER = textwrap.dedent("""
    import sys, time
    from workbench.store import Store
    store, last = Store(sys.argv[1]), 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        n = store.scalar("SELECT count(*) FROM operators")
        assert n >= last, (n, last)          # committed writes never disappear
        last = n
        if n == 300:
            break
    print(last)
""")


def test_two_writers_and_a_reader_share_one_store_without_errors_or_lost_writes(tmp_path):
    path = tmp_path / "shared.duckdb"
    Store(path).scalar("SELECT 1")
    env_cmd = [sys.executable, "-c"]
    procs = [subprocess.Popen(env_cmd + [WRITER, str(path), tag], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for tag in ("a", "b")]
    reader = subprocess.Popen(env_cmd + [READER, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for proc in procs + [reader]:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert err == ""
    assert reader.returncode == 0
    store = Store(path)
    assert store.scalar("SELECT count(*) FROM operators") == 300
    assert store.scalar("SELECT count(DISTINCT operator_id) FROM operators WHERE operator_id LIKE 'a-%'") == 150



QUEUED = textwrap.dedent("""
    import fcntl, os, sys
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_SH)          # as a process queued for <store>.lock holds <store>.queue
    print("queued", flush=True)
    sys.stdin.readline()
""")


def test_taking_the_store_lets_a_process_queued_for_it_go_first(tmp_path, monkeypatch):
    """The kernel wakes a queued process when the lock is let go but does not hand it over: a process
    running operation after operation would win most races for it. So the lock is taken only once nobody
    else is queued for it (here a process holds <store>.queue as a queued one does, then leaves)."""
    from workbench.store import file_locks
    path = tmp_path / "shared.duckdb"
    monkeypatch.setattr(file_locks, "COURTESY_SECONDS", 60.0)
    queued = subprocess.Popen([sys.executable, "-c", QUEUED, str(file_locks.beside(path, ".queue"))],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert queued.stdout.readline().strip() == "queued"
    taken = threading.Event()

    def take() -> None:
        fd = file_locks.take(file_locks.beside(path, ".lock"), path, time.monotonic() + 60,
                             announce=file_locks.beside(path, ".queue"), courteous=True)
        taken.set()
        file_locks.release(fd)
    taker = threading.Thread(target=take)
    taker.start()
    assert not taken.wait(0.5), "the lock was taken while another process was queued for it"
    queued.communicate("go\n", timeout=30)
    taker.join(30)
    assert taken.is_set()
