"""The backend and Graph settings through `workbench settings set/check`: every rule refuses with the field,
the value and the rule (exit 2, nothing written); the client secret is no setting; `settings check` asks for a
backend's keys only when that backend serves some mailbox."""
from __future__ import annotations

import pytest

from workbench.settings import check_set

GUID = "1b2c3d4e-0000-4000-8000-00000000abcd"


@pytest.fixture
def cli(tmp_path, monkeypatch, capsys):
    from workbench.cli import main
    monkeypatch.setenv("WORKBENCH_STORE", str(tmp_path / "s.duckdb"))

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out = capsys.readouterr()
        assert "Traceback" not in out.err and "INTERNAL" not in out.err
        return code, out.out, out.err
    return run


@pytest.mark.parametrize("pair, rule", [
    ("backend=exchange-online", "one of ews, graph"),
    ("graph_client_id=not-a-guid", "a GUID"),
    ("graph_tenant_id=contoso", "GUID, or its domain name"),
    ("graph_endpoint=http://graph.microsoft.com/v1.0", "an https URL"),
    ("graph_authority_host=https://user:pw@login.microsoftonline.com", "without user name or password"),
    ("graph_service_mailbox=service", "an e-mail address"),
    ("graph_client_secret=s3cret-value", "unknown setting"),
])
def test_bad_values_are_refused_naming_field_value_and_rule(cli, pair, rule) -> None:
    code, _out, err = cli("settings", "set", pair, "batch_size=100")
    key = pair.split("=")[0]
    assert code == 2 and err.startswith("SETTING_INVALID:") and key in err and rule in err, err
    assert "s3cret-value" not in err, "a secret given as a setting is never echoed"
    from workbench.store import Store
    from workbench.store.settings_table import history
    assert history(Store()).empty, "all or nothing: batch_size was not written either"


def test_good_values_are_stored_canonical(cli) -> None:
    code, _out, err = cli("settings", "set", "backend=graph", f"graph_client_id={GUID.upper()}",
                          "graph_tenant_id=Contoso.onmicrosoft.com", "graph_endpoint=https://graph.microsoft.us/v1.0/")
    assert code == 0, err
    from workbench.store import Store
    from workbench.store.settings_table import load
    s = load(Store())
    assert (s.backend, s.graph_client_id, s.graph_tenant_id, s.graph_endpoint) == (
        "graph", GUID, "contoso.onmicrosoft.com", "https://graph.microsoft.us/v1.0")


def test_check_names_the_keys_of_the_backends_in_use(tmp_path) -> None:
    base = {"notification_url": "https://127.0.0.1:9/n", "failure_recipients": "ops@example.com"}
    ews_missing = {"exchange_url", "impersonation_account", "keystore_path"}
    graph_missing = {"graph_tenant_id", "graph_client_id", "graph_service_mailbox"}

    def missing(stored: dict, in_use: set | None = None) -> set[str]:
        return {p.split(":")[0] for p in check_set(stored, in_use) if "empty; required" in p}

    assert missing(base) == ews_missing
    assert missing({**base, "backend": "graph"}) == graph_missing
    assert missing({**base, "backend": "graph"}, {"ews"}) == ews_missing | graph_missing
    problems = check_set({**base, "backend": "graph", "graph_tenant_id": GUID, "graph_client_id": GUID,
                          "graph_service_mailbox": "svc@example.com", "graph_ca_bundle": str(tmp_path / "no.pem"),
                          "graph_endpoint": "https://graph.microsoft.com/beta"})
    assert any(p.startswith("graph_ca_bundle=") and "no such file" in p for p in problems)
    assert any(p.startswith("graph_endpoint=") and "/v1.0" in p for p in problems)
