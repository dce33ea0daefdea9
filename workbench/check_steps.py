"""`workbench check` as a table of steps: each step names the steps it needs, one loop runs them.

The loop times each step, skips a step whose prerequisite did not pass (saying which, or the step's own
reason), maps any failure to a catalogue code (never a traceback: a step must not crash the checklist), and
reports each result as it is known. ``workbench.checks`` (EWS) and ``workbench.checks_graph`` (Graph) are
two tables for this loop.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from workbench.errors import CATALOGUE, WorkbenchError
from workbench.secrets import redact



#: every step's title, of both tables
TITLES = {
    "settings": "settings valid",
    "endpoint": "endpoint reachable",
    "keystore": "keystore opens",
    "tls": "TLS trusted by the keystore",
    "credentials": "credentials accepted",
    "version": "server version as configured",
    "impersonation": "impersonation works",
    "listener": "notification listener",
    # backend=graph (workbench/checks_graph.py)
    "token": "app token acquired",
    "roles": "application permissions granted",
    "mailbox": "operator mailbox reachable and in scope",
    "webhook": "listener answers Graph's validation handshake",
}


class StepFailed(Exception):
    """A step's verdict other than ok: ``status`` failed (default) or warning, with a catalogue code."""

    def __init__(self, code: str, detail: str, status: str = "failed") -> None:
        super().__init__(detail)
        self.code, self.detail, self.status = code, detail, status


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[dict[str, Any]], Any]
    needs: tuple[str, ...] = ()
    why: str = ""                                            # the skip reason when a prerequisite did not pass
    gate: Callable[[dict[str, Any]], str | None] | None = None   # a reason to skip before any prerequisite


@dataclass
class StepResult:
    step: str
    status: str                    # ok, warning, failed, skipped
    detail: str = ""
    code: str | None = None
    seconds: float = 0.0

    @property
    def title(self) -> str:
        return TITLES.get(self.step, self.step)

    @property
    def passed(self) -> bool:
        return self.status in ("ok", "warning")

    @property
    def remedy(self) -> str:
        return CATALOGUE[self.code].remedy if self.code in CATALOGUE else ""

    @property
    def code_title(self) -> str:
        return CATALOGUE[self.code].title if self.code in CATALOGUE else ""

    def as_dict(self) -> dict[str, Any]:
        return {"step": self.step, "title": self.title, "status": self.status, "code": self.code,
                "code_title": self.code_title or None, "remedy": self.remedy or None, "detail": self.detail,
                "seconds": round(self.seconds, 3)}


def _one(step: Step, state: dict[str, Any], to_error: Callable[[Exception], WorkbenchError]) -> StepResult:
    started = time.monotonic()
    try:
        out = step.run(state)
        status, detail = out if isinstance(out, tuple) else ("ok", out)
        result = StepResult(step.name, status, detail)
    except StepFailed as f:
        result = StepResult(step.name, f.status, redact(f.detail), f.code)
    except WorkbenchError as err:
        result = StepResult(step.name, "failed", redact(err.detail), err.code)
    except Exception as exc:           # a step must not crash the checklist
        err = to_error(exc)
        result = StepResult(step.name, "failed", redact(err.detail), err.code)
    result.seconds = time.monotonic() - started
    return result


def _skip_reason(step: Step, state: dict[str, Any], passed: set[str]) -> str | None:
    if step.gate is not None:
        reason = step.gate(state)
        if reason:
            return reason
    missing = [n for n in step.needs if n not in passed]
    return (step.why or f"needs {missing[0]}") if missing else None


def run_steps(steps: tuple[Step, ...], state: dict[str, Any], *, to_error: Callable[[Exception], WorkbenchError],
              progress: Callable[[StepResult], None] | None = None) -> list[StepResult]:
    """Every step in order; a step runs only when its gate allows it and every step it needs passed."""
    results: list[StepResult] = []
    passed: set[str] = set()
    for step in steps:
        reason = _skip_reason(step, state, passed)
        result = StepResult(step.name, "skipped", reason) if reason else _one(step, state, to_error)
        if result.passed:
            passed.add(step.name)
        results.append(result)
        if progress is not None:
            progress(result)
    return results
