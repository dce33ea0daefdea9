"""Which process owns a running sync, and marking the runs of dead processes.

A run is inserted as ``running`` with its owner (host, pid, the process's start time — so a reused
pid is not mistaken for the owner). A process killed with SIGKILL, or a machine that lost power,
never finishes its run; the next run started on the same host (or ``reap_dead_runs`` called by a
reader) marks such runs ``died`` and journals it. Runs owned by another host are left alone: their
owner cannot be checked from here.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from workbench.store.schema import now


@dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    proc_start: str

    @classmethod
    def current(cls) -> "Owner":
        pid = os.getpid()
        return cls(socket.gethostname(), pid, _process_start(pid))

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass            # exists, owned by someone else
        return _process_start(self.pid) == self.proc_start


def _process_start(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), else '' (pid alone decides)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read().decode("ascii", "replace")
    except OSError:
        return ""
    # the command name (field 2) may hold spaces and parentheses: split after its last ')'
    return stat.rsplit(")", 1)[-1].split()[19]


def reap_dead_runs(con) -> list[int]:
    """Mark ``died`` every running run of this host whose owning process is gone; returns their ids."""
    host = socket.gethostname()
    rows = con.execute("SELECT run_id, pid, coalesce(proc_start, '') FROM sync_runs "
                       "WHERE status = 'running' AND host = ?", [host]).fetchall()
    dead = [run_id for run_id, pid, start in rows if pid is None or not Owner(host, int(pid), start).alive()]
    if dead:
        stamp = now()
        marks = ", ".join("?" for _ in dead)
        con.execute(f"UPDATE sync_runs SET status = 'died', finished_at = ? WHERE run_id IN ({marks})", [stamp, *dead])
        con.executemany("INSERT INTO sync_log (run_id, logged_at, action, outcome, code, detail) "
                        "VALUES (?, ?, 'run', 'failed', 'SYNC_DIED', ?)",
                        [[run_id, stamp, "the process running this sync ended without finishing it "
                                         "(killed or crashed); marked died by a later run"] for run_id in dead])
    return dead
