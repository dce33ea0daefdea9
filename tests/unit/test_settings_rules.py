"""Every settings rule, through the CLI as a user types it, and the store left unchanged on refusal."""
from __future__ import annotations

import pytest

from workbench.cli import main
from workbench.settings import SETTINGS, check_set
from workbench.store import Store
from workbench.store.settings_table import history, stored_values


@pytest.fixture
def store(tmp_path, monkeypatch):
    path = tmp_path / "wb.duckdb"
    monkeypatch.setenv("WORKBENCH_STORE", str(path))
    return Store(path)


REFUSED = [
    ("batch_size", "600", "1..512"),
    ("batch_size", "0", "1..512"),
    ("batch_size", "ten", "1..512"),
    ("slot_size_minutes", "20", "15, 30"),
    ("exchange_version", "Exchange2007", "Exchange2010, Exchange2013, Exchange2016, Exchange2019, ExchangeSE"),
    ("exchange_version", "Exchange2016_SP1", "Exchange2016, Exchange2019, ExchangeSE"),
    ("delete_to", "trash", "deleted-items, recoverable-items, hard"),
    ("delete_to", "HardDelete", "deleted-items, recoverable-items, hard"),
    ("notification_frequency_minutes", "0", "1..1440"),
    ("notification_frequency_minutes", "1441", "1..1440"),
    ("failure_recipients", "ops@example.com;;x", "separated by semicolons"),
    ("failure_recipients", "ops@example.com, b@example.com", "separated by semicolons"),
    ("failure_recipients", "not-an-address", "separated by semicolons"),
    ("sync_category", "", "non-empty"),
    ("sync_category", "Sales;Sync", "no ';' or ','"),
    ("sync_category", "Sales,Sync", "no ';' or ','"),
    ("sync_category", " padded", "leading or trailing"),
    ("contact_integration", "maybe", "true or false"),
    ("include_private", "2", "true or false"),
    ("sync_direction", "both", "two-way"),
    ("conflict_policy", "newest-wins", "crm-wins, exchange-wins, manual"),
    ("exchange_url", "ftp://mail.example.com/EWS/Exchange.asmx", "http(s) URL"),
    ("exchange_url", "https://mail.example.com/owa", "/EWS/Exchange.asmx"),
    ("exchange_url", "https://mail.example.com:99999/EWS/Exchange.asmx", "valid port"),
    ("notification_url", "listener", "http(s) URL"),
    ("impersonation_account", "svc sync", "DOMAIN\\user"),
    ("max_concurrent_mailboxes", "0", "1..16"),
    ("mass_delete_percent", "101", "0..100"),
]


@pytest.mark.parametrize("key,value,rule", REFUSED)
def test_refused_value_names_field_value_rule_and_writes_nothing(store, capsys, key, value, rule):
    before = stored_values(store)
    assert main(["settings", "set", f"{key}={value}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("SETTING_INVALID: ")
    assert key in err and repr(value) in err and rule in err
    assert "Traceback" not in err
    assert stored_values(store) == before
    assert history(store).empty


ACCEPTED = [
    ("batch_size", "1"), ("batch_size", "512"), ("slot_size_minutes", "15"), ("slot_size_minutes", "30"),
    ("notification_frequency_minutes", "1"), ("notification_frequency_minutes", "1440"),
    ("exchange_version", "Exchange2010"), ("exchange_version", "Exchange2013"),
    ("exchange_version", "Exchange2019"), ("exchange_version", "ExchangeSE"),
    ("delete_to", "deleted-items"), ("delete_to", "recoverable-items"), ("delete_to", "hard"),
    ("failure_recipients", "ops@example.com;b.c@example.org"), ("failure_recipients", "ops@example.com"),
    ("sync_category", "Sales Sync"), ("impersonation_account", "EXAMPLE\\svc-sync"),
    ("impersonation_account", "svc-sync@example.com"), ("contact_integration", "YES"),
    ("exchange_url", "https://mail.example.com/EWS/Exchange.asmx"),
    ("notification_url", "https://crm.example.com:8443/ews/notify"),
]


@pytest.mark.parametrize("key,value", ACCEPTED)
def test_boundary_and_valid_values_are_accepted(store, key, value):
    assert main(["settings", "set", f"{key}={value}"]) == 0
    stored = stored_values(store)[key]
    assert stored == ("true" if value == "YES" else value)


def test_one_bad_pair_among_good_ones_writes_nothing(store, capsys):
    assert main(["settings", "set", "batch_size=100", "slot_size_minutes=30", "exchange_version=Exchange2007"]) == 2
    assert "exchange_version" in capsys.readouterr().err
    values = stored_values(store)
    assert values["batch_size"] == SETTINGS["batch_size"].default
    assert values["slot_size_minutes"] == SETTINGS["slot_size_minutes"].default


def test_every_violation_is_reported_at_once(store, capsys):
    assert main(["settings", "set", "batch_size=600", "slot_size_minutes=20", "sync_category="]) == 2
    err = capsys.readouterr().err
    assert "batch_size" in err and "slot_size_minutes" in err and "sync_category" in err


def test_changes_are_recorded_with_old_and_new_value(store):
    assert main(["settings", "set", "batch_size=100"]) == 0
    assert main(["settings", "set", "batch_size=200"]) == 0
    assert main(["settings", "set", "batch_size=200"]) == 0      # no change, no record
    rows = history(store)[["key", "old_value", "new_value"]].values.tolist()
    assert rows == [["batch_size", "512", "100"], ["batch_size", "100", "200"]]


def test_unknown_key_and_malformed_pair(store, capsys):
    assert main(["settings", "set", "colour=blue"]) == 2
    assert "'colour': unknown setting" in capsys.readouterr().err
    assert main(["settings", "set", "batch_size"]) == 2
    assert "expected KEY=VALUE" in capsys.readouterr().err


def test_check_reports_every_violation_of_the_whole_set(store, tmp_path, capsys):
    assert main(["settings", "set", "exchange_url=http://mail.example.com/EWS/Exchange.asmx",
                 f"keystore_path={tmp_path / 'missing.jks'}"]) == 0
    assert main(["settings", "check"]) == 2
    out = capsys.readouterr().out
    assert "must be https" in out and "missing.jks" in out and "no such file" in out
    assert "impersonation_account: empty" in out


def test_check_passes_on_a_complete_valid_set(tmp_path):
    keystore = tmp_path / "trust.jks"
    keystore.write_bytes(b"x")
    values = {k: s.default for k, s in SETTINGS.items()} | {
        "exchange_url": "https://mail.example.com/EWS/Exchange.asmx",
        "notification_url": "https://crm.example.com/notify", "failure_recipients": "ops@example.com",
        "impersonation_account": "svc@example.com", "keystore_path": str(keystore)}
    assert check_set(values) == []


def test_show_json_lists_every_setting_with_rule(store, capsys):
    import json
    assert main(["settings", "show", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == set(SETTINGS)
    assert data["batch_size"] == {"value": "512", "default": "512", "rule": "a whole number 1..512"}
