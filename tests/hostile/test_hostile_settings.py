"""Hostile `settings set` input through the CLI: refused with exit 2, the catalogue code, the key and an
excerpt of the value, never INTERNAL or a traceback, and the store file byte for byte as it was.

The corpus holds every hostile settings value of issue 19 and more of the same classes: control
characters, line breaks, ANSI escapes, bidi and invisible characters in every text setting; URLs with
credentials, broken IPv6 literals, bad hosts and ports, over-long values; numbers in other scripts or
with signs and separators; the same key twice; names that look like injection.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.errors import CATALOGUE

LONG_URL = "https://mail.example.com/" + "a" * 100_000 + "/EWS/Exchange.asmx"
EWS = "/EWS/Exchange.asmx"

# (id, KEY=VALUE arguments, catalogue code, key the message names, text the message quotes)
HOSTILE = [
    # --- from issue 19 ------------------------------------------------------------------------
    ("url-line-break-in-host", ["exchange_url=https://evil.example\n.com" + EWS], "SETTING_INVALID",
     "exchange_url", r"'https://evil.example\n.com/EWS/Exchange.asmx'"),
    ("url-credentials", ["exchange_url=https://admin:hunter2@mail.example.com" + EWS], "SETTING_INVALID",
     "exchange_url", "https://admin:********@mail.example.com"),
    ("url-100kb", [f"exchange_url={LONG_URL}"], "SETTING_INVALID", "exchange_url",
     "'https://mail.example.com/aaaaaaaa"),
    ("fullwidth-digits", ["batch_size=５１２"], "SETTING_INVALID", "batch_size", "'５１２'"),
    ("arabic-indic-digits", ["batch_size=٣٢"], "SETTING_INVALID", "batch_size", "'٣٢'"),
    ("underscore-digits", ["batch_size=1_0"], "SETTING_INVALID", "batch_size", "'1_0'"),
    ("same-key-twice", ["batch_size=600", "batch_size=7"], "USAGE", "batch_size", "given twice"),
    ("category-line-break", ["sync_category=Sales\nSync"], "SETTING_INVALID", "sync_category", r"'Sales\nSync'"),
    ("category-control", ["sync_category=Sales\x07Sync"], "SETTING_INVALID", "sync_category", r"'Sales\x07Sync'"),
    ("category-ansi", ["sync_category=\x1b[31mRED"], "SETTING_INVALID", "sync_category", r"'\x1b[31mRED'"),
    ("category-rlo", ["sync_category=Sales\u202eSync"], "SETTING_INVALID", "sync_category", r"'Sales\u202eSync'"),
    ("account-quote-comment", ["impersonation_account=svc'--@example.com"], "SETTING_INVALID",
     "impersonation_account", "svc'--@example.com"),
    ("keystore-line-break", ["keystore_path=/etc/trust\n.jks"], "SETTING_INVALID", "keystore_path",
     r"'/etc/trust\n.jks'"),
    ("ews-ipv6-missing-bracket", ["exchange_url=https://[::1" + EWS], "SETTING_INVALID", "exchange_url",
     "'https://[::1/EWS/Exchange.asmx'"),
    ("notify-ipv6-missing-bracket", ["notification_url=http://[::1/ews/notify"], "SETTING_INVALID",
     "notification_url", "'http://[::1/ews/notify'"),
    # --- the same classes, further values --------------------------------------------------------
    ("plus-sign", ["batch_size=+5"], "SETTING_INVALID", "batch_size", "'+5'"),
    ("minus-sign", ["mass_delete_percent=-1"], "SETTING_INVALID", "mass_delete_percent", "'-1'"),
    ("superscript-digit", ["max_concurrent_mailboxes=²"], "SETTING_INVALID", "max_concurrent_mailboxes", "'²'"),
    ("devanagari-digits", ["notification_frequency_minutes=३०"], "SETTING_INVALID",
     "notification_frequency_minutes", "'३०'"),
    ("hex-number", ["batch_size=0x10"], "SETTING_INVALID", "batch_size", "'0x10'"),
    ("exponent", ["batch_size=1e2"], "SETTING_INVALID", "batch_size", "'1e2'"),
    ("huge-number", ["batch_size=" + "9" * 5000], "SETTING_INVALID", "batch_size", "'99999999"),
    ("nul-in-number", ["batch_size=5\x00"], "SETTING_INVALID", "batch_size", r"'5\x00'"),
    ("info-separator", ["batch_size=5\x1c"], "SETTING_INVALID", "batch_size", r"'5\x1c'"),
    ("category-tab", ["sync_category=Sales\tSync"], "SETTING_INVALID", "sync_category", r"'Sales\tSync'"),
    ("category-line-separator", ["sync_category=Sales\u2028Sync"], "SETTING_INVALID", "sync_category",
     r"'Sales\u2028Sync'"),
    ("category-zero-width", ["sync_category=Sales\u200bSync"], "SETTING_INVALID", "sync_category",
     r"'Sales\u200bSync'"),
    ("category-bom", ["sync_category=\ufeffSales"], "SETTING_INVALID", "sync_category", r"'\ufeffSales'"),
    ("category-c1-csi", ["sync_category=\x9b31mRED"], "SETTING_INVALID", "sync_category", r"'\x9b31mRED'"),
    ("category-del", ["sync_category=Sales\x7f"], "SETTING_INVALID", "sync_category", r"'Sales\x7f'"),
    ("category-isolate", ["sync_category=\u2067Sales"], "SETTING_INVALID", "sync_category", r"'\u2067Sales'"),
    ("category-lrm", ["sync_category=Sales\u200e"], "SETTING_INVALID", "sync_category", r"'Sales\u200e'"),
    ("category-too-long", ["sync_category=" + "C" * 300], "SETTING_INVALID", "sync_category", "'CCCCCCCC"),
    ("choice-rlo", ["exchange_version=Exchange2016\u202e"], "SETTING_INVALID", "exchange_version",
     r"'Exchange2016\u202e'"),
    ("bool-zero-width", ["contact_integration=tru\u200be"], "SETTING_INVALID", "contact_integration",
     r"'tru\u200be'"),
    ("url-user-only", ["exchange_url=https://admin@mail.example.com" + EWS], "SETTING_INVALID", "exchange_url",
     "'https://admin@mail.example.com"),
    ("url-backslash-userinfo", ["exchange_url=https://evil.example\\@mail.example.com" + EWS],
     "SETTING_INVALID", "exchange_url", "evil.example"),
    ("url-password-with-slash", ["notification_url=https://ops:pa/ss@crm.example.com/notify"],
     "SETTING_INVALID", "notification_url", "https://ops:********@crm.example.com/notify"),
    ("url-space-in-host", ["exchange_url=https://mail example.com" + EWS], "SETTING_INVALID", "exchange_url",
     "'https://mail example.com"),
    ("url-ansi", ["notification_url=http://crm.example.com/\x1b[2Jnotify"], "SETTING_INVALID",
     "notification_url", r"\x1b[2J"),
    ("url-bad-ipv6", ["notification_url=http://[zz::1]/notify"], "SETTING_INVALID", "notification_url",
     "'http://[zz::1]/notify'"),
    ("url-junk-after-ipv6", ["notification_url=http://[::1]x/notify"], "SETTING_INVALID", "notification_url",
     "'http://[::1]x/notify'"),
    ("url-ipv6-zone", ["notification_url=http://[fe80::1%25eth0]/notify"], "SETTING_INVALID",
     "notification_url", "fe80::1%25eth0"),
    ("url-port-zero", ["notification_url=http://crm.example.com:0/notify"], "SETTING_INVALID",
     "notification_url", "crm.example.com:0"),
    ("url-port-fullwidth", ["notification_url=http://crm.example.com:８０/notify"], "SETTING_INVALID",
     "notification_url", "crm.example.com:８０"),
    ("url-host-hyphens", ["notification_url=http://-crm-.example.com/notify"], "SETTING_INVALID",
     "notification_url", "-crm-.example.com"),
    ("url-no-host", ["exchange_url=https://" + EWS], "SETTING_INVALID", "exchange_url", "'https:///EWS"),
    ("recipients-trailing-newline", ["failure_recipients=ops@example.com\n"], "SETTING_INVALID",
     "failure_recipients", r"'ops@example.com\n'"),
    ("recipients-rlo", ["failure_recipients=ops@example.com;\u202emoc.elpmaxe@liam"], "SETTING_INVALID",
     "failure_recipients", r"\u202e"),
    ("account-double-quote", ['impersonation_account=svc"x@example.com'], "SETTING_INVALID",
     "impersonation_account", 'svc"x@example.com'),
    ("account-domain-quote", ["impersonation_account=EXAMPLE\\svc'--"], "SETTING_INVALID",
     "impersonation_account", "svc'--"),
    ("account-trailing-newline", ["impersonation_account=svc@example.com\n"], "SETTING_INVALID",
     "impersonation_account", r"'svc@example.com\n'"),
    ("keystore-ansi", ["keystore_path=/etc/\x1b]0;pwned\x07trust.jks"], "SETTING_INVALID", "keystore_path",
     r"\x1b]0;pwned\x07"),
    ("keystore-too-long", ["keystore_path=/" + "k" * 5000], "SETTING_INVALID", "keystore_path", "'/kkkkkkkk"),
    ("same-key-twice-spaced", ["batch_size=100", " batch_size=200"], "USAGE", "batch_size", "given twice"),
    ("unknown-key-ansi", ["\x1b[31mcolour=blue"], "SETTING_INVALID", "colour", r"'\x1b[31mcolour'"),
    ("empty-key", ["=5"], "USAGE", "KEY=VALUE", "'=5'"),
]


def store_state(directory: Path) -> dict[str, str]:
    """sha256 of every file of the store's directory but the lock (whose holder note changes per open)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.iterdir()) if not p.name.endswith(".lock")}


