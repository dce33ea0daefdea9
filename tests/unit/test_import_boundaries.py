"""Architecture rules that a fresh interpreter proves."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("textual", "exchangelib", "jks")


@pytest.mark.parametrize("module", ["workbench", "workbench.store", "workbench.settings", "workbench.errors",
                                    "workbench.cli", "workbench.contacts_import", "workbench.store.summary",
                                    "workbench.store.maintenance", "workbench.files"])
def test_headless_modules_import_neither_textual_nor_exchangelib(module):
    code = f"import sys, json, {module}; print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []


def test_help_is_fast_because_it_imports_no_heavy_library():
    code = ("import sys; from workbench.cli import build_parser; build_parser(); "
            "print(','.join(m for m in ('pandas','duckdb','textual','exchangelib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""
