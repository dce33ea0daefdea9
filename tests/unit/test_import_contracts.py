"""The layer contracts in pyproject.toml ([tool.importlinter]) hold on the real tree, and a wrong import breaks
them: each case copies the package to a temp dir, adds one wrong import and runs ``lint-imports`` there."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")


def lint(cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run([str(LINT), "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_contracts_hold_on_the_real_tree():
    done = lint(ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


@pytest.mark.parametrize("module, line, contract", [
    ("workbench/store/_wrong.py", "import textual", "textual only in workbench.ui"),
    ("workbench/sync/plan.py", "from workbench.exchange import mapping", "the store and the planner import no "
                                                                          "Exchange code and no textual"),
    ("workbench/sandbox/_wrong.py", "from workbench import settings", "the sandbox imports nothing else"),
    ("workbench/operators/_wrong.py", "import exchangelib", "exchangelib and pyjks only in"),
    ("workbench/store/_wrong.py", "from workbench.sync import engine", "layers: front ends"),
    ("workbench/sync/plan.py", "from workbench.mailbox import ItemRef", "the planner is pure"),
])
def test_a_wrong_import_breaks_its_contract(tmp_path, module, line, contract):
    shutil.copytree(ROOT / "workbench", tmp_path / "workbench", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / module
    target.write_text((target.read_text(encoding="utf-8") if target.exists() else "") + f"\n{line}\n",
                      encoding="utf-8")
    done = lint(tmp_path)
    assert done.returncode != 0
    broken = [ln for ln in done.stdout.splitlines() if " BROKEN" in ln]
    assert len(broken) >= 1 and any(ln.startswith(contract) for ln in broken), done.stdout[-3000:]
