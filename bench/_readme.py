"""Regenerate the README's benchmark table from ``make bench`` output (the BENCH_RESULT JSON lines).

    python bench/_readme.py bench-results.jsonl README.md

Replaces the rows of the table headed ``| bench | result (2 cores) |``: one row per bench (the last result
of each), its summary and every ratio against its declared target. Benches without a result keep their row.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HEADER = "| bench | result (2 cores) |"


def row(result: dict) -> str:
    ratios = "; ".join(f"{name.replace('_', ' ')} {r['ratio']:.2f} (target {'≥' if r['at_least'] else '≤'} "
                       f"{r['target']:g}{'' if r['met'] else ', missed'})" for name, r in result["ratios"].items())
    return f"| `bench/{result['bench']}.py` | {result['summary']}. Ratios: {ratios} |"


def regenerate(results_path: Path, readme: Path) -> int:
    results = {}
    for line in results_path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            r = json.loads(line)
            results[r["bench"]] = r
    lines = readme.read_text(encoding="utf-8").splitlines()
    start = lines.index(HEADER) + 2                      # after the header and the |---| line
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    rows = {}
    for old in lines[start:end]:
        m = re.match(r"\| `bench/(\w+)\.py`", old)
        rows[m.group(1) if m else old] = old
    rows.update({name: row(r) for name, r in results.items()})
    lines[start:end] = list(rows.values())
    readme.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(results)


if __name__ == "__main__":
    print(f"README: {regenerate(Path(sys.argv[1]), Path(sys.argv[2]))} bench rows regenerated")
