"""`workbench check [--operator ID] [--json]` — the seed's set-up as a checklist against the server."""
from __future__ import annotations

import argparse

from workbench.commands.args import seconds

MARKS = {"ok": "✓", "warning": "!", "failed": "✗", "skipped": "-"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="check settings, keystore, TLS, credentials, version, impersonation, listener")
    p.add_argument("--operator", metavar="ID", help="test impersonation with this operator's mailbox")
    p.add_argument("--timeout", type=seconds, default=30.0, help="seconds per network step (default 30)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=check)


def format_step(s) -> list[str]:
    line = f"{MARKS.get(s.status, '?')} {s.title}"
    if s.code:
        line += f" — {s.code}: {s.code_title}"
    lines = [line]
    if s.detail:
        lines.append(f"    {s.detail}")
    if s.code and s.status in ("failed", "warning"):
        lines.append(f"    remedy: {s.remedy}")
    return lines


def check(args) -> int:
    from workbench.checks import run_check
    from workbench.commands.output import print_json
    from workbench.store import Store

    def progress(step) -> None:
        if not args.json:
            print("\n".join(format_step(step)), flush=True)

    report = run_check(Store(), operator_id=args.operator, timeout=args.timeout, progress=progress)
    if args.json:
        print_json(report.as_dict())
    else:
        failed = report.failed
        print("all checks passed" if report.ok else
              f"{len(failed)} check{'s' * (len(failed) != 1)} failed: " + ", ".join(s.step for s in failed))
    return exit_code(report)


def exit_code(report) -> int:
    """0 all passed; 2 when a failed step's code is the user's input to fix (settings, keystore file); else 1."""
    from workbench.errors import CATALOGUE
    if report.ok:
        return 0
    return max((CATALOGUE[s.code].exit_code for s in report.failed if s.code in CATALOGUE), default=1)
