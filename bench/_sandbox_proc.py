"""The sandbox Exchange as a server in a process of its own, for the benches that time a client against it.

A real Exchange (or Exchange Online) is another machine: its HTTP server, NTLM, XML and JSON work do not run
in the workbench's interpreter. The in-process ``Sandbox`` runs all of that in the bench's interpreter, so its
threads compete with the client (run_sync's mailbox threads and store writer, or the baselines) for one GIL,
which neither a deployment nor the limit measure has to the same degree. Here the sandbox is
``python -m workbench.sandbox`` (the same server as ``workbench sandbox``), its mailboxes from a seed file,
and the requests it served are read back from its admin endpoint's ``GET /requests`` (the bench's own
counting; no client code uses it).
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx

STARTUP_SECONDS = 60


@dataclass(frozen=True)
class Info:
    """What ``sandbox.json`` says (the fields the benches use, as ``SandboxInfo`` names them)."""
    url: str
    version: str
    ca_cert: str | None
    admin_url: str
    service_account: SimpleNamespace
    graph: dict[str, Any] | None

    @classmethod
    def read(cls, path: Path) -> "Info":
        d = json.loads(path.read_text(encoding="utf-8"))
        return cls(d["url"], d["version"], d["ca_cert"], d["admin_url"], SimpleNamespace(**d["service_account"]),
                   d.get("graph"))


class SandboxProcess:
    """``with SandboxProcess(state_dir, mailboxes, graph=...) as sb: sb.info.url, sb.requests()``."""

    def __init__(self, state_dir: Path, mailboxes: list[str], *, graph: bool = False) -> None:
        self.state_dir, self.mailboxes, self.graph = Path(state_dir), mailboxes, graph
        self._proc: subprocess.Popen | None = None
        self.info: Info

    def __enter__(self) -> "SandboxProcess":
        self.state_dir.mkdir(parents=True, exist_ok=True)
        seed = self.state_dir.parent / "bench_seed.json"
        seed.write_text(json.dumps({"mailboxes": [{"primary_address": a} for a in self.mailboxes]}), encoding="utf-8")
        cmd = [sys.executable, "-m", "workbench.sandbox", "--state-dir", str(self.state_dir), "--seed", str(seed)]
        errors = (self.state_dir.parent / "sandbox.err").open("w")
        self._proc = subprocess.Popen(cmd + (["--graph"] if self.graph else []), stdout=subprocess.PIPE,
                                      stderr=errors, text=True, cwd=Path(__file__).resolve().parents[1])
        errors.close()
        for line in self._proc.stdout:       # it prints its endpoints, then "Ctrl-C stops the sandbox."
            if line.startswith("Ctrl-C"):
                break
        else:
            self._proc.wait(timeout=STARTUP_SECONDS)
            raise RuntimeError("the sandbox did not start: " + (self.state_dir.parent / "sandbox.err").read_text())
        self.info = Info.read(self.state_dir / "sandbox.json")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is None:
            return
        self._proc.send_signal(signal.SIGTERM)
        try:
            self._proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.communicate()
        self._proc = None

    def _get(self, url: str) -> list[dict[str, Any]]:
        with httpx.Client(trust_env=False, timeout=60) as c:
            answer = c.get(url)
        answer.raise_for_status()
        return answer.json()

    def requests(self) -> list[dict[str, Any]]:
        """The EWS requests the sandbox served so far (``RequestRecord.to_json``)."""
        return self._get(self.info.admin_url + "/requests")

    def graph_requests(self) -> list[dict[str, Any]]:
        """The Graph requests the sandbox served so far (``GraphRecord.to_json``; at most ``MAX_LOG``)."""
        return self._get(self.info.graph["admin_url"] + "/requests")
