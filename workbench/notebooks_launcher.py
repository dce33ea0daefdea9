"""`make notebooks`: Jupyter on the store of ``WORKBENCH_STORE`` (default demo/workbench.duckdb).

``python -m workbench.notebooks_launcher COMMAND...`` runs COMMAND (the Makefile's ``jupyter lab
notebooks/``) with ``WORKBENCH_STORE`` absolute. When the store is the demo's, the demo Exchange is
started first (``workbench demo --serve`` in the background) for the life of COMMAND and stopped
(SIGTERM, state saved) when it exits; one already served is used as it is. For a real store nothing
is started. Passwords are not passed: the kernels find the demo's in its secrets file.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from workbench import demo_secrets, demo_world
from workbench.errors import WorkbenchError
from workbench.paths import STORE_ENV, from_cwd

DEFAULT_STORE = "demo/workbench.duckdb"
READY_SECONDS = 120.0
STOP_SECONDS = 30.0


def start_demo_exchange(directory: Path) -> subprocess.Popen | None:
    """`workbench demo --serve --dir DIRECTORY` in the background, once it serves; None if already served."""
    if demo_world.serving(directory) is not None:
        return None
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "demo", "--serve", "--dir", str(directory)],
                            stdout=sys.stderr)        # its banner is a diagnostic here; stdout is Jupyter's
    deadline = time.monotonic() + READY_SECONDS
    while demo_world.serving(directory) != proc.pid:
        if proc.poll() is not None:
            raise WorkbenchError("DEMO_PORT_BUSY", f"`workbench demo --serve --dir {directory}` exited with "
                                                   f"{proc.returncode} (its message is above)")
        if time.monotonic() > deadline:
            stop(proc)
            raise WorkbenchError("DEMO_PORT_BUSY", f"the demo Exchange of {directory} did not start within "
                                                   f"{READY_SECONDS:.0f} s")
        time.sleep(0.2)
    return proc


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def launch(command: list[str]) -> int:
    """Run ``command`` on the absolute store, with the demo Exchange around it for a demo store."""
    store = from_cwd(os.environ.get(STORE_ENV) or DEFAULT_STORE)
    os.environ[STORE_ENV] = str(store)
    exchange = start_demo_exchange(store.parent) if demo_secrets.for_store(store) is not None else None
    if exchange is not None:
        print(f"notebooks: the demo Exchange of {store.parent} runs while Jupyter does", file=sys.stderr)
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:
        return 130
    finally:
        if exchange is not None:
            stop(exchange)


def main(argv: list[str] | None = None) -> int:
    from workbench.cli import report_error
    command = list(sys.argv[1:] if argv is None else argv)
    if not command:
        return report_error(WorkbenchError("USAGE", "python -m workbench.notebooks_launcher COMMAND [ARGS...]"))
    try:
        return launch(command)
    except WorkbenchError as exc:
        return report_error(exc)


if __name__ == "__main__":
    sys.exit(main())
