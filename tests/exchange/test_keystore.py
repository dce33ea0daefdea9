"""Keystore: JKS/PKCS12 read, JKS write, keytool interoperability, inspect warnings, fetch-cert, trust.

No sandbox needed: a tiny loopback HTTPS server (tls_helpers) presents generated certificates.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from tests.exchange.tls_helpers import TlsServer, make_pki
from workbench.cli import main
from workbench.errors import WorkbenchError
from workbench.exchange import keystore as ks
from workbench.exchange import trust

KEYTOOL = shutil.which("keytool")
needs_keytool = pytest.mark.skipif(KEYTOOL is None, reason="keytool (Java) not installed here: interop not tested")
PW = "changeit-1"


@pytest.fixture
def pki(tmp_path: Path):
    return make_pki(tmp_path / "pki")


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WORKBENCH_STORE", str(tmp_path / "wb.duckdb"))
    monkeypatch.setenv("WORKBENCH_KEYSTORE_PASSWORD", PW)
    return tmp_path


# --- write JKS, read with keytool ------------------------------------------------------------

@needs_keytool
def test_workbench_jks_lists_cleanly_with_keytool(tmp_path: Path, pki) -> None:
    path = tmp_path / "trust.jks"
    ks.import_certificate(pki.chain_pem, path, "Exchange", PW, chain=True)
    out = subprocess.run([KEYTOOL, "-list", "-v", "-keystore", str(path), "-storepass", PW],
                         capture_output=True, text=True, check=True).stdout
    assert "Keystore type: JKS" in out
    assert "Your keystore contains 2 entries" in out
    assert "Alias name: exchange\n" in out and "Alias name: exchange-2\n" in out
    assert out.count("Entry type: trustedCertEntry") == 2
    assert ks.cert_info(pki.leaf).sha256 in out
    wrong = subprocess.run([KEYTOOL, "-list", "-keystore", str(path), "-storepass", "not-it"],
                           capture_output=True, text=True)
    assert wrong.returncode != 0 and "password was incorrect" in (wrong.stdout + wrong.stderr)


@needs_keytool
@pytest.mark.parametrize("storetype", ["JKS", "PKCS12", None])
def test_keytool_importcert_keystores_load(tmp_path: Path, pki, storetype: str | None) -> None:
    """The seed's command: keytool -importcert -file cert -keystore FILE -alias NAME (Java 17 writes PKCS12)."""
    path = tmp_path / "keytool.jks"
    cmd = [KEYTOOL, "-importcert", "-noprompt", "-file", str(pki.ca_pem), "-keystore", str(path),
           "-alias", "EWS Root", "-storepass", PW]
    if storetype:
        cmd += ["-storetype", storetype]
    subprocess.run(cmd, capture_output=True, check=True)
    loaded = ks.load_keystore(path, PW)
    assert loaded.store_type == (storetype or "PKCS12").lower()
    assert [e.kind for e in loaded.entries] == ["trustedCert"]
    assert loaded.entries[0].alias.lower() == "ews root"
    assert ks.cert_info(loaded.trusted_certs()[0]).sha256 == ks.cert_info(pki.ca).sha256
    with pytest.raises(WorkbenchError) as err:
        ks.load_keystore(path, "wrong-password")
    assert err.value.code == "KEYSTORE_PASSWORD"
    # and the trust built from it verifies the server signed by that CA
    with TlsServer(pki) as url:
        assert ks.probe_tls(url, loaded).ok


@needs_keytool
def test_import_into_keytool_jks_keeps_its_entries_and_refuses_pkcs12(tmp_path: Path, pki) -> None:
    path = tmp_path / "k.jks"
    subprocess.run([KEYTOOL, "-importcert", "-noprompt", "-storetype", "JKS", "-file", str(pki.ca_pem),
                    "-keystore", str(path), "-alias", "root", "-storepass", PW], capture_output=True, check=True)
    ks.import_certificate(pki.leaf_pem, path, "leaf", PW)
    assert ks.load_keystore(path, PW).aliases() == ["leaf", "root"]
    p12 = tmp_path / "k.p12"
    subprocess.run([KEYTOOL, "-importcert", "-noprompt", "-file", str(pki.ca_pem), "-keystore", str(p12),
                    "-alias", "root", "-storepass", PW], capture_output=True, check=True)
    before = p12.read_bytes()
    with pytest.raises(WorkbenchError) as err:
        ks.import_certificate(pki.leaf_pem, p12, "leaf", PW)
    assert err.value.code == "KEYSTORE_READ_ONLY"
    assert p12.read_bytes() == before