@pytest.fixture(scope="module")
def template_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store created the way a user does, with valid settings already written (once per module)."""
    path = tmp_path_factory.mktemp("template") / "wb.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WORKBENCH_STORE", str(path))
        assert main(["settings", "set", "batch_size=100", "sync_category=Sales Sync"]) == 0
    return path


@pytest.fixture
def store_dir(template_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the template store of this test's own; WORKBENCH_STORE points at it."""
    directory = tmp_path / "store"
    directory.mkdir()
    shutil.copyfile(template_store, directory / template_store.name)
    monkeypatch.setenv("WORKBENCH_STORE", str(directory / template_store.name))
    monkeypatch.delenv("WORKBENCH_DEBUG", raising=False)
    return directory


def assert_refused(rc: int, out: str, err: str, code: str, key: str, quoted: str) -> None:
    assert rc == 2, err
    assert err.startswith(f"{code}: {CATALOGUE[code].title} — "), err
    assert key in err and quoted in err, err
    assert "INTERNAL" not in err and "Traceback" not in err
    assert out == ""


@pytest.mark.parametrize("pairs,code,key,quoted", [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_hostile_setting_is_refused_and_the_store_is_untouched(store_dir, capsys, pairs, code, key, quoted):
    before = store_state(store_dir)
    capsys.readouterr()
    rc = main(["settings", "set", *pairs])
    out, err = capsys.readouterr()
    assert_refused(rc, out, err, code, key, quoted)
    assert store_state(store_dir) == before


def test_a_password_in_a_url_is_never_echoed(store_dir, capsys):
    for key in ("exchange_url", "notification_url"):
        main(["settings", "set", f"{key}=https://admin:hunter2@mail.example.com{EWS}"])
        main(["settings", "set", f"{key}=https://admin:hunter2@mail.example.com/\n{EWS}"])
        main(["settings", "set", f"{key}=https://admin:hun/ter2@mail.example.com{EWS}"])
    out, err = capsys.readouterr()
    assert err.count("SETTING_INVALID") == 6
    assert "hunter2" not in out + err and "hun/ter2" not in out + err and "ter2" not in out + err


def test_a_long_value_is_quoted_as_a_short_excerpt(store_dir, capsys):
    assert main(["settings", "set", f"exchange_url={LONG_URL}"]) == 2
    err = capsys.readouterr().err
    assert "at most 2048 characters" in err and f"({len(LONG_URL)} characters)" in err
    assert len(err) < 1_000


def test_same_key_twice_writes_neither_value(store_dir, capsys):
    assert main(["settings", "set", "batch_size=300", "slot_size_minutes=30", "batch_size=7"]) == 2
    assert "'batch_size' given twice" in capsys.readouterr().err
    assert main(["settings", "show", "--json"]) == 0
    import json
    shown = json.loads(capsys.readouterr().out)
    assert shown["batch_size"]["value"] == "100" and shown["slot_size_minutes"]["value"] == "15"


NORMALISED = [
    ("batch_size", " 5 ", "5"),                         # outer spaces are trimmed, as for every setting
    ("batch_size", "007", "7"),
    ("exchange_url", "https://[::1]:8443" + EWS, "https://[::1]:8443" + EWS),
    ("exchange_url", "https://MAIL.example.com." + EWS, "https://MAIL.example.com." + EWS),
    ("notification_url", "http://127.0.0.1:8080/ews/notify", "http://127.0.0.1:8080/ews/notify"),
    ("notification_url", "https://crm.bücher.example/notify", "https://crm.bücher.example/notify"),
    ("failure_recipients", "o'brien@example.com", "o'brien@example.com"),   # a mail address may hold '
    ("impersonation_account", "svc.sync-01@example.com", "svc.sync-01@example.com"),
    ("impersonation_account", "EXAMPLE\\svc_sync$", "EXAMPLE\\svc_sync$"),
    ("sync_category", "Vertrieb Süd – Sync", "Vertrieb Süd – Sync"),
    # a path is stored as the person means it, from where they typed it: "~" is their home (workbench.paths)
    ("keystore_path", "~/trust/exchange store.jks", str(Path("~/trust/exchange store.jks").expanduser())),
]


@pytest.mark.parametrize("key,value,stored", NORMALISED)
def test_text_a_person_means_is_accepted(store_dir, capsys, key, value, stored):
    import json
    assert main(["settings", "set", f"{key}={value}"]) == 0
    capsys.readouterr()
    main(["settings", "show", "--json"])
    assert json.loads(capsys.readouterr().out)[key]["value"] == stored


def test_real_process_with_undecodable_bytes_and_escapes(tmp_path):
    """A real `python -m workbench` process: argv bytes that are not UTF-8, an ANSI escape, a line break."""
    store = tmp_path / "wb.duckdb"
    cmd = [sys.executable, "-m", "workbench", "--store", str(store), "settings", "set"]
    assert subprocess.run(cmd + ["batch_size=100"], capture_output=True).returncode == 0
    before = store_state(tmp_path)
    for raw in (b"sync_category=Sales\xff\xfe", b"sync_category=\x1b[31mRED",
                b"keystore_path=/etc/a\nb.jks", b"exchange_url=https://[::1/EWS/Exchange.asmx"):
        done = subprocess.run(cmd + [raw.decode("utf-8", "surrogateescape")], capture_output=True,
                              env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"})
        err = done.stderr.decode("utf-8", "replace")
        assert done.returncode == 2, err
        assert err.startswith("SETTING_INVALID: ") and "INTERNAL" not in err and "Traceback" not in err
        assert b"\x1b" not in done.stderr and raw.split(b"=")[0].decode() in err
    assert store_state(tmp_path) == before
