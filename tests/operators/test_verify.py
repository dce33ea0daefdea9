"""`workbench operators verify` against the sandbox Exchange: each status found, stored, concurrent."""
from __future__ import annotations

import json
import threading


from workbench.operators.verify import verify_operators
from workbench.exchange.backend import EwsBackend

EXPECTED = {
    "OP-001": ("email-mismatch", "EWS_EMAIL_MISMATCH"),        # e-mail is an alias of the mailbox
    "OP-002": ("mailbox-not-found", "EWS_MAILBOX_NOT_FOUND"),  # no mailbox at all
    "OP-003": ("impersonation-denied", "EWS_IMPERSONATION_DENIED"),
    "OP-004": ("ok", None),
    "OP-005": ("ok", None),
}


def test_verify_reports_each_status_and_stores_it(exchange_env, cli):
    store = exchange_env.store
    assert cli("operators", "verify", "--json") == 1          # problems found -> exit 1
    checks = {c["operator_id"]: c for c in json.loads(cli.out)}
    assert set(checks) == set(EXPECTED)                         # OP-006 has contact sync off: not checked
    for op, (status, code) in EXPECTED.items():
        assert (checks[op]["status"], checks[op]["code"]) == (status, code), checks[op]
    alias = store.scalar("SELECT email FROM operators WHERE operator_id = 'OP-001'")
    primary = checks["OP-001"]["mailbox_address"]
    assert primary and primary.lower() != alias.lower() and primary.lower() == alias.replace(".old@", "@").lower()
    assert alias == store.scalar("SELECT email FROM operators WHERE operator_id = 'OP-001'")   # not fixed silently
    stored = {r[0]: r[1:] for r in store.rows(
        "SELECT operator_id, status, code, mailbox_address, checked_at FROM operator_checks")}
    assert {k: v[:2] for k, v in stored.items()} == {k: v for k, v in EXPECTED.items()}
    assert all(v[3] is not None for v in stored.values())
    # the list shows the latest verification
    assert cli("operators", "list", "--unverified", "--json") == 0
    assert {d["operator_id"] for d in json.loads(cli.out)} == {"OP-001", "OP-002", "OP-003", "OP-006"}


def test_verify_table_output_names_the_remedy(exchange_env, cli):
    assert cli("operators", "verify", "OP-003", "OP-004") == 1
    assert "OP-003" in cli.out and "impersonation-denied" in cli.out
    assert "    EWS_IMPERSONATION_DENIED: Impersonation denied — Ask the Exchange admin" in cli.out
    assert "OP-003: mailbox lukasz" in cli.out and "ErrorImpersonateUserDenied" in cli.out
    assert "1 ok, 1 with problems" in cli.out


def test_verify_explicit_operator_with_sync_off(exchange_env, cli):
    assert cli("operators", "verify", "OP-006", "--json") == 1
    (check,) = json.loads(cli.out)
    assert (check["status"], check["code"]) == ("sync-off", "OPERATOR_SYNC_OFF")
    assert cli("operators", "enable", "OP-006") == 0
    assert cli("operators", "verify", "OP-006") == 0 and "1 ok, 0 with problems" in cli.out


def test_verify_unknown_id_is_refused(exchange_env, cli):
    assert cli("operators", "verify", "OP-404") == 2
    assert cli.err.startswith("OPERATOR_NOT_FOUND")
    assert exchange_env.store.scalar("SELECT count(*) FROM operator_checks") == 0


def test_python_api_progress_callback_and_bound(exchange_env):
    calls = []
    lock = threading.Lock()
    active = {"now": 0, "max": 0}
    conn = exchange_env.connect()
    real = conn.resolve_primary

    def counting(email):        # observe concurrency through the real connection
        with lock:
            active["now"] += 1
            active["max"] = max(active["max"], active["now"])
        try:
            return real(email)
        finally:
            with lock:
                active["now"] -= 1

    conn.resolve_primary = counting
    try:
        checks = verify_operators(exchange_env.store, progress=lambda d, t, c: calls.append((d, t, c)),
                                  backend=EwsBackend(conn), max_workers=2)
    finally:
        conn.close()
    assert [c.operator_id for c in checks] == sorted(EXPECTED)
    assert calls[0] == (0, 5, None)
    assert [d for d, _, _ in calls] == [0, 1, 2, 3, 4, 5] and all(t == 5 for _, t, _ in calls)
    assert {c.operator_id for _, _, c in calls[1:]} == set(EXPECTED)
    assert 1 <= active["max"] <= 2


def test_unreachable_endpoint_marks_every_operator_and_continues(exchange_env, cli):
    exchange_env.sandbox.stop()
    assert cli("operators", "verify", "OP-004", "OP-005", "--json") == 1
    checks = json.loads(cli.out)
    assert [c["status"] for c in checks] == ["unreachable", "unreachable"]
    assert "EWS_UNREACHABLE" in {c["code"] for c in checks}
    # exchangelib re-raises a concurrent request's connection failure as ErrorServerBusy("Reraised from ...");
    # that is a network failure, never throttling.
    assert {c["code"] for c in checks} <= {"EWS_UNREACHABLE", "EWS_TIMEOUT"}
    assert exchange_env.store.scalar("SELECT count(*) FROM operator_checks WHERE status = 'unreachable'") == 2
