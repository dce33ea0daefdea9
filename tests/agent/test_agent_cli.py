"""`workbench agent` refusals a user meets first, and the agent's import boundary."""
from __future__ import annotations

import subprocess
import sys


def test_agent_modules_do_not_import_exchangelib():
    code = ("import sys, workbench.agent.runner, workbench.agent.listener, workbench.agent.scheduler, "
            "workbench.agent.subscriptions, workbench.store.sync_requests, workbench.commands.agent; "
            "print(sorted(m for m in ('exchangelib', 'textual', 'jks') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_https_notification_url_without_certificate_is_refused(tmp_path, monkeypatch, capsys):
    from workbench.cli import main
    from workbench.store import Store
    from workbench.store import settings_table
    store_path = tmp_path / "s.duckdb"
    monkeypatch.setenv("WORKBENCH_STORE", str(store_path))
    monkeypatch.delenv("WORKBENCH_AGENT_TLS_CERT", raising=False)
    settings_table.update(Store(store_path), {"notification_url": "https://127.0.0.1:1/ews/notify"}, source="test")
    assert main(["agent", "--once"]) == 2
    err = capsys.readouterr().err
    assert "SETTINGS_INCOMPLETE" in err and "--tls-cert" in err and "Traceback" not in err


def test_missing_notification_url_is_refused(tmp_path, monkeypatch, capsys):
    from workbench.cli import main
    monkeypatch.setenv("WORKBENCH_STORE", str(tmp_path / "s.duckdb"))
    assert main(["agent"]) == 2
    assert "notification_url" in capsys.readouterr().err
