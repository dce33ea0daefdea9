"""Hostile store files and disks, through the CLI in a subprocess: private modes, damaged files, full disks,
`store check / backup / restore`. Every refusal: exit code, catalogue code, the path in the message, no
INTERNAL or traceback, and the store file byte for byte as it was."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from .store_files import DATA, assert_refused, digest, fill, mode, run_cli, small_disk

BIG_OPERATORS = 200_000


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A store with the demo operators and batch_size=100, made through the CLI once per module."""
    store = tmp_path_factory.mktemp("template") / "wb.duckdb"
    assert run_cli("operators", "import", str(DATA / "operators.csv"), store=store).code == 0
    assert run_cli("settings", "set", "batch_size=100", store=store).code == 0
    return store


@pytest.fixture
def store(template, tmp_path) -> Path:
    path = tmp_path / "wb.duckdb"
    shutil.copyfile(template, path)
    return path


def _flip(path: Path, offset: int) -> None:
    with path.open("r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0xFF]))


def _settings_block(path: Path) -> int:
    """File offset inside a data block of the settings table (DuckDB: 3 headers, then fixed-size blocks)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        block_size = con.execute("PRAGMA database_size").fetchone()[2]
        block_id, offset = con.execute("SELECT block_id, block_offset FROM pragma_storage_info('settings') "
                                       "WHERE block_id IS NOT NULL LIMIT 1").fetchone()
    finally:
        con.close()
    return 3 * 4096 + block_id * block_size + offset + 16


DAMAGE = {
    "flipped byte in the header": lambda p: _flip(p, 20),
    "flipped byte in the settings table": lambda p: _flip(p, _settings_block(p)),
    "truncated to half": lambda p: os.truncate(p, p.stat().st_size // 2),
    "truncated to 100 bytes": lambda p: os.truncate(p, 100),
    "emptied": lambda p: os.truncate(p, 0),
    "not a DuckDB file": lambda p: p.write_text("operator_id,name\nOP-1,Ann\n" * 50),
}


@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
def test_a_damaged_store_is_refused_never_read_migrated_or_rewritten(store, damage):
    damage(store)
    before = digest(store)
    for argv in (["settings", "show"], ["settings", "set", "batch_size=200"], ["store", "check"]):
        result = run_cli(*argv, store=store)
        assert_refused(result, "STORE_CORRUPT", 1, str(store), "workbench store restore BACKUP")
        assert digest(store) == before, argv
        assert not store.with_name(store.name + ".wal").exists()
    assert "✗" in result.out                        # store check names the step that failed


def test_store_check_passes_a_sound_store_and_warns_on_loose_modes(store):
    os.chmod(store, 0o644)
    result = run_cli("store", "check", store=store)
    assert result.code == 0, result.err
    assert "✓ tables:" in result.out and "✓ checkpoint:" in result.out and "✓ store ok" in result.out
    assert f"chmod 600 {store}" in result.out


def test_backup_and_restore_put_a_damaged_store_right_and_keep_it_aside(store, tmp_path):
    backup = tmp_path / "backups" / "wb-1.duckdb"
    backup.parent.mkdir()
    result = run_cli("store", "backup", str(backup), store=store)
    assert result.code == 0, result.err
    assert mode(backup) == 0o600 and str(backup) in result.out
    assert_refused(run_cli("store", "backup", str(backup), store=store), "BACKUP_EXISTS", 2, str(backup))

    assert run_cli("settings", "set", "batch_size=300", store=store).code == 0
    _flip(store, _settings_block(store))
    damaged = digest(store)
    assert_refused(run_cli("settings", "show", store=store), "STORE_CORRUPT", 1, str(store))

    result = run_cli("store", "restore", str(backup), store=store)
    assert result.code == 0, result.err
    kept = [p for p in store.parent.iterdir() if p.name.startswith("wb.duckdb.before-restore-")]
    assert len(kept) == 1 and str(kept[0]) in result.out
    assert digest(kept[0]) == damaged                     # the damaged file is kept, untouched
    assert digest(store) == digest(backup) and mode(store) == 0o600
    shown = run_cli("settings", "show", "--json", store=store)
    assert shown.code == 0 and '"value": "100"' in shown.out   # the backup's batch_size, not 300


BAD_BACKUPS = {
    "truncated": lambda p: os.truncate(p, p.stat().st_size // 2),
    "flipped byte": lambda p: _flip(p, _settings_block(p)),
    "a newer workbench's": lambda p: _newer_schema(p),
}


def _newer_schema(path: Path) -> None:
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO schema_version VALUES (999, now())")
    con.close()


@pytest.mark.parametrize("spoil", BAD_BACKUPS.values(), ids=BAD_BACKUPS.keys())
def test_restore_refuses_a_bad_backup_and_leaves_the_store_alone(store, tmp_path, spoil):
    backup = tmp_path / "wb-backup.duckdb"
    assert run_cli("store", "backup", str(backup), store=store).code == 0
    spoil(backup)
    before = digest(store)
    result = run_cli("store", "restore", str(backup), store=store)
    assert_refused(result, "BACKUP_CORRUPT", 2, str(backup))
    assert digest(store) == before
    assert not [p for p in tmp_path.iterdir() if "before-restore" in p.name or "restoring" in p.name]


def test_store_wal_lock_and_backup_are_born_0600_under_umask_022(tmp_path):
    path = tmp_path / "wb.duckdb"
    code = textwrap.dedent(f"""
        import os, stat
        from pathlib import Path
        from workbench.store import Store
        path = Path({str(path)!r})
        with Store(path).write() as con:          # keep the WAL: no checkpoint when the connection closes
            con.execute("PRAGMA disable_checkpoint_on_shutdown")
            con.execute("INSERT INTO settings VALUES ('batch_size', '7', now())")
        for name in (path, *(path.with_name(path.name + s) for s in (".wal", ".lock", ".open"))):
            print(name.name, oct(stat.S_IMODE(os.stat(name).st_mode)))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          preexec_fn=lambda: os.umask(0o022))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["wb.duckdb", "0o600", "wb.duckdb.wal", "0o600", "wb.duckdb.lock", "0o600",
                                   "wb.duckdb.open", "0o600"]
    probe = tmp_path / "probe.txt"                # the process umask outside the gate: unchanged (022)
    subprocess.run([sys.executable, "-c", f"open({str(probe)!r}, 'w')"], check=True, preexec_fn=lambda: os.umask(0o022))
    assert mode(probe) == 0o644


