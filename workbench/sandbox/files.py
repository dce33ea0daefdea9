"""Writing the sandbox's secret files (passwords, keys): private from the first byte, replaced atomically."""
from __future__ import annotations

import os
from pathlib import Path


def write_private(path: Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` with mode 0600 (never readable by others, not even briefly)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)        # an older tmp file keeps its mode otherwise
        os.write(fd, data)
    finally:
        os.close(fd)
    tmp.replace(path)
