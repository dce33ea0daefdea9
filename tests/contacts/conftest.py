"""Fixtures for the contacts tests (find, show, export, undo): the shared ``exchange_env``."""
from __future__ import annotations

import pytest


@pytest.fixture
def env(exchange_env):
    return exchange_env
