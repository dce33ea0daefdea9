"""The dashboard's headless parts never import textual (Harlequin's rule)."""
from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["workbench.ui", "workbench.ui.data", "workbench.keystore_service", "workbench.demo",
                                    "workbench.demo_world", "workbench.demo_serve", "workbench.notebooks_launcher",
                                    "workbench.commands.demo", "workbench.commands.dashboard"])
def test_headless_module_does_not_import_textual(module):
    code = f"import sys, {module}; print('textual' in sys.modules or 'rich' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
