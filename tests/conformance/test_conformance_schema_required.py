"""Without Microsoft's schema nothing here proves anything: a missing schema directory is a failure with a
clear message, never a quiet skip (EWS_SCHEMA_DIR is honoured); the sandbox refuses a schema directory
that holds no schema."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ews_schema import REPO
from workbench.sandbox import Sandbox
from workbench.sandbox.cli import main as sandbox_main

PROBE = "tests/conformance/test_conformance_sync.py::test_a_corrupt_sync_state_is_refused"


def test_a_missing_schema_directory_fails_the_suite_with_a_clear_message(tmp_path: Path) -> None:
    missing = tmp_path / "no-schema-here"
    env = {**os.environ, "EWS_SCHEMA_DIR": str(missing)}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider", PROBE],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    out = run.stdout + run.stderr
    assert run.returncode != 0, out
    assert f"EWS schema not found: {missing / 'messages.xsd'} does not exist" in out
    assert "EWS_SCHEMA_DIR" in out and "skipped" not in out and " passed" not in out


def test_the_sandbox_refuses_a_schema_dir_without_the_schema(tmp_path: Path, capsys) -> None:
    with pytest.raises(FileNotFoundError, match="messages.xsd"):
        Sandbox(tmp_path / "state", schema_dir=tmp_path).start()
    assert sandbox_main(["--state-dir", str(tmp_path / "state"), "--schema-dir", str(tmp_path)]) == 2
    assert "no EWS schema (messages.xsd)" in capsys.readouterr().err


def test_the_sandbox_reports_the_schema_it_checks_against(sandbox, validator) -> None:
    assert sandbox.info.schema_dir == validator.directory.resolve()
    assert sandbox.info.to_json()["schema_dir"] == str(validator.directory.resolve())
