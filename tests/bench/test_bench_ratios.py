"""Every bench in bench/ at its ``--quick`` size: each declared ratio must not miss its target by more than
half (``bench/_result.SLACK``: a ">= T" ratio needs >= T/2, a "<= T" ratio <= 2T). Ratios only, measured
within one run, never absolute times. The benches run one after another on one xdist worker (group
"bench"), each in its own interpreter (a bench sets process-wide state: environment, exchangelib's adapter).

KNOWN_GAPS lists ratios measured as missing today, as xfails naming the numbers. They are not strict: these
ratios move with the machine's load (a gap that closes on a quiet machine reopens beside a parallel run), so
a closed gap shows as XPASS in the report, and its entry goes once the bench meets it in three runs of three.
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
    # issue 18: the store is held 35-51% of run_sync at 4x150 under load 7-14 before the run's store writer
    # (sync/booking.py); with it 31-32% at 4x150 and 20-21% at 10x500 (load ~9): the writer books every waiting batch
    # in one transaction, but each of its DuckDB calls waits 15-30 ms for the GIL beside the mailbox and sandbox threads
    ("sync_initial", "store_share"): "store held 31-32% of run_sync at 4x150 under load ~9 (target <= 10%)",
    # issue 18: 2.47x before the speed branch; after it 1.15-2.68x at 4x150; with the store writer 1.25-1.83x at 4x150
    # and 0.89-1.13x at 10x500 (load ~9; bulk_create alone varies 1.5-3.3 s from run to run at 4x150)
    ("sync_initial", "run_sync_over_bulk_create"): "run_sync 1.25-1.83x bulk_create at 4x150, load ~9 "
                                                   "(target <= 1.3x)",
    # 10.9-13.7 in 3 runs of 5 at 4x150, load 7-14; 6.4 and 8.8 beside a test run; 8.5-9.1 with the store writer
    ("sync_initial", "less_time_than_loop"): "6.4-13.7x less time than the per-item loop at 4x150, load 7-14 "
                                             "(target >= 10x)",
    # issue 14, Graph: requests are 15-19x fewer than the per-item loop (met). Before the run's store writer the
    # mailbox workers waited for the store's write lock about as long as for Graph (3.8-10.2x plain $batch at 4x150);
    # with it 1.41-2.25x at 4x150 and 1.80-2.06x at 10x500 (load 2-9): the writer is busy through most of the
    # execute phase, waiting for the GIL at each DuckDB call beside the in-process sandbox
    ("sync_initial_graph", "less_time_than_post_loop"): "run_sync 0.66-1.20x the per-item POST loop's speed at "
                                                        "4x150, load ~9 (target >= 2x)",
    ("sync_initial_graph", "run_sync_over_batch_limit"): "run_sync 1.41-2.25x plain $batch creates at 4x150, "
                                                         "load ~9 (target <= 1.5x)",
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
        request.applymarker(pytest.mark.xfail(strict=False, reason=reason))
        assert all(ok for ok, _ in gaps), "known gaps still open: " + "; ".join(t for ok, t in gaps if not ok)
