"""The Textual dashboard: the only package that imports textual.

Importing ``workbench.ui`` itself stays cheap and textual-free; the app is
loaded on first use of ``WorkbenchApp`` or ``run_dashboard``. ``workbench.ui.data``
(the read models) never imports textual either.
"""
from __future__ import annotations

from typing import Any

__all__ = ["WorkbenchApp", "run_dashboard"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from workbench.ui import app
        return getattr(app, name)
    raise AttributeError(name)
