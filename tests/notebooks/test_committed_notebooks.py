"""The committed notebooks: present, valid, outputs stripped, and thin (they call workbench, hold no logic)."""
from __future__ import annotations

import ast
import re

import nbformat
import pytest

from notebook_runner import EXPECTED, NOTEBOOKS

ALLOWED_IMPORTS = {"workbench", "json", "os", "pathlib", "tempfile", "pandas", "matplotlib", "IPython"}
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))


def test_the_three_companion_notebooks_are_committed():
    assert tuple(p.name for p in PATHS) == EXPECTED


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_committed_without_outputs_or_execution_counts(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        assert cell.outputs == [], f"{path.name} cell {i} has outputs: strip them before committing"
        assert cell.execution_count is None, f"{path.name} cell {i} has an execution count"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    assert "widgets" not in nb.metadata


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_cells_call_workbench_and_hold_no_business_logic(path):
    nb = nbformat.read(path, as_version=4)
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "insights.open_store()" in source, "the store path comes from WORKBENCH_STORE"
    assert not re.search(r"\b(SELECT|INSERT|UPDATE|DELETE)\b", source), "SQL belongs in workbench, not a cell"
    assert not re.search(r"\bduckdb\b|\.df\(|\.rows\(|\.scalar\(|\.write\(\)", source), \
        "cells use workbench functions, not the store's raw API"
    python = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("%"))
    tree = ast.parse(python)
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert imported <= ALLOWED_IMPORTS, f"unexpected imports: {imported - ALLOWED_IMPORTS}"
    assert not any(isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.Lambda)) for n in ast.walk(tree)), \
        "functions and classes belong in workbench"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_one_result_cell_and_no_secrets_in_source(path):
    nb = nbformat.read(path, as_version=4)
    assert sum("result" in c.metadata.get("tags", []) for c in nb.cells) == 1
    assert nb.cells[-1].metadata.get("tags") == ["result"], "the key results come last"
    text = "\n".join(c.source for c in nb.cells)
    assert not re.search(r"password\s*=\s*['\"]", text, re.IGNORECASE), "no passwords in a notebook"
