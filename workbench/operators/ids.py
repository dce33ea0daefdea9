"""The operator ids a command was given: deduplicated, blanks dropped, every one known (one rule for every switch)."""
from __future__ import annotations

from typing import Iterable

from workbench.errors import WorkbenchError


def wanted_ids(ids: Iterable[str]) -> list[str]:
    """The given ids in order, once each; none at all is a usage error."""
    wanted = list(dict.fromkeys(i.strip() for i in ids if i.strip()))
    if not wanted:
        raise WorkbenchError("USAGE", "give at least one operator id")
    return wanted


def require_known(wanted: list[str], known: Iterable[str]) -> None:
    """OPERATOR_NOT_FOUND naming every unknown id (the caller writes nothing then)."""
    known = set(known)
    missing = [i for i in wanted if i not in known]
    if missing:
        raise WorkbenchError("OPERATOR_NOT_FOUND", f"unknown operator id(s): {', '.join(missing)}; nothing was changed")
