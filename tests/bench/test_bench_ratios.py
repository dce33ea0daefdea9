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
    # issue 18. Since the benches run the sandbox in its own process (bench/_sandbox_proc.py; in-process its server
    # competed for the bench's GIL) the store share is 25-35% at 4x150 (load 8-12) and 18-21% at 10x500 (load 7-14;
    # 21-26% before binding one-value columns as scalars): not the sandbox's GIL but the run's own threads and CPU
    # (exchangelib's XML beside the writer's DuckDB calls; a booking's statements alone take a third to a half as
    # long); 31-32% at 4x150 and 20-21% at 10x500 with the sandbox in-process
    ("sync_initial", "store_share"): "store held 25-35% of run_sync at 4x150 under load 8-12 (target <= 10%)",
    # out of process bulk_create alone got faster than run_sync: 2.10-3.20x at 4x150 (load 8-12), 0.53-1.30x at
    # 10x500 (load 7-14); in-process 1.25-1.93x at 4x150, 0.89-1.13x at 10x500
    ("sync_initial", "run_sync_over_bulk_create"): "run_sync 1.67-2.04x bulk_create at 4x150 "
                                                   "(target <= 1.3x; 0.97-1.57x at 10x500)",
    # the loop timed over 1 of the 4 mailboxes, counted 4 times: 5.4-7.5x at 4x150, load 8-12 (in-process 6.4-13.7x)
    # while the EWS sandbox lacked TCP_NODELAY (40 ms of delayed ACK per request, most of the loop's time); with it
    # (2026-12-03) 1.9-2.0x at 4x150 and 2.9-3.1x at 10x500 and 20x500: the loop is one small request per contact
    # to a loopback server, and run_sync 1.67-2.04x bulk_create at 4x150 (0.97-1.18x at 10x500 and 20x500)
    ("sync_initial", "less_time_than_loop"): "1.9-2.0x less time than the per-item loop at 4x150 "
                                             "(target >= 10x; 2.9-3.1x at 10x500 and 20x500)",
    # issue 14, Graph: requests are 15-19x fewer than the per-item loop (met). With pools per mailbox run at once,
    # the token kept and a lane's window of ~160 items waiting for the writer, at 10x500 run_sync is 1.32-2.66x
    # plain $batch (<= 1.5 in 8 of 20 runs) and 1.90-3.71x less time than the loop (before: 2.02-2.44x and
    # 1.70-2.01x); at 20x500 1.33x and 2.64x.
    # At 4x150 a run is ~0.5 s, of which msal's import and the plan and start are most: 0.96-3.05x plain $batch,
    # 0.94-1.08x the loop's speed (before: 1.39-3.21x and 0.90-1.98x)
    ("sync_initial_graph", "less_time_than_post_loop"): "run_sync 0.94-1.08x the per-item POST loop's speed at "
                                                        "4x150 (target >= 2x; 1.90-3.71x at 10x500)",
    ("sync_initial_graph", "run_sync_over_batch_limit"): "run_sync 0.96-3.05x plain $batch creates at 4x150 "
                                                         "(target <= 1.5x; 1.32-2.66x at 10x500)",
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