# --- import rules ----------------------------------------------------------------------------

def test_alias_refused_unless_replace(tmp_path: Path, pki) -> None:
    path = tmp_path / "t.jks"
    ks.import_certificate(pki.leaf_pem, path, "exchange", PW)
    other = make_pki(tmp_path / "other")
    with pytest.raises(WorkbenchError) as err:
        ks.import_certificate(other.leaf_pem, path, "Exchange", PW)
    assert err.value.code == "KEYSTORE_ALIAS_EXISTS"
    assert ks.cert_info(ks.load_keystore(path, PW).trusted_certs()[0]).sha256 == ks.cert_info(pki.leaf).sha256
    result = ks.import_certificate(other.leaf_pem, path, "exchange", PW, replace=True)
    assert result.replaced == ["exchange"]
    assert ks.cert_info(ks.load_keystore(path, PW).trusted_certs()[0]).sha256 == ks.cert_info(other.leaf).sha256


def test_new_keystore_needs_six_character_password(tmp_path: Path, pki) -> None:
    with pytest.raises(WorkbenchError) as err:
        ks.import_certificate(pki.leaf_pem, tmp_path / "t.jks", "x", "12345")
    assert err.value.code == "KEYSTORE_PASSWORD_SHORT"
    assert not (tmp_path / "t.jks").exists()


def test_der_certificate_and_garbage_certificate_file(tmp_path: Path, pki) -> None:
    from cryptography.hazmat.primitives import serialization
    der = tmp_path / "leaf.cer"
    der.write_bytes(pki.leaf.public_bytes(serialization.Encoding.DER))
    ks.import_certificate(der, tmp_path / "t.jks", "x", PW)
    assert len(ks.load_keystore(tmp_path / "t.jks", PW).trusted_certs()) == 1
    junk = tmp_path / "junk.pem"
    junk.write_text("hello")
    with pytest.raises(WorkbenchError) as err:
        ks.import_certificate(junk, tmp_path / "t2.jks", "x", PW)
    assert err.value.code == "CERT_FILE_INVALID"


# --- reading: wrong password, corrupt, other formats -----------------------------------------

@pytest.mark.parametrize("make, code", [
    (lambda good, d: good, "KEYSTORE_PASSWORD"),
    (lambda good, d: good.read_bytes()[:60], "KEYSTORE_CORRUPT"),
    (lambda good, d: b"", "KEYSTORE_CORRUPT"),
    (lambda good, d: b"PK\x03\x04" + os.urandom(200), "KEYSTORE_CORRUPT"),
    (lambda good, d: d.leaf_pem.read_bytes(), "KEYSTORE_CORRUPT"),
])
def test_clear_errors_for_bad_keystores(tmp_path: Path, pki, make, code: str) -> None:
    good = tmp_path / "good.jks"
    ks.import_certificate(pki.leaf_pem, good, "x", PW)
    data = make(good, pki)
    path = good if isinstance(data, Path) else tmp_path / "bad.jks"
    if not isinstance(data, Path):
        path.write_bytes(data)
    with pytest.raises(WorkbenchError) as err:
        ks.load_keystore(path, "wrong-pw" if code == "KEYSTORE_PASSWORD" else PW)
    assert err.value.code == code
    assert str(path) in err.value.detail