# --- a full disk ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def big_operators(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("big") / "operators-200k.csv"
    with path.open("w", encoding="utf-8") as fh:
        fh.write("operator_id,name,email,contact_sync\n")
        for i in range(BIG_OPERATORS):
            fh.write(f"BIG-{i:06d},Operator {i},big.{i}@example.com,false\n")
    return path


@pytest.fixture
def disk(tmp_path, template) -> Path:
    """A 24 MiB tmpfs holding a copy of the template store (wb.duckdb)."""
    with small_disk(tmp_path / "disk", "24m") as mounted:
        shutil.copyfile(template, mounted / "wb.duckdb")
        yield mounted


def _rows(store: Path, table: str) -> int:
    con = duckdb.connect(str(store), read_only=True)
    try:
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        con.close()


FULL = {
    "settings set": (lambda big: ["settings", "set", "batch_size=250"], 0, "settings_changes"),
    "operators import of 200,000 rows": (lambda big: ["operators", "import", str(big)], 0, "operators"),
    "operators import of 200,000 rows, 256 KiB left": (lambda big: ["operators", "import", str(big)], 256 << 10,
                                                      "operators"),
    "contacts import": (lambda big: ["contacts", "import", str(DATA / "contacts.csv")], 0, "contacts"),
}


@pytest.mark.slow
@pytest.mark.parametrize("argv, leave, table", FULL.values(), ids=FULL.keys())
def test_a_full_disk_leaves_the_store_as_it_was(disk, big_operators, argv, leave, table):
    store = disk / "wb.duckdb"
    rows = _rows(store, table)
    filler = fill(disk, leave)
    before = digest(store)
    result = run_cli(*argv(big_operators), store=store)
    assert_refused(result, "DISK_FULL", 1, str(store), "free on its file system", "needs about")
    assert digest(store) == before
    assert sorted(p.name for p in disk.iterdir()) == ["filler", "wb.duckdb", "wb.duckdb.lock", "wb.duckdb.open"]
    filler.unlink()                                   # room again: the same command now succeeds
    result = run_cli(*argv(big_operators), store=store)
    assert result.code == 0, result.err
    assert _rows(store, table) > rows


@pytest.mark.slow
def test_a_backup_onto_a_full_disk_leaves_nothing_behind(store, disk):
    fill(disk)
    before = digest(store)
    target = disk / "backup.duckdb"
    result = run_cli("store", "backup", str(target), store=store)
    assert_refused(result, "DISK_FULL", 1, str(target), "free on its file system")
    assert digest(store) == before
    assert sorted(p.name for p in disk.iterdir()) == ["filler", "wb.duckdb"]


@pytest.mark.slow
def test_a_new_store_on_a_full_disk_is_not_left_half_made(tmp_path):
    with small_disk(tmp_path / "disk", "4m") as disk:
        filler = fill(disk)
        store = disk / "new.duckdb"
        assert_refused(run_cli("settings", "show", store=store), "DISK_FULL", 1, str(store), "free on its file system")
        assert not store.exists()                     # not a 0-byte file that would be STORE_CORRUPT next time
        filler.unlink()
        assert run_cli("settings", "show", store=store).code == 0


def test_a_store_path_that_is_a_directory_is_unreadable_not_internal(tmp_path):
    store = tmp_path / "wb.duckdb"
    store.mkdir()
    assert_refused(run_cli("settings", "show", store=store), "STORE_UNREADABLE", 2, str(store), "Is a directory")
    assert_refused(run_cli("store", "check", store=store), "FILE_NOT_FOUND", 2, str(store), "a directory")
    assert list(store.iterdir()) == []
