"""Run a committed notebook top to bottom with nbclient and read its key results."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
EXPECTED = ("01-operator-audit.ipynb", "02-sync-preview.ipynb", "03-sync-health.ipynb")
SECRET_ENV = ("WORKBENCH_EWS_PASSWORD", "WORKBENCH_KEYSTORE_PASSWORD")


def kernel_env(store_path: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The kernel's environment: ours, the store path, and the inline plotting backend."""
    env = dict(os.environ)
    env["WORKBENCH_STORE"] = str(store_path)
    env.pop("MPLBACKEND", None)          # ipykernel then uses the inline backend (Agg renderer -> image/png)
    env.update(extra or {})
    return env


def execute(name: str, store_path: Path, workdir: Path, *, env: dict[str, str] | None = None,
            parameters: str | None = None, timeout: int = 300) -> nbformat.NotebookNode:
    """Execute notebooks/<name> in ``workdir`` against ``store_path``; return the executed notebook.

    ``parameters``: code appended to the cell tagged "parameters" (papermill-style override).
    Raises nbclient's CellExecutionError if any cell raises.
    """
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    if parameters:
        cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        cell.source += "\n" + parameters
    workdir.mkdir(parents=True, exist_ok=True)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(workdir)}})
    client.execute(env=kernel_env(store_path, env))
    nbformat.write(nb, workdir / name)      # kept for a person reading a failure
    return nb


def tagged(nb: nbformat.NotebookNode, tag: str) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if tag in c.metadata.get("tags", [])]


def stdout_of(cell: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", [])
                   if o.output_type == "stream" and o.name == "stdout")


def result(nb: nbformat.NotebookNode) -> dict[str, Any]:
    """The JSON the cell tagged "result" prints."""
    cells = tagged(nb, "result")
    assert len(cells) == 1, "a notebook has exactly one cell tagged 'result'"
    return json.loads(stdout_of(cells[0]))


def images(cell: nbformat.NotebookNode) -> list[str]:
    return [o["data"]["image/png"] for o in cell.get("outputs", [])
            if o.output_type in ("display_data", "execute_result") and "image/png" in o.get("data", {})]


def all_output_text(nb: nbformat.NotebookNode) -> str:
    """Every text output of every cell (streams, reprs, HTML, errors) for secret checks."""
    parts = []
    for c in nb.cells:
        for o in c.get("outputs", []):
            parts.append(o.get("text", ""))
            for mime, value in o.get("data", {}).items():
                if mime.startswith("text/") or mime.endswith("json"):
                    parts.append(value if isinstance(value, str) else json.dumps(value))
            parts.extend(o.get("traceback", []))
    return "\n".join(parts)
