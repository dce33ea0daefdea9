"""What an error on the store file means: damaged (STORE_CORRUPT), disk full (DISK_FULL), or neither.

DuckDB reports a damaged file in several ways (measured with DuckDB 2.0): a flipped byte is
``Corrupt database file: computed checksum ... in block at location N`` (at open for a header
block, at the first read of a data block), a truncated file is ``Could not read enough bytes``,
an empty or foreign file is ``not a valid DuckDB database file``. A full disk is ENOSPC from
the WAL or the database file, raised at a statement or as ``Failed to commit``.

``FileMark`` remembers the store file's size and headers before a transaction: after a failed
write DuckDB leaves blocks it wrote optimistically past the old end of the file (unreferenced,
since the headers did not change); ``undo_growth`` cuts them off so the file is byte-for-byte
what it was.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.files import disk_full, human_size

HEADER_BYTES = 3 * 4096                      # DuckDB's main header and its two database headers
WAL_THRESHOLD = 16 * 1024 * 1024             # DuckDB's default checkpoint_threshold
_CORRUPT = {
    "Corrupt database file": "fails DuckDB's block checksum",
    "Could not read enough bytes": "is truncated (shorter than its own block index says)",
    "not a valid DuckDB database file": "is not a DuckDB database file",
}
_FILE_IN_TEXT = re.compile(r'file "([^"]+)"')


def corrupt(exc: BaseException, path: Path) -> WorkbenchError | None:
    text = str(exc)
    for sign, what in _CORRUPT.items():
        if sign in text:
            first = text.splitlines()[0][:300] if text else ""
            return WorkbenchError("STORE_CORRUPT", f"{path} {what}: {first}", path=str(path))
    return None


def store_fault(exc: BaseException, path: Path) -> WorkbenchError | None:
    """STORE_CORRUPT or DISK_FULL for ``exc`` raised while using the store at ``path``; else None."""
    found = corrupt(exc, path)
    if found is not None:
        return found
    named = getattr(exc, "filename", None)
    if not named:                     # DuckDB: 'Could not write file "<store>.wal": No space left on device'
        match = _FILE_IN_TEXT.search(str(exc))
        named = match.group(1) if match else None
    size = path.stat().st_size if path.exists() else 0
    return disk_full(exc, Path(named) if named else path, needed=size + WAL_THRESHOLD,
                     why=f"room for DuckDB's write-ahead log, up to {human_size(WAL_THRESHOLD)}, and for a "
                         f"checkpoint, up to the store's size of {human_size(size)}")


@dataclass(frozen=True)
class FileMark:
    path: Path
    existed: bool
    size: int | None             # None: not known (no file, or one this process cannot read)
    header: bytes
    wal: bool                    # its WAL existed

    @classmethod
    def of(cls, path: Path) -> "FileMark":
        """Taken before every store transaction, so with few system calls (each lets other threads run)."""
        wal = os.path.exists(f"{path}.wal")
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return cls(path, False, None, b"", wal)
        except OSError:          # a directory, no permission: the connection reports it; nothing to undo
            return cls(path, True, None, b"", wal)
        try:
            return cls(path, True, os.fstat(fd).st_size, os.pread(fd, HEADER_BYTES, 0), wal)
        except OSError:          # a directory opens read-only on Linux, but does not read
            return cls(path, True, None, b"", wal)
        finally:
            os.close(fd)

    def undo_growth(self) -> None:
        """After a failed write: a store created by it is removed, blocks appended by it are cut off."""
        wal = self.path.with_name(self.path.name + ".wal")
        if not self.existed:
            self.path.unlink(missing_ok=True)
            wal.unlink(missing_ok=True)
            return
        if self.size is None:
            return
        now = FileMark.of(self.path)
        if now.size is not None and now.size > self.size and now.header == self.header:
            os.truncate(self.path, self.size)
        if not self.wal and wal.exists() and wal.stat().st_size == 0:
            wal.unlink()                 # DuckDB emptied the WAL it began for the failed commit
