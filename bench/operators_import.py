"""Benchmark: bulk operator import (validate + one-transaction commit) vs. a naive baseline.

    python bench/operators_import.py [--rows 100000] [--baseline-rows 2000] [--quick]

Workbench: ``import_operators`` on a ROWS-row CSV into a fresh store (parse with line numbers,
validate every row, diff against the stored operators, bulk insert through a registered DataFrame,
commit). Baseline: pandas.read_csv plus one parameterised INSERT per row (in one transaction), run on
BASELINE_ROWS rows of the same file and extrapolated linearly to ROWS (said so in the output).
Targets: under 5 s for 100,000 rows and at least 20x the baseline (``--quick``: 20,000 rows, 1,000 for the
baseline, the size tests/bench runs).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import duckdb  # noqa: E402
import pandas as pd  # noqa: E402

from _result import Target, exit_code, report  # noqa: E402
from workbench.operators.csv_import import import_operators  # noqa: E402
from workbench.store import Store, now  # noqa: E402

TARGET_SECONDS = 5.0            # for 100,000 rows; printed, not a ratio
SPEEDUP = Target("speedup", 20.0, what="baseline time / workbench time")


def make_file(path: Path, rows: int) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write("operator_id,name,email,contact_sync\n")
        fh.writelines(f'OP-{i:07d},"Müller, Operator {i}",operator.{i}@sales.example.com,'
                      f'{("true", "no", "Y", "0")[i % 4]}\n' for i in range(rows))


def bench_workbench(path: Path, store_path: Path) -> float:
    store = Store(store_path)
    store.scalar("SELECT 1")                       # create + migrate outside the timing
    t0 = time.perf_counter()
    review = import_operators(store, path)
    elapsed = time.perf_counter() - t0
    assert review.written and review.failed == 0, review.errors[:3]
    return elapsed


def bench_baseline(path: Path, store_path: Path, rows: int) -> float:
    Store(store_path).scalar("SELECT 1")
    t0 = time.perf_counter()
    df = pd.read_csv(path, nrows=rows, dtype=str, keep_default_na=False)
    con = duckdb.connect(str(store_path))
    con.execute("BEGIN TRANSACTION")
    stamp = now()
    for r in df.itertuples(index=False):
        con.execute("INSERT INTO operators VALUES (?, ?, ?, ?, ?, 'baseline')",
                    [r.operator_id, r.name, r.email, r.contact_sync.lower() in ("true", "yes", "y", "1"), stamp])
    con.execute("COMMIT")
    con.close()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--baseline-rows", type=int, default=2_000)
    ap.add_argument("--quick", action="store_true", help="20,000 rows, baseline 1,000")
    args = ap.parse_args(argv)
    if args.quick:
        args.rows, args.baseline_rows = 20_000, 1_000
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        f = d / "operators.csv"
        make_file(f, args.rows)
        mb = f.stat().st_size / 1e6
        ours = bench_workbench(f, d / "wb.duckdb")
        base_small = bench_baseline(f, d / "baseline.duckdb", args.baseline_rows)
        base = base_small * args.rows / args.baseline_rows
    ratio = base / ours
    print(f"operators import: {args.rows:,} rows ({mb:.1f} MB CSV)")
    print(f"  workbench (read + validate + diff + one-transaction bulk insert + sync requests): {ours:.2f} s "
          f"= {args.rows / ours:,.0f} rows/s")
    print(f"  baseline (pandas.read_csv + one INSERT per row): {base_small:.2f} s for {args.baseline_rows:,} rows "
          f"= {args.baseline_rows / base_small:,.0f} rows/s; extrapolated linearly to {args.rows:,} rows: "
          f"{base:.1f} s")
    limit = TARGET_SECONDS * args.rows / 100_000
    print(f"  time target < {limit:g} s ({TARGET_SECONDS:g} s per 100,000 rows): "
          f"{'met' if ours < limit else 'MISSED'}")
    summary = (f"{args.rows:,} operator rows validated + committed (sync requests queued) in {ours:.1f} s; "
               f"{ratio:.0f}× pandas `read_csv` + one INSERT per row")
    return report("operators_import", f"{args.rows} rows", summary, {SPEEDUP: ratio},
                  rows=args.rows, workbench_s=ours, baseline_s=base, baseline_rows=args.baseline_rows)


if __name__ == "__main__":
    sys.exit(exit_code(main()))
