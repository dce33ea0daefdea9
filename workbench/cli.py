"""Command line: parses, calls services, prints. No business logic here.

Each command group lives in ``workbench.commands.<group>`` and registers its
sub-commands; heavy imports happen inside the handlers so ``--help`` is fast.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import NoReturn, Sequence

from workbench.errors import WorkbenchError

# Command group modules, in the order `workbench --help` lists them.
COMMAND_MODULES = (
    "settings",
    "contacts",
    "operators",
    "keystore",
    "check",
    "explain",
    "agent",
    "sync",
    "log",
    "store",
    "sandbox",
    "dashboard",
    "demo",
)

MESSAGE_MAX_CHARS = 300


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is reported like every other error: ``USAGE: title — remedy``, exit 2."""

    def error(self, message: str) -> NoReturn:
        if len(message) > MESSAGE_MAX_CHARS:        # argparse quotes a bad value whole
            message = message[:MESSAGE_MAX_CHARS] + f"… ({len(message)} characters)"
        self.print_usage(sys.stderr)
        self.exit(report_error(WorkbenchError("USAGE", f"{self.prog}: {message}")))


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="workbench",
        description="Ops workbench for CRM <-> Microsoft Exchange contact sync.",
    )
    parser.add_argument("--store", metavar="PATH",
                        help="DuckDB store file (env WORKBENCH_STORE, default ./workbench.duckdb)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"workbench.commands.{name}").register(sub)
    return parser


def report_error(exc: WorkbenchError) -> int:
    from workbench.secrets import redact
    print(exc.headline(), file=sys.stderr)
    if exc.detail:
        for line in redact(exc.detail).splitlines():
            print(f"  {line}", file=sys.stderr)
    return exc.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "passthrough", False):
        from workbench.settings import excerpt
        parser.error(f"unrecognized arguments: {' '.join(map(excerpt, extra))}")
    args.argv = extra  # options a pass-through command (sandbox) parses itself
    try:
        from workbench.paths import absolute_store_env
        absolute_store_env(args.store)      # relative: from here, then absolute for everyone after
        return int(args.handler(args) or 0)
    except WorkbenchError as exc:
        return report_error(exc)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:     # the reader went away (`workbench log | head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # the last line of defence: never a traceback for a user
        if os.environ.get("WORKBENCH_DEBUG"):
            raise
        print(f"INTERNAL: unexpected {type(exc).__name__} — rerun with WORKBENCH_DEBUG=1 and report it",
              file=sys.stderr)
        from workbench.secrets import redact
        print(f"  {redact(str(exc))}", file=sys.stderr)
        return 1


def run() -> None:
    sys.exit(main())
