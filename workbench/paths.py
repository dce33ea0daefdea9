"""Paths as the user meant them: a relative path is resolved once, from where the user gave it.

- The command line (``--store``, ``WORKBENCH_STORE``, ``settings set keystore_path=...``): from the
  working directory of the command. The result is passed on (environment, store) absolute, so a
  child process or a later reader in another directory finds the same file.
- A notebook kernel: Jupyter starts kernels in the notebook's own folder (``notebooks/``), while the
  docs give paths from the repository root (``WORKBENCH_STORE=demo/workbench.duckdb``). So a relative
  path in a kernel is read from the repository root: the parent of ``notebooks/`` when the kernel
  runs there, else the kernel's working directory.
"""
from __future__ import annotations

import os
from pathlib import Path

STORE_ENV = "WORKBENCH_STORE"
DEFAULT_STORE = "workbench.duckdb"
NOTEBOOKS_DIR = "notebooks"
PATH_SETTINGS = ("keystore_path",)      # settings whose value is a file path


def from_cwd(text: str | os.PathLike[str]) -> Path:
    """``text`` as an absolute path, a relative one taken from the working directory (``~`` expanded)."""
    return _expanded(text).absolute()


def _expanded(text: str | os.PathLike[str]) -> Path:
    """``~`` / ``~user`` expanded; left as given when there is no such home (the file check then says so)."""
    try:
        return Path(text).expanduser()
    except RuntimeError:
        return Path(text)


def notebook_root(cwd: Path | None = None) -> Path:
    """Where a notebook's relative paths start: the repository root (see the module docstring)."""
    cwd = cwd or Path.cwd()
    return cwd.parent if cwd.name == NOTEBOOKS_DIR else cwd


def from_notebook(text: str | os.PathLike[str]) -> Path:
    """``text`` as an absolute path, a relative one taken from ``notebook_root()``."""
    path = _expanded(text)
    return path if path.is_absolute() else notebook_root() / path


def active_store() -> Path:
    """The store this process works on: ``WORKBENCH_STORE``, else ./workbench.duckdb (absolute)."""
    return from_cwd(os.environ.get(STORE_ENV) or DEFAULT_STORE)


def absolute_store_env(given: str | None) -> None:
    """Set ``WORKBENCH_STORE`` absolute: ``given`` (``--store``) or a relative value already there."""
    text = given or os.environ.get(STORE_ENV)
    if text:
        os.environ[STORE_ENV] = str(from_cwd(text))


def absolute_path_settings(pairs: dict[str, str]) -> dict[str, str]:
    """``pairs`` with each non-empty path setting made absolute from the working directory."""
    return {key: str(from_cwd(value.strip())) if key in PATH_SETTINGS and value.strip() else value
            for key, value in pairs.items()}