def test_corrupt_pkcs12_and_missing_file(tmp_path: Path, pki) -> None:
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12
    data = pkcs12.serialize_key_and_certificates(b"x", None, None, [pki.ca], BestAvailableEncryption(PW.encode()))
    (tmp_path / "a.p12").write_bytes(data)
    assert ks.load_keystore(tmp_path / "a.p12", PW).store_type == "pkcs12"
    (tmp_path / "b.p12").write_bytes(data[: len(data) // 2])
    with pytest.raises(WorkbenchError) as err:
        ks.load_keystore(tmp_path / "b.p12", PW)
    assert err.value.code == "KEYSTORE_CORRUPT"
    with pytest.raises(WorkbenchError) as err:
        ks.load_keystore(tmp_path / "a.p12", "nope-nope")
    assert err.value.code == "KEYSTORE_PASSWORD"
    with pytest.raises(WorkbenchError) as err:
        ks.load_keystore(tmp_path / "none.jks", PW)
    assert err.value.code == "KEYSTORE_MISSING"


# --- inspect ---------------------------------------------------------------------------------

def test_inspect_warns_expired_expiring_and_wrong_host(tmp_path: Path, cli_env: Path, capsys) -> None:
    expired = make_pki(tmp_path / "e", leaf_days=(-60, -2))
    soon = make_pki(tmp_path / "s", leaf_days=(-1, 10))
    fine = make_pki(tmp_path / "f", leaf_days=(-1, 300), hosts=("mail.example.com",))
    path = tmp_path / "t.jks"
    ks.import_certificate(expired.leaf_pem, path, "old", PW)
    ks.import_certificate(soon.leaf_pem, path, "soon", PW)
    ks.import_certificate(fine.leaf_pem, path, "fine", PW)
    ks.import_certificate(fine.ca_pem, path, "root", PW)
    assert main(["settings", "set", "exchange_url=https://mail.example.com/EWS/Exchange.asmx"]) == 0
    capsys.readouterr()
    assert main(["keystore", "inspect", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    warnings = {e["alias"]: e["warnings"] for e in report["entries"]}
    assert any("EXPIRED" in w for w in warnings["old"])
    assert any("expires in" in w for w in warnings["soon"])
    assert any("does not cover host 'mail.example.com'" in w for w in warnings["old"])
    assert warnings["fine"] == [] and warnings["root"] == []
    assert {e["type"] for e in report["entries"]} == {"trustedCert"}
    entry = next(e for e in report["entries"] if e["alias"] == "fine")["certificates"][0]
    assert entry["sha256"] == ks.cert_info(fine.leaf).sha256 and entry["subject"] and entry["issuer"]
    assert main(["keystore", "inspect", str(path)]) == 0
    text = capsys.readouterr().out
    assert "! EXPIRED" in text and "SHA-256" in text and "trustedCert" in text


# --- fetch-cert and import through the CLI ---------------------------------------------------

def test_cli_fetch_cert_import_inspect(tmp_path: Path, pki, cli_env: Path, capsys) -> None:
    pem = tmp_path / "server.pem"
    with TlsServer(pki) as url:
        assert main(["keystore", "fetch-cert", url, "-o", str(pem)]) == 0
    out = capsys.readouterr().out
    assert ks.cert_info(pki.leaf).sha256 in out and "CN=localhost" in out and "CN=Test CA" in out
    assert [ks.cert_info(c).sha256 for c in ks.read_certificates(pem)] == \
        [ks.cert_info(pki.leaf).sha256, ks.cert_info(pki.ca).sha256]
    store_ks = tmp_path / "exchange.jks"
    assert main(["keystore", "import", str(pem), "--keystore", str(store_ks), "--alias", "exchange"]) == 0
    out = capsys.readouterr().out
    assert "created" in out and "next: workbench settings set keystore_path=" in out
    assert main(["keystore", "import", str(pem), "--keystore", str(store_ks), "--alias", "exchange"]) == 2
    assert "KEYSTORE_ALIAS_EXISTS" in capsys.readouterr().err
    assert main(["keystore", "import", str(pem), "--keystore", str(store_ks), "--alias", "exchange",
                 "--replace"]) == 0
    assert PW not in capsys.readouterr().out


def test_fetch_cert_unreachable(tmp_path: Path, cli_env: Path, capsys) -> None:
    from tests.conftest import free_port
    assert main(["keystore", "fetch-cert", f"https://127.0.0.1:{free_port()}/EWS/Exchange.asmx",
                 "-o", str(tmp_path / "x.pem")]) == 1
    assert "EWS_UNREACHABLE" in capsys.readouterr().err


def test_keystore_password_is_never_an_argument_and_needs_a_tty(tmp_path: Path, pki, cli_env: Path,
                                                                monkeypatch, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["keystore", "import", str(pki.leaf_pem), "--keystore", str(tmp_path / "k.jks"), "--alias", "a",
              "--password", "x"])
    monkeypatch.delenv("WORKBENCH_KEYSTORE_PASSWORD")
    capsys.readouterr()
    assert main(["keystore", "import", str(pki.leaf_pem), "--keystore", str(tmp_path / "k.jks"),
                 "--alias", "a"]) == 2
    assert "SECRET_MISSING" in capsys.readouterr().err
    assert not (tmp_path / "k.jks").exists()


# --- trust: exactly the keystore, per endpoint, env cannot override ---------------------------

def _get(url: str):
    """A request through exchangelib's adapter class, as exchangelib's sessions make them."""
    from exchangelib.protocol import BaseProtocol
    with requests.Session() as session:
        session.mount("https://", BaseProtocol.get_adapter())
        try:
            return session.get(url, timeout=10).status_code
        except requests.exceptions.SSLError as exc:
            return "SSLError: " + str(exc)


def test_trust_is_the_keystore_only_per_endpoint(tmp_path: Path, monkeypatch) -> None:
    a, b = make_pki(tmp_path / "a", cn="CA A"), make_pki(tmp_path / "b", cn="CA B")
    leaf_only = ks.import_certificate(a.leaf_pem, tmp_path / "a-leaf.jks", "a", PW).path
    b_ca = ks.import_certificate(b.ca_pem, tmp_path / "b-ca.jks", "b", PW).path
    trust.install()
    with TlsServer(a) as url_a, TlsServer(b) as url_b:
        # the environment points at the *right* CAs: it must not matter either way
        bundle = tmp_path / "env-bundle.pem"
        bundle.write_bytes(a.ca_pem.read_bytes() + b.ca_pem.read_bytes())
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
        monkeypatch.setenv("CURL_CA_BUNDLE", str(bundle))
        trust.register(url_a, ks.trust_context(ks.load_keystore(leaf_only, PW)))   # a bare leaf is an anchor
        trust.register(url_b, ks.trust_context(ks.load_keystore(b_ca, PW)))
        try:
            assert _get(url_a) == 200
            assert _get(url_b) == 200
            trust.register(url_a, ks.trust_context(ks.load_keystore(b_ca, PW)))      # wrong keystore for A
            result = _get(url_a)
            assert isinstance(result, str) and "CERTIFICATE_VERIFY_FAILED" in result
            assert _get(url_b) == 200
        finally:
            trust.unregister(url_a)
            trust.unregister(url_a)
            trust.unregister(url_b)
        assert not {trust.origin(url_a), trust.origin(url_b)} & set(trust.registered())


def test_probe_tls_tells_expired_untrusted_and_hostname(tmp_path: Path) -> None:
    good = make_pki(tmp_path / "g")
    expired = make_pki(tmp_path / "x", leaf_days=(-30, -1))
    other_host = make_pki(tmp_path / "h", hosts=("mail.example.com",))
    stranger = make_pki(tmp_path / "s", cn="Stranger CA")
    trusted = ks.load_keystore(ks.import_certificate(good.ca_pem, tmp_path / "g.jks", "g", PW).path, PW)
    with TlsServer(good) as url:
        assert ks.probe_tls(url, trusted).ok
        untrusted = ks.load_keystore(ks.import_certificate(stranger.ca_pem, tmp_path / "s.jks", "s", PW).path, PW)
        assert ks.probe_tls(url, untrusted).code == "TLS_UNTRUSTED"
    exp_ks = ks.load_keystore(ks.import_certificate(expired.ca_pem, tmp_path / "x.jks", "x", PW).path, PW)
    with TlsServer(expired) as url:
        assert ks.probe_tls(url, exp_ks).code == "TLS_EXPIRED"
    host_ks = ks.load_keystore(ks.import_certificate(other_host.ca_pem, tmp_path / "h.jks", "h", PW).path, PW)
    with TlsServer(other_host) as url:
        assert ks.probe_tls(url, host_ks).code == "TLS_HOSTNAME"


def test_host_matching() -> None:
    assert ks.host_matches("mail.example.com", ("*.example.com",))
    assert not ks.host_matches("a.mail.example.com", ("*.example.com",))
    assert ks.host_matches("127.0.0.1", ("localhost", "127.0.0.1"))
    assert not ks.host_matches("127.0.0.2", ("127.0.0.1",))
    assert ks.host_matches("MAIL.example.com.", ("mail.example.com",))


def test_expiry_helpers() -> None:
    now = dt.datetime.now(dt.timezone.utc)
    info = ks.CertInfo("CN=x", "CN=x", "1", now - dt.timedelta(days=1), now + dt.timedelta(days=5), "AA",
                       False, True, ("x",))
    assert info.expires_within(30) and not info.expired()
    assert info.expired(now + dt.timedelta(days=6))
