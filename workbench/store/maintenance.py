"""`workbench store check|backup|restore`: is the file sound, a consistent copy of it, put a copy back.

- ``check_store(path)``: the file's header and modes, a read-only open, ``PRAGMA database_size``,
  the schema version, every row of every table read (DuckDB verifies a block's checksum when it
  reads it, and DuckDB has no other integrity check), and a ``CHECKPOINT`` on a throwaway copy
  (replays the WAL and rewrites the blocks). Never changes the file.
- ``backup_store(path, dest)``: under the store gate, ``CHECKPOINT`` (the WAL goes into the file),
  close, and copy the file; the copy is checked before it gets its name, and is 0600.
  Why a file copy, not ``EXPORT DATABASE`` or ``COPY FROM DATABASE``: the copy is the store byte for
  byte (sequences, indexes, schema version and all), ``store check`` checks it with the same code,
  and restoring it is a rename, not an import that rebuilds the schema; with the gate held and the
  WAL checkpointed no workbench process can change the file while it is copied.
- ``restore_store(path, backup)``: checks the backup first (a damaged one is BACKUP_CORRUPT and the
  store is not touched), then under the gate moves the current file (and its WAL) aside as
  ``<store>.before-restore-<UTC time>`` — never deleted — and renames a 0600 copy of the backup in.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from workbench.errors import WorkbenchError
from workbench.files import copy_private, human_size
from workbench.store import contact_search
from workbench.store.connection import exclusive, open_connection
from workbench.store.file_locks import beside
from workbench.store.faults import store_fault
from workbench.store.schema import MIGRATIONS

DUCKDB_MAGIC = b"DUCK"               # bytes 8..12 of every DuckDB file


@dataclass(frozen=True)
class Step:
    name: str
    status: str                      # ok, warning, failed
    detail: str
    code: str | None = None          # catalogue code of a failed step


@dataclass
class CheckReport:
    path: Path
    steps: list[Step] = field(default_factory=list)
    tables: int = 0
    rows: int = 0

    @property
    def ok(self) -> bool:
        return self.failure is None

    @property
    def failure(self) -> Step | None:
        return next((s for s in self.steps if s.status == "failed"), None)

    def error(self, code: str | None = None) -> WorkbenchError:
        bad = self.failure
        assert bad is not None
        return WorkbenchError(code or bad.code or "STORE_CORRUPT", f"{self.path}: {bad.name}: {bad.detail}")

    def as_dict(self) -> dict:
        return {"path": str(self.path), "ok": self.ok, "tables": self.tables, "rows": self.rows,
                "steps": [asdict(s) for s in self.steps]}


def _failed(name: str, exc: Exception, path: Path, about: str = "") -> Step:
    if isinstance(exc, WorkbenchError):
        return Step(name, "failed", exc.detail, exc.code)
    fault = store_fault(exc, path)
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return Step(name, "failed", about + text, fault.code if fault is not None else "STORE_UNREADABLE")


def _file_step(path: Path) -> Step:
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(16)
    if head[8:12] != DUCKDB_MAGIC:
        return Step("file", "failed", f"{human_size(size)}, no DuckDB header: not a DuckDB database file",
                    "STORE_CORRUPT")
    loose = [p for p in (path, *(beside(path, suffix) for suffix in (".wal", ".lock", ".open", ".want", ".queue")))
             if p.exists() and stat.S_IMODE(p.stat().st_mode) & 0o077]
    if loose:
        modes = ", ".join(f"{p.name} {stat.S_IMODE(p.stat().st_mode):04o}" for p in loose)
        return Step("file", "warning", f"{human_size(size)}; readable by others ({modes}): "
                                       f"chmod 600 {' '.join(str(p) for p in loose)}")
    return Step("file", "ok", f"DuckDB database, {human_size(size)}, mode 0600")


def _schema_step(con: duckdb.DuckDBPyConnection) -> Step:
    known = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    if "schema_version" not in known:
        return Step("schema", "failed", "no schema_version table: not a workbench store", "STORE_CORRUPT")
    version = int(con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0])
    if version > len(MIGRATIONS):
        return Step("schema", "failed", f"version {version} is newer than this workbench ({len(MIGRATIONS)})",
                    "STORE_UNREADABLE")
    later = "" if version == len(MIGRATIONS) else f"; migrates to {len(MIGRATIONS)} at its next use"
    return Step("schema", "ok", f"version {version}{later}")


def _read_tables(con: duckdb.DuckDBPyConnection, report: CheckReport) -> Step:
    names = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = "
                                       "'main' AND table_type = 'BASE TABLE' ORDER BY table_name").fetchall()]
    for name in names:
        quoted = '"' + name.replace('"', '""') + '"'
        try:      # hashing every column reads (and so checksums) every block of the table
            rows = con.execute(f"SELECT count(*), bit_xor(hash(COLUMNS(*))) FROM {quoted}").fetchone()[0]
        except duckdb.Error as exc:
            return _failed("tables", exc, report.path, about=f"table {name}: ")
        report.tables += 1
        report.rows += int(rows)
    return Step("tables", "ok", f"{report.tables} tables, {report.rows} rows read")


def _search_step(con: duckdb.DuckDBPyConnection) -> Step:
    if not con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'contact_search_stale'").fetchone()[0]:
        return Step("search index", "ok", "built when the workbench next opens the store (migration 8)")
    recent, stale = contact_search.backlog(con)
    detail = f"{recent} terms of {stale} contacts refreshed since the last build"
    if recent > contact_search.REINDEX_AT:
        return Step("search index", "warning", f"{detail} (every search reads them): workbench store reindex")
    return Step("search index", "ok", detail)


def _checkpoint_copy(path: Path) -> Step:
    with tempfile.TemporaryDirectory(prefix="workbench-check-") as tmp:
        copy = Path(tmp) / path.name
        try:
            shutil.copyfile(path, copy)
            wal = path.with_name(path.name + ".wal")
            if wal.exists():
                shutil.copyfile(wal, copy.with_name(copy.name + ".wal"))
        except OSError as exc:
            return Step("checkpoint", "warning", f"skipped: could not copy to {tmp} ({exc.strerror})")
        try:
            con = duckdb.connect(str(copy))
            try:
                con.execute("CHECKPOINT")
            finally:
                con.close()
        except duckdb.Error as exc:
            return _failed("checkpoint", exc, path)
    return Step("checkpoint", "ok", "CHECKPOINT on a copy succeeded")


def _inspect(path: Path, report: CheckReport, *, checkpoint_copy: bool) -> None:
    report.steps.append(_file_step(path))
    if not report.ok:
        return
    try:
        con = open_connection(path, read_only=True)
    except WorkbenchError as exc:
        report.steps.append(_failed("open", exc, path))
        return
    try:
        report.steps.append(Step("open", "ok", "opened read-only"))
        size = con.execute("PRAGMA database_size").fetchone()
        report.steps.append(Step("size", "ok", f"{size[3]} blocks of {human_size(int(size[2]))}: {size[4]} used, "
                                               f"{size[5]} free; WAL {size[6]}"))
        report.steps.append(_schema_step(con))
        if report.ok:
            report.steps.append(_read_tables(con, report))
            report.steps.append(_search_step(con))
    except duckdb.Error as exc:
        report.steps.append(_failed("read", exc, path))
    finally:
        con.close()
    if report.ok and checkpoint_copy:
        report.steps.append(_checkpoint_copy(path))


def _must_exist(path: Path, what: str) -> None:
    if not path.is_file():
        raise WorkbenchError("FILE_NOT_FOUND", f"{path}: no {what} there" + (" (a directory)" if path.is_dir() else ""))


def check_store(path: Path, *, gated: bool = True, checkpoint_copy: bool = True) -> CheckReport:
    """Every check on the file at ``path``; ``gated``: it is a live store, hold its gate meanwhile."""
    path = Path(path)
    _must_exist(path, "store")
    report = CheckReport(path)
    if gated:
        with exclusive(path):
            _inspect(path, report, checkpoint_copy=checkpoint_copy)
    else:
        _inspect(path, report, checkpoint_copy=checkpoint_copy)
    return report


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    sha256: str
    report: CheckReport


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def backup_store(path: Path, dest: Path) -> BackupResult:
    """A checked, 0600 copy of the store at ``dest`` (which must not exist)."""
    path, dest = Path(path), Path(dest)
    _must_exist(path, "store")
    if dest.exists() or dest.is_symlink():
        raise WorkbenchError("BACKUP_EXISTS", f"{dest}: already exists")
    if not dest.parent.is_dir():
        raise WorkbenchError("FILE_NOT_FOUND", f"{dest.parent}: no such directory for the backup")
    partial = dest.with_name(f".{dest.name}.partial")
    with exclusive(path):
        con = open_connection(path)
        try:
            con.execute("CHECKPOINT")
        except duckdb.Error as exc:
            raise (store_fault(exc, path) or WorkbenchError("STORE_CORRUPT", f"{path}: CHECKPOINT: {exc}")) from None
        finally:
            con.close()
        copy_private(path, partial, shown_as=dest)
    try:
        report = check_store(partial, gated=False, checkpoint_copy=False)
        bad = report.failure
        if bad is not None:
            raise WorkbenchError(bad.code or "STORE_CORRUPT", f"{path}: {bad.name}: {bad.detail} (no backup written)")
        _name_new(partial, dest)
    finally:
        partial.unlink(missing_ok=True)
    report.path = dest
    return BackupResult(dest, dest.stat().st_size, _sha256(dest), report)


def _name_new(partial: Path, dest: Path) -> None:
    """Give the checked copy its name, never over a file that appeared meanwhile."""
    try:
        os.link(partial, dest)
    except FileExistsError:
        raise WorkbenchError("BACKUP_EXISTS", f"{dest}: already exists") from None
    except OSError:                   # a file system without hard links: rename, after a last look
        if dest.exists():
            raise WorkbenchError("BACKUP_EXISTS", f"{dest}: already exists") from None
        os.rename(partial, dest)


@dataclass(frozen=True)
class RestoreResult:
    path: Path
    backup: Path
    kept: Path | None                 # the previous store, moved aside (None: there was none)
    report: CheckReport


def _aside_name(path: Path) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.before-restore-{stamp}")
    number = 2
    while aside.exists():
        aside = path.with_name(f"{path.name}.before-restore-{stamp}-{number}")
        number += 1
    return aside


def restore_store(path: Path, backup: Path) -> RestoreResult:
    """Put a checked copy of ``backup`` in place of the store; the old file is kept aside, never deleted."""
    path, backup = Path(path), Path(backup)
    _must_exist(backup, "backup")
    if path.exists() and path.samefile(backup):
        raise WorkbenchError("USAGE", f"{backup}: that is the store itself, not a backup of it")
    report = check_store(backup, gated=False)
    if not report.ok:
        raise report.error("BACKUP_CORRUPT")
    staging = path.with_name(f"{path.name}.restoring")
    with exclusive(path):
        copy_private(backup, staging, shown_as=path)
        kept = None
        if path.exists():
            kept = _aside_name(path)
            os.rename(path, kept)
            wal = path.with_name(path.name + ".wal")
            if wal.exists():
                os.rename(wal, kept.with_name(kept.name + ".wal"))
        os.rename(staging, path)
    return RestoreResult(path, backup, kept, report)
