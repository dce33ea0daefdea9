"""`workbench demo [--dir DIR] [--no-tui] [--json]`: the sandbox, a fresh demo store, the dashboard."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="fresh demo store + in-process sandbox Exchange, then the dashboard")
    p.add_argument("--dir", default="demo", help="demo directory (store, keystore, sandbox state); default ./demo")
    p.add_argument("--no-tui", action="store_true",
                   help="run check -> verify -> preview -> sync and print a summary instead of the dashboard "
                        "(also the default without a terminal)")
    p.add_argument("--json", action="store_true", help="with --no-tui: the summary as JSON")
    p.set_defaults(handler=demo_cmd)


def demo_cmd(args) -> int:
    from pathlib import Path

    from workbench.demo import run_demo
    from workbench.errors import WorkbenchError
    from workbench.settings import excerpt
    target = Path(args.dir).absolute()
    for path in (target, *target.parents):
        if path.exists() and not path.is_dir():
            raise WorkbenchError("USAGE", f"--dir {excerpt(args.dir)}: {excerpt(str(path))} is a file, not a directory")
    return run_demo(args.dir, tui=False if (args.no_tui or args.json) else None, as_json=args.json)
