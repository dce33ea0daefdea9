"""Files the workbench writes that others must not read, and what a full disk means.

- ``write_private(path, data)`` / ``copy_private(source, path)``: the new content goes to a temp
  file in the target's own directory, created 0600 by ``os.open`` (no chmod afterwards, so there is
  no moment it is readable by others), is fsynced, then ``os.replace``-d over ``path``; a failure
  leaves ``path`` as it was and removes the temp file.
- ``disk_full(exc, path)``: the DISK_FULL error for an ENOSPC/EDQUOT, naming the file and how much
  space is free on its file system and needed; ``None`` for any other error.
"""
from __future__ import annotations

import errno
import os
import secrets
import shutil
from pathlib import Path
from typing import BinaryIO, Callable

from workbench.errors import WorkbenchError

PRIVATE_MODE = 0o600
_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
_FULL_TEXT = ("No space left on device", "Disk quota exceeded")


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def free_bytes(path: Path) -> int:
    """Space an unprivileged writer can still use on the file system holding ``path``."""
    probe = path if path.is_dir() else path.parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    st = os.statvfs(probe)
    return st.f_bavail * st.f_frsize


def is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS:
        return True
    return any(sign in str(exc) for sign in _FULL_TEXT)


def disk_full(exc: BaseException, path: Path, *, needed: int, why: str = "") -> WorkbenchError | None:
    """DISK_FULL naming ``path``, the space free and about how much the write needs; None if not a full disk."""
    if not is_disk_full(exc):
        return None
    free = free_bytes(path)
    return WorkbenchError(
        "DISK_FULL",
        f"{path}: no space left on the device; {human_size(free)} free on its file system, the write needs "
        f"about {human_size(needed)}{f' ({why})' if why else ''}. Nothing was written.",
        path=str(path), free=free, needed=needed)


def _replace(path: Path, write: Callable[[BinaryIO], None], size: int, shown_as: Path | None = None) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        full = disk_full(exc, shown_as or path, needed=size) if isinstance(exc, OSError) else None
        if full is not None:
            raise full from None
        raise


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically with ``data`` in a 0600 file (the directory must exist)."""
    _replace(path, lambda fh: fh.write(data), len(data))


def copy_private(source: Path, path: Path, *, shown_as: Path | None = None) -> None:
    """Replace ``path`` atomically with a 0600 copy of ``source`` (errors name ``shown_as`` if given)."""
    def copy(fh: BinaryIO) -> None:
        with source.open("rb") as src:
            shutil.copyfileobj(src, fh, 1024 * 1024)
    _replace(path, copy, source.stat().st_size, shown_as)
