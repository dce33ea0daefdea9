"""The demo-only secrets file: used for the demo store it was made for, refused anywhere else."""
from __future__ import annotations

import json
import os
import shutil

import pytest

from workbench import demo_secrets, secrets
from workbench.errors import WorkbenchError


DEMO_APP = "74d62b1c-2c5c-486e-acd6-186203d306ce"


@pytest.fixture
def demo(tmp_path, monkeypatch):
    for var in (secrets.KEYSTORE_PASSWORD_ENV, secrets.EWS_PASSWORD_ENV, "WORKBENCH_GRAPH_CLIENT_SECRET"):
        monkeypatch.delenv(var, raising=False)
    directory = tmp_path / "demo"
    directory.mkdir()
    kept = demo_secrets.DemoSecrets(store=str(directory / "workbench.duckdb"), keystore=str(directory / "exchange.jks"),
                                    account="svc-sync@example.com", keystore_password="demo-ks-pw",
                                    ews_password="demo-ews-pw", graph_client_id=DEMO_APP,
                                    graph_client_secret="demo-graph-secret")
    demo_secrets.write(directory, kept)
    return directory


def test_the_demo_store_finds_its_passwords_without_a_variable(demo, monkeypatch):
    monkeypatch.setenv("WORKBENCH_STORE", str(demo / "workbench.duckdb"))
    assert oct((demo / demo_secrets.FILE_NAME).stat().st_mode & 0o777) == "0o600"
    assert secrets.keystore_password(str(demo / "exchange.jks")) == "demo-ks-pw"
    assert secrets.ews_password("SVC-SYNC@example.com") == "demo-ews-pw"
    # a setting that is no longer the demo's own gets nothing from the file (then: nobody can ask here)
    with pytest.raises(WorkbenchError) as err:
        secrets.keystore_password(str(demo / "real.jks"))
    assert err.value.code == "SECRET_MISSING"


def test_the_demo_store_finds_its_graph_client_secret_for_its_app_only(demo, monkeypatch):
    from workbench.graph.auth import graph_secret
    monkeypatch.setenv("WORKBENCH_STORE", str(demo / "workbench.duckdb"))
    assert graph_secret(DEMO_APP.upper()) == "demo-graph-secret"
    with pytest.raises(WorkbenchError) as err:
        graph_secret("00000000-0000-0000-0000-000000000001")
    assert err.value.code == "SECRET_MISSING"


def test_the_environment_still_wins(demo, monkeypatch):
    monkeypatch.setenv("WORKBENCH_STORE", str(demo / "workbench.duckdb"))
    monkeypatch.setenv(secrets.KEYSTORE_PASSWORD_ENV, "from-env")
    assert secrets.keystore_password(str(demo / "exchange.jks")) == "from-env"


def test_a_store_that_is_not_the_demos_never_reads_a_password_file(demo, tmp_path, monkeypatch):
    real = tmp_path / "real"
    real.mkdir()
    monkeypatch.setenv("WORKBENCH_STORE", str(real / "workbench.duckdb"))
    with pytest.raises(WorkbenchError) as err:
        secrets.keystore_password(str(demo / "exchange.jks"))
    assert err.value.code == "SECRET_MISSING"
    # the demo's file copied beside a real store is refused, naming the store it belongs to
    shutil.copy(demo / demo_secrets.FILE_NAME, real / demo_secrets.FILE_NAME)
    os.chmod(real / demo_secrets.FILE_NAME, 0o600)
    with pytest.raises(WorkbenchError) as err:
        secrets.keystore_password(str(demo / "exchange.jks"))
    assert err.value.code == "DEMO_SECRETS_REFUSED" and str(demo / "workbench.duckdb") in err.value.detail


@pytest.mark.parametrize("damage", ["readable by others", "unmarked", "not json"])
def test_a_damaged_or_exposed_file_is_refused(demo, monkeypatch, damage):
    path = demo / demo_secrets.FILE_NAME
    if damage == "readable by others":
        os.chmod(path, 0o644)
    elif damage == "unmarked":
        data = json.loads(path.read_text())
        path.write_text(json.dumps({**data, "mark": "something else"}))
    else:
        path.write_text("{")
    monkeypatch.setenv("WORKBENCH_STORE", str(demo / "workbench.duckdb"))
    with pytest.raises(WorkbenchError) as err:
        secrets.keystore_password(str(demo / "exchange.jks"))
    assert err.value.code == "DEMO_SECRETS_REFUSED" and str(path) in err.value.detail
    assert "demo-ks-pw" not in str(err.value)
