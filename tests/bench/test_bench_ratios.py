"""Every bench in bench/ at its ``--quick`` size: each declared ratio must not miss its target by more than
half (``bench/_result.SLACK``: a ">= T" ratio needs >= T/2, a "<= T" ratio <= 2T). Ratios only, measured
within one run, never absolute times. The benches run one after another on one xdist worker (group
"bench"), each in its own interpreter (a bench sets process-wide state: environment, exchangelib's adapter).

KNOWN_GAPS lists ratios measured as missing today, as strict xfails naming the numbers: when the gap
closes the xfail fails, and the entry must go.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
from _result import PREFIX, SLACK, Target  # noqa: E402

BENCHES = sorted(p.stem for p in BENCH.glob("[!_]*.py"))
KNOWN_GAPS = {
    # issue 18: with the file kept open for the run and set-based batches, run_sync is 1.2-1.5x bulk_create at
    # 4x150, but the store is still held ~40% of the run: its holder spends most of that time waiting for the
    # GIL (DuckDB calls and file operations release it) beside the mailbox and in-process sandbox threads
    ("sync_initial", "store_share"): "store held 39-49% of run_sync at 4x150 under load 6-10 (target <= 10%)",
    # issue 18, after the phases, the ledger and the search index merged: 2.85-2.96x at 4x150 beside the rest of
    # make test (the perf branch alone measured 1.15-1.51x); where the time goes is the next step
    ("sync_initial", "run_sync_over_bulk_create"): "run_sync 2.85-2.96x bulk_create at 4x150 (target <= 1.3x)",
    # met alone (10.1-10.9 at 4x150, load 6-7), missed beside the rest of make test at load 14 (4.0)
    ("sync_initial", "less_time_than_loop"): "4.0x less time than the per-item loop at 4x150 in make test, load 14 "
                                             "(target >= 10x)",
    # issue 17: the search reads one range of sorted terms (2.1-2.4x the ILIKE scan at 1,000,000, load 9-14), but
    # at 50,000 its fixed cost per query (fold the text, one row group, the page's rows and team; ~50-70 ms cold)
    # is above the whole scan's (~30-45 ms)
    ("contact_search", "ilike_over_search"): "search 0.62-0.66x of a plain ILIKE scan at 50,000 contacts "
                                             "(2.1-2.4x at 1,000,000; target >= 2x)",
}


def run_quick(name: str) -> dict:
    done = subprocess.run([sys.executable, str(BENCH / f"{name}.py"), "--quick"], capture_output=True, text=True,
                          timeout=1200, cwd=BENCH.parent)
    lines = [ln[len(PREFIX):] for ln in done.stdout.splitlines() if ln.startswith(PREFIX)]
    assert lines, f"{name} printed no {PREFIX.strip()} line (exit {done.returncode}):\n" + done.stderr[-3000:]
    return json.loads(lines[-1])


@pytest.mark.xdist_group("bench")
@pytest.mark.parametrize("name", BENCHES)
def test_bench_ratios_within_half_of_their_targets(name, request):
    result = run_quick(name)
    assert result["ratios"], f"{name} declares no ratio target"
    missed, gaps = [], []
    for ratio_name, r in result["ratios"].items():
        target = Target(ratio_name, r["target"], r["at_least"], r["what"])
        ok = target.met(r["ratio"], slack=SLACK)
        text = f"{ratio_name} = {r['ratio']:.2f} (target {target.text()}, fails beyond {SLACK:g}x off)"
        if (name, ratio_name) in KNOWN_GAPS:
            gaps.append((ok, text))
        elif not ok:
            missed.append(text)
    assert not missed, f"{name} at {result['size']}: " + "; ".join(missed)
    if gaps:
        reason = "; ".join(KNOWN_GAPS[(name, n)] for n in result["ratios"] if (name, n) in KNOWN_GAPS)
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))
        assert all(ok for ok, _ in gaps), "known gaps still open: " + "; ".join(t for ok, t in gaps if not ok)
