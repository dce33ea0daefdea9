"""Time from start to first paint of the dashboard with a big store, against an empty store.

    python bench/tui_first_paint.py [--journal 100000] [--operators 10000] [--quick]

"First paint" = the Overview's numbers are on screen (its worker finished and the screen
refreshed), measured headless with Textual's test driver at 120x40. Then the Log screen's first
page (LIMIT/OFFSET over 100,000 journal rows) and the Operators screen are timed too. Target:
first paint under 1.5 s with 100,000 journal rows and 10,000 operators. Prints ratios to the
empty store measured in the same run; ratio target: first paint with the big store at most 1.5x
the empty store's (paging keeps it independent of the store's size).
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _result import Target, exit_code, report  # noqa: E402
from workbench.store import Store  # noqa: E402

FIRST_PAINT = Target("first_paint_big_over_empty", 1.5, at_least=False, what="big store / empty store")


def build(path: Path, operators: int, journal: int) -> Store:
    store = Store(path)
    t0 = datetime(2026, 3, 1, 8, 0)
    with store.write() as con:
        if operators:
            con.execute("""INSERT INTO operators SELECT printf('OP-%06d', i), 'Operator ' || i,
                              printf('op%06d@example.com', i), i % 6 <> 0, ?, 'bench' FROM range(?) t(i)""",
                        [t0, operators])
            con.execute("""INSERT INTO operator_checks (operator_id, checked_at, status, code)
                           SELECT printf('OP-%06d', i), ? + INTERVAL (i) SECOND,
                                  CASE WHEN i % 50 = 0 THEN 'mailbox-not-found' ELSE 'ok' END,
                                  CASE WHEN i % 50 = 0 THEN 'EWS_MAILBOX_NOT_FOUND' END
                           FROM range(?) t(i)""", [t0, operators])
        if journal:
            runs = max(1, journal // 5000)
            con.execute("""INSERT INTO sync_runs (run_id, started_at, trigger, status, operators, planned, done, failed)
                           SELECT i + 1, ? + INTERVAL (i) HOUR, 'slot', 'ok', 100, 5000, 4990, 10 FROM range(?) t(i)""",
                        [t0, runs])
            con.execute("""INSERT INTO sync_log (log_id, run_id, logged_at, operator_id, contact_id, action, outcome, code)
                           SELECT i + 1, i // 5000 + 1, ? + INTERVAL (i) SECOND, printf('OP-%06d', i % 1000),
                                  printf('CRM-%06d', i % 50000), 'update-exchange',
                                  CASE WHEN i % 500 = 0 THEN 'failed' ELSE 'ok' END,
                                  CASE WHEN i % 500 = 0 THEN 'EWS_ITEM_REJECTED' END
                           FROM range(?) t(i)""", [t0, journal])
    return store


async def first_paint(store: Store) -> dict[str, float]:
    from workbench.ui.app import WorkbenchApp
    from workbench.ui.widgets.paged_table import PagedTable
    out: dict[str, float] = {}
    start = time.perf_counter()
    app = WorkbenchApp(store, clock=lambda: datetime(2026, 3, 2))
    async with app.run_test(size=(120, 40)) as pilot:
        while "total" not in str(app.screen.query_one("#ov-operators").render()):
            await pilot.pause(0.005)
        out["overview"] = time.perf_counter() - start
        for mode, key, selector in (("log", "6", "#log-table"), ("operators", "3", "#ops-table")):
            t = time.perf_counter()
            await pilot.press(key)
            await pilot.pause()
            table = app.screen.query_one(selector, PagedTable)
            while not table.loaded:
                await pilot.pause(0.005)
            out[mode] = time.perf_counter() - t
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--journal", type=int, default=100_000)
    ap.add_argument("--operators", type=int, default=10_000)
    ap.add_argument("--quick", action="store_true", help="20,000 journal rows, 2,000 operators (tests/bench)")
    args = ap.parse_args(argv)
    if args.quick:
        args.journal, args.operators = 20_000, 2_000
    with tempfile.TemporaryDirectory() as tmp:
        empty = build(Path(tmp) / "empty.duckdb", 0, 0)
        t = time.perf_counter()
        big = build(Path(tmp) / "big.duckdb", args.operators, args.journal)
        built = time.perf_counter() - t
        asyncio.run(first_paint(empty))                 # warm-up: imports, CSS parse
        base = asyncio.run(first_paint(empty))
        load = asyncio.run(first_paint(big))
    print(f"tui_first_paint: {args.journal:,} journal rows, {args.operators:,} operators "
          f"(store built in {built:.1f} s)")
    print(f"{'step':<28}{'empty':>10}{'big':>10}{'ratio':>8}")
    for step, label in (("overview", "first paint (overview)"), ("log", "log: first page"),
                        ("operators", "operators: first page")):
        print(f"{label:<28}{base[step]:>9.3f}s{load[step]:>9.3f}s{load[step] / base[step]:>7.2f}x")
    ok = load["overview"] < 1.5
    print(f"time target: first paint under 1.5 s with the big store — {'met' if ok else 'NOT met'}")
    summary = (f"first paint with {args.journal:,} journal rows and {args.operators:,} operators: "
               f"{load['overview']:.2f} s (empty store {base['overview']:.2f} s)")
    return report("tui_first_paint", f"{args.journal} journal rows, {args.operators} operators", summary,
                  {FIRST_PAINT: load["overview"] / base["overview"]},
                  **{f"{k}_big_s": v for k, v in load.items()}, **{f"{k}_empty_s": v for k, v in base.items()})


if __name__ == "__main__":
    sys.exit(exit_code(main()))
