"""Fixtures for the sync tests: the shared ``exchange_env`` plus helpers to read both sides."""
from __future__ import annotations

from typing import Any

import pytest

WRITE_OPS = {"CreateItem", "UpdateItem", "DeleteItem"}


def writes_since(sandbox: Any, mark: int) -> list:
    return [r for r in sandbox.requests[mark:] if r.operation in WRITE_OPS]


@pytest.fixture
def env(exchange_env):
    return exchange_env
