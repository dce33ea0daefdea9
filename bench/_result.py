"""Bench results: each bench declares its ratio targets once, prints them, and ends with one JSON line.

``report`` prints ``ratio NAME: VALUE (target OP TARGET): met|MISSED`` per ratio, then
``BENCH_RESULT {json}`` (bench, size, summary, ratios, numbers); with ``BENCH_RESULTS=FILE`` set the JSON
is also appended to FILE (``make bench`` collects it there and regenerates the README table from it,
see ``bench/_readme.py``). Ratios are measured in one run; absolute times are informative only.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

PREFIX = "BENCH_RESULT "
SLACK = 2.0      # tests/bench fail only when a ratio misses its target by more than this factor


@dataclass(frozen=True)
class Target:
    """A ratio target: ``at_least`` (higher is better) or ``at_most`` (lower is better)."""
    name: str
    value: float
    at_least: bool = True
    what: str = ""

    def met(self, ratio: float, slack: float = 1.0) -> bool:
        return ratio >= self.value / slack if self.at_least else ratio <= self.value * slack

    def text(self) -> str:
        return f"{'>=' if self.at_least else '<='} {self.value:g}"


def report(bench: str, size: str, summary: str, ratios: dict[Target, float], **numbers: Any) -> dict:
    """Print each ratio against its target and the JSON line; returns the result dict."""
    for target, ratio in ratios.items():
        print(f"ratio {target.name}: {ratio:.2f} (target {target.text()}{', ' + target.what if target.what else ''})"
              f": {'met' if target.met(ratio) else 'MISSED'}")
    result = {"bench": bench, "size": size, "summary": summary,
              "ratios": {t.name: {"ratio": round(r, 4), "target": t.value, "at_least": t.at_least, "what": t.what,
                                  "met": t.met(r)} for t, r in ratios.items()},
              "numbers": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in numbers.items()}}
    line = json.dumps(result, ensure_ascii=False)
    print(PREFIX + line, flush=True)
    out = os.environ.get("BENCH_RESULTS")
    if out:
        with open(out, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
    return result


def exit_code(result: dict) -> int:
    """0 when every ratio met its target, else 1."""
    return 0 if all(r["met"] for r in result["ratios"].values()) else 1


def target_of(name: str, entry: dict) -> Target:
    """The Target a result's ratio entry was measured against."""
    return Target(name, entry["target"], entry["at_least"], entry["what"])
