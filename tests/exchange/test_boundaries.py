"""exchangelib and pyjks are imported only under workbench/exchange (and the standalone sandbox)."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "workbench"
ALLOWED = ("exchange", "sandbox")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_exchangelib_and_pyjks_only_under_workbench_exchange() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] in ALLOWED:
            continue
        bad = _imports(path) & {"exchangelib", "jks", "requests_ntlm", "spnego"}
        if bad:
            offenders.append(f"{rel}: {sorted(bad)}")
    assert offenders == []


@pytest.mark.parametrize("module", ["workbench.secrets", "workbench.checks", "workbench.commands.keystore",
                                    "workbench.commands.check", "workbench.commands.explain"])
def test_service_and_command_modules_load_exchangelib_lazily(module: str) -> None:
    code = (f"import sys, json, {module}; "
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('exchangelib', 'jks', 'textual'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []
