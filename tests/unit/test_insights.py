"""workbench.insights: the notebooks' (and dashboard's) queries, on a store filled directly."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta

import pandas as pd
import pytest

from workbench import insights
from workbench.errors import CATALOGUE, WorkbenchError
from workbench.operators.csv_import import import_operators
from workbench.store import Store

T0 = datetime(2024, 5, 6, 9, 0, 0)


def _t(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    with store.write() as con:
        con.executemany(
            "INSERT INTO operators VALUES (?, ?, ?, ?, ?, 'test')",
            [("OP-1", "Ann Alias", "ann.old@example.com", True, T0),
             ("OP-2", "Bo Gone", "bo@example.com", True, T0),
             ("OP-3", "Cy Denied", "cy@example.com", True, T0),
             ("OP-4", "Di Fine", "di@example.com", True, T0),
             ("OP-5", "=Eve Off", "eve@example.com", False, T0),     # formula-looking name survives the CSV
             ("OP-6", "Fay Fresh", "fay@example.com", False, T0),   # never verified
             ("OP-7", "Gil Fixed", "gil@example.com", True, T0)])    # failed once, then ok
        con.executemany(
            "INSERT INTO operator_checks (operator_id, checked_at, status, code, mailbox_address, detail) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [("OP-1", _t(1), "email-mismatch", "EWS_EMAIL_MISMATCH", "ann@example.com", "alias"),
             ("OP-2", _t(1), "mailbox-not-found", "EWS_MAILBOX_NOT_FOUND", None, "no such mailbox"),
             ("OP-3", _t(1), "impersonation-denied", "EWS_IMPERSONATION_DENIED", "cy@example.com", "denied"),
             ("OP-4", _t(1), "ok", None, "DI@example.com", None),
             ("OP-5", _t(1), "sync-off", "OPERATOR_SYNC_OFF", "eve@example.com", "contact sync is off"),
             ("OP-7", _t(1), "unreachable", "EWS_UNREACHABLE", None, "timeout"),
             ("OP-7", _t(2), "ok", None, "gil@example.com", None)])
        # three real runs and one dry run
        con.executemany(
            "INSERT INTO sync_runs (run_id, started_at, finished_at, trigger, dry_run, status, operators, planned, "
            "done, failed, requests, retries) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(1, _t(0), _t(2), "cli", False, "ok", 2, 10, 10, 0, 3, 0),
             (2, _t(30), _t(31), "slot", False, "partial", 2, 8, 6, 2, 4, 3),
             (3, _t(75), _t(80), "slot", False, "cancelled", 1, 5, 0, 5, 9, 6),
             (4, _t(76), _t(76), "notebook", True, "ok", 1, 5, 0, 0, 0, 0)])
        log = [
            # run 1: two batches
            (1, _t(1), "OP-4", None, "batch", "ok", None, 1, 6, 2.0),
            (1, _t(1.5), "OP-7", None, "batch", "ok", None, 1, 4, 0.5),
            (1, _t(1.6), "OP-4", "C1", "create-exchange", "ok", None, None, None, None),
            # run 2: throttled twice, one 5xx retry, two failed items
            (2, _t(30.1), "OP-4", None, "retry", "retried", "EWS_THROTTLED", None, None, 2.0),
            (2, _t(30.2), "OP-4", None, "retry", "retried", "EWS_THROTTLED", None, None, 4.0),
            (2, _t(30.3), "OP-7", None, "retry", "retried", "EWS_SERVER_ERROR", None, None, 1.0),
            (2, _t(30.5), "OP-4", None, "batch", "ok", None, 1, 6, 3.0),
            (2, _t(30.6), "OP-7", "C2", "update-exchange", "failed", "EWS_ITEM_REJECTED", None, None, None),
            (2, _t(30.7), "OP-7", "C3", "update-crm", "failed", "CRM_VALIDATION", None, None, None),
            # run 3: throttled until the deadline, cancelled
            (3, _t(76), "OP-4", None, "retry", "retried", "EWS_THROTTLED", None, None, 8.0),
            (3, _t(80), "OP-4", None, "cancel", "cancelled", "SYNC_DEADLINE", None, None, None),
            # dry run: a planned entry, not a failure
            (4, _t(76), "OP-4", "C9", "create-exchange", "planned", None, None, None, None),
        ]
        con.executemany(
            "INSERT INTO sync_log (run_id, logged_at, operator_id, contact_id, action, outcome, code, batch_no, "
            "items, seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", log)
        con.execute("INSERT INTO notifications (sent_at, run_id, operator_id, recipients, subject, code, body, status) "
                    "VALUES (?, 3, 'OP-4', 'ops@example.com', 'sync cancelled', 'SYNC_DEADLINE', 'b', 'sent')",
                    [_t(80)])
        con.executemany(
            "INSERT INTO mailbox_state (operator_id, mailbox_address, last_sync_at, last_success_at, failure_streak, "
            "last_error_code, subscription_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [("OP-4", "di@example.com", _t(80), _t(2), 2, "SYNC_DEADLINE", "sub-1"),
             ("OP-7", "gil@example.com", _t(31), _t(31), 0, None, None)])
    return store


# --- operators --------------------------------------------------------------------

def test_audit_classifies_every_operator_and_explains_failures(store):
    audit = insights.operator_audit(store).set_index("operator_id")
    assert audit.loc[["OP-1", "OP-2", "OP-3"], "verification"].tolist() == ["failing"] * 3
    assert audit.loc[["OP-4", "OP-5", "OP-7"], "verification"].tolist() == ["verified"] * 3   # OP-7: latest wins
    assert audit.loc["OP-6", "verification"] == "unverified"
    assert audit.loc["OP-5", "verify_status"] == "sync-off"                   # mailbox fine, flag off
    assert audit.loc["OP-2", "title"] == CATALOGUE["EWS_MAILBOX_NOT_FOUND"].title
    assert audit.loc["OP-3", "remedy"] == CATALOGUE["EWS_IMPERSONATION_DENIED"].remedy
    assert audit.loc["OP-7", "checks"] == 2 and audit.loc["OP-7", "failed_checks"] == 1
    assert audit.loc["OP-4", "failure_streak"] == 2


def test_audit_counts(store):
    counts = insights.audit_counts(store)
    assert counts == {"operators": 7, "enabled": 5, "disabled": 2, "verified": 3, "enabled_verified": 2,
                      "failing": 3, "enabled_failing": 3, "unverified": 1, "enabled_unverified": 0,
                      "email_differs": 1}


def test_failing_operators_lists_the_seeded_problems_with_their_codes(store):
    failing = insights.failing_operators(store)
    assert dict(zip(failing["operator_id"], failing["verify_code"])) == {
        "OP-1": "EWS_EMAIL_MISMATCH", "OP-2": "EWS_MAILBOX_NOT_FOUND", "OP-3": "EWS_IMPERSONATION_DENIED"}
    assert failing["remedy"].notna().all()


def test_email_mismatch_is_case_insensitive_and_needs_a_reported_mailbox(store):
    mism = insights.email_mismatches(store)
    assert mism["operator_id"].tolist() == ["OP-1"]          # OP-4's DI@ differs only in case; OP-2 has none
    assert mism.loc[0, "mailbox_address"] == "ann@example.com"


def test_cohort_filters_and_refuses_unknown_ids_and_states(store):
    assert insights.cohort(store, enabled=False, verification="verified")["operator_id"].tolist() == ["OP-5"]
    assert insights.cohort(store, enabled=False, verification=["verified", "unverified"])["operator_id"].tolist() \
        == ["OP-5", "OP-6"]
    assert insights.cohort(store, ids=["OP-3", "OP-4"], verification="verified")["operator_id"].tolist() == ["OP-4"]
    with pytest.raises(WorkbenchError) as exc:
        insights.cohort(store, ids=["OP-404"])
    assert exc.value.code == "OPERATOR_NOT_FOUND"
    with pytest.raises(WorkbenchError) as exc:
        insights.cohort(store, verification="green")
    assert exc.value.code == "USAGE"


def test_cohort_csv_is_a_valid_bulk_enable_file_whose_dry_run_writes_nothing(store, tmp_path):
    path = insights.cohort_csv(store, tmp_path / "enable.csv", enabled=False,
                               verification=["verified", "unverified"])
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == "operator_id,name,email,contact_sync"
    assert "'=Eve Off" in text                                  # neutralised for spreadsheets
    review = import_operators(store, path, dry_run=True)
    assert review.ok and not review.written
    assert (review.processed, review.updated, review.added) == (2, 2, 0)
    changes = review.changes_df().set_index("operator_id")
    assert set(changes.index) == {"OP-5", "OP-6"} and "name" not in changes.loc["OP-5", "changes"]
    assert store.scalar("SELECT count(*) FROM operators WHERE contact_sync") == 5    # dry run: unchanged
    review = import_operators(store, path)
    assert review.written
    assert store.scalar("SELECT name FROM operators WHERE operator_id = 'OP-5'") == "=Eve Off"
    assert insights.cohort(store, enabled=False).empty


def test_enable_cohort_dry_runs_by_default_and_an_empty_cohort_is_an_empty_review(store, tmp_path):
    review = insights.enable_cohort(store, tmp_path / "a.csv", enabled=False, verification="verified")
    assert review.dry_run and not review.written and review.changes_df()["operator_id"].tolist() == ["OP-5"]
    assert store.scalar("SELECT contact_sync FROM operators WHERE operator_id = 'OP-5'") is False
    empty = insights.enable_cohort(store, tmp_path / "b.csv", enabled=False, verification="failing")
    assert (empty.processed, empty.written, empty.changes_df().empty) == (0, False, True)
    assert empty.outcome() == "dry run: nothing written"
    assert (tmp_path / "b.csv").read_text() == "operator_id,name,email,contact_sync\n"
    applied = insights.enable_cohort(store, tmp_path / "c.csv", dry_run=False, ids=["OP-6"])
    assert applied.written and store.scalar("SELECT contact_sync FROM operators WHERE operator_id = 'OP-6'")


# --- journal ----------------------------------------------------------------------

def test_runs_over_time_buckets_real_runs(store):
    hourly = insights.runs_over_time(store, every="1 hour")
    assert hourly["runs"].tolist() == [2, 1]                 # 9:00 and 9:30 in the first hour; 10:15 next
    assert hourly[["ok", "partial", "cancelled"]].iloc[0].tolist() == [1, 1, 0]
    assert hourly["cancelled"].iloc[1] == 1
    assert hourly.index[1] == pd.Timestamp("2024-05-06 10:00")
    assert insights.runs_over_time(store, every="1 day", include_dry_runs=True)["runs"].tolist() == [4]
    with pytest.raises(WorkbenchError):
        insights.runs_over_time(store, every="1 hour; DROP TABLE sync_runs")


def test_runs_lists_durations_and_failure_emails(store):
    runs = insights.runs(store).set_index("run_id")
    assert runs.loc[3, "seconds"] == 300 and runs.loc[3, "failure_emails"] == 1
    assert insights.runs(store, include_dry_runs=False).index.size == 3


def test_failures_by_code_counts_failed_and_cancelled_with_catalogue_text(store):
    by_code = insights.failures_by_code(store).set_index("code")
    assert by_code["failures"].to_dict() == {"CRM_VALIDATION": 1, "EWS_ITEM_REJECTED": 1, "SYNC_DEADLINE": 1}
    assert by_code.loc["SYNC_DEADLINE", "title"] == CATALOGUE["SYNC_DEADLINE"].title
    assert insights.failures_by_code(store, run_id=2)["failures"].sum() == 2
    assert insights.failures_by_code(store, since=_t(60))["code"].tolist() == ["SYNC_DEADLINE"]


def test_failures_by_operator_and_matrix(store):
    by_op = insights.failures_by_operator(store).set_index("operator_id")
    assert by_op.loc["OP-7", "failures"] == 2
    assert by_op.loc["OP-7", "codes"] == "CRM_VALIDATION, EWS_ITEM_REJECTED"
    assert by_op.loc["OP-4", "failure_streak"] == 2
    matrix = insights.failure_matrix(store)
    assert matrix.loc["OP-7", "CRM_VALIDATION"] == 1 and matrix.loc["OP-4", "CRM_VALIDATION"] == 0
    assert insights.failure_matrix(store, run_id=1).empty


def test_retries_and_throttling_per_run(store):
    per_run = insights.retries_and_throttling(store).set_index("run_id")
    assert list(per_run.index) == [1, 2, 3]                   # the dry run is not a run that retried
    assert per_run.loc[2, ["retry_entries", "throttled", "server_error", "backoff_seconds"]].tolist() == [3, 2, 1, 7.0]
    assert per_run.loc[3, ["throttled", "deadline_cancelled", "failure_emails"]].tolist() == [1, 1, 1]
    by_code = insights.retries_by_code(store)
    row = by_code[(by_code.code == "EWS_THROTTLED") & (by_code.operator_id == "OP-4")].iloc[0]
    assert row.retries == 3 and row.backoff_seconds == 14.0


def test_batch_throughput(store):
    batches = insights.batch_throughput(store)
    assert len(batches) == 3
    assert batches["items_per_second"].tolist() == [3.0, 8.0, 2.0]
    per_run = insights.throughput_by_run(store).set_index("run_id")
    assert per_run.loc[1, "items"] == 10 and per_run.loc[1, "items_per_second"] == pytest.approx(10 / 2.5)
    assert insights.batch_throughput(store, run_id=2)["items"].tolist() == [6]


def test_health_summary_and_mailboxes(store):
    assert insights.health_summary(store) == {
        "runs": 3, "runs_ok": 1, "runs_not_ok": 1, "runs_cancelled": 1, "run_retries": 9, "failures": 3, "retry_entries": 4,
        "throttled": 3, "batches": 3, "batch_items": 16, "items_per_second": round(16 / 5.5, 3),
        "failure_emails": 1}
    health = insights.mailbox_health(store)
    assert health["operator_id"].tolist() == ["OP-4", "OP-7"]
    assert health.loc[0, "title"] == CATALOGUE["SYNC_DEADLINE"].title and bool(health.loc[0, "subscribed"])
    assert insights.failure_emails(store)["code"].tolist() == ["SYNC_DEADLINE"]


def test_an_empty_store_gives_empty_frames_not_errors(tmp_path):
    store = Store(tmp_path / "empty.duckdb")
    for fn in (insights.operator_audit, insights.email_mismatches, insights.runs, insights.runs_over_time,
               insights.failures_by_code, insights.failures_by_operator, insights.failure_matrix,
               insights.retries_and_throttling, insights.retries_by_code, insights.batch_throughput,
               insights.throughput_by_run, insights.mailbox_health, insights.failure_emails):
        assert fn(store).empty, fn.__name__
    assert insights.health_summary(store)["runs"] == 0
    assert insights.audit_counts(store)["operators"] == 0


# --- helpers ----------------------------------------------------------------------

def test_frame_difference_shows_changed_added_and_removed_rows():
    before = pd.DataFrame({"contact_id": ["a", "b", "c"], "action": ["create", "update", "skip"]})
    after = pd.DataFrame({"contact_id": ["a", "b", "d"], "action": ["create", "conflict", "skip"]})
    diff = insights.frame_difference(before, after, key="contact_id", compare="action")
    assert diff.to_dict(orient="list") == {"contact_id": ["b", "c", "d"],
                                           "action_before": ["update", "skip", None],
                                           "action_after": ["conflict", None, "skip"]}


def test_open_store_reads_the_environment_and_refuses_a_missing_file(tmp_path, monkeypatch):
    monkeypatch.delenv("WORKBENCH_STORE", raising=False)
    with pytest.raises(WorkbenchError) as exc:
        insights.open_store()
    assert exc.value.code == "FILE_NOT_FOUND"
    monkeypatch.setenv("WORKBENCH_STORE", str(tmp_path / "nope.duckdb"))
    with pytest.raises(WorkbenchError):
        insights.open_store()
    assert not (tmp_path / "nope.duckdb").exists()           # no empty store was created
    Store(tmp_path / "real.duckdb").scalar("SELECT 1")
    monkeypatch.setenv("WORKBENCH_STORE", str(tmp_path / "real.duckdb"))
    assert insights.open_store().path == tmp_path / "real.duckdb"


def test_insights_imports_neither_textual_nor_exchangelib():
    code = ("import sys, json, workbench.insights, workbench.readmodels.overview, workbench.readmodels.settings; "
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'exchangelib', 'jks'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []


def test_a_batch_row_with_failed_items_is_not_itself_a_failure(store):
    with store.write() as con:
        con.execute("INSERT INTO sync_log (run_id, logged_at, operator_id, action, outcome, batch_no, items, seconds) "
                    "VALUES (2, ?, 'OP-7', 'batch', 'failed', 2, 2, 1.0)", [_t(30.8)])
    assert insights.failures_by_code(store, run_id=2)["failures"].sum() == 2
    assert insights.health_summary(store)["failures"] == 3


def test_run_journal_and_its_counts(store):
    journal = insights.run_journal(store, 2)
    assert journal["action"].tolist() == ["retry", "retry", "retry", "batch", "update-exchange", "update-crm"]
    assert insights.run_journal(store, 2, operator_id="OP-7")["contact_id"].dropna().tolist() == ["C2", "C3"]
    counts = insights.journal_counts(store, 2)
    assert counts.loc["retry", "retried"] == 3 and counts.loc["batch", "ok"] == 1 and counts.loc["batch", "failed"] == 0
    assert insights.journal_counts(store, 99).empty


# --- what-if over a conflict --------------------------------------------------------

@pytest.fixture
def conflict_store(tmp_path):
    """OP-1 has one linked contact edited on both sides since the last sync, and one Exchange-only edit."""
    from workbench.fields import content_hash
    store = Store(tmp_path / "c.duckdb")
    crm = {"given_name": "Ann", "surname": "Lee", "email": "ann@x.test", "job_title": "CFO"}
    ex = {**crm, "job_title": "Chief Financial Officer"}
    crm2 = {"given_name": "Bo", "surname": "Ng", "email": "bo@x.test", "job_title": "Buyer"}
    ex2 = {**crm2, "job_title": "Head Buyer"}
    with store.write() as con:
        con.execute("INSERT INTO operators VALUES ('OP-1', 'One', 'one@example.com', true, ?, 'test')", [T0])
        for cid, row in (("C1", crm), ("C2", crm2)):
            con.execute("INSERT INTO contacts (contact_id, given_name, surname, email, job_title, updated_at) "
                        "VALUES (?, ?, ?, ?, ?, ?)", [cid, row["given_name"], row["surname"], row["email"],
                                                      row["job_title"], T0])
            con.execute("INSERT INTO contact_team VALUES (?, 'OP-1', ?)", [cid, T0])
        for cid, item, row in (("C1", "I1", ex), ("C2", "I2", ex2)):
            con.execute("INSERT INTO exchange_contacts (operator_id, item_id, change_key, crm_id, categories, "
                        "given_name, surname, email, job_title, hash, seen_at) VALUES "
                        "('OP-1', ?, 'ck2', ?, ['PegaSASync'], ?, ?, ?, ?, ?, ?)",
                        [item, cid, row["given_name"], row["surname"], row["email"], row["job_title"],
                         content_hash(row), T0])
        # C1: both sides changed since the link; C2: only Exchange changed
        con.execute("INSERT INTO links VALUES ('OP-1', 'C1', 'I1', 'ck1', 'old-crm', 'old-ex', ?)", [T0])
        con.execute("INSERT INTO links VALUES ('OP-1', 'C2', 'I2', 'ck1', ?, 'old-ex', ?)", [content_hash(crm2), T0])
    return store


def test_what_if_replans_the_same_snapshot_under_other_settings(conflict_store):
    from workbench.sync.preview import preview
    base = preview(conflict_store, snapshot=False)
    assert base.plan.counts() == {"update-exchange": 1, "update-crm": 1}
    assert base.overwrites["contact_id"].tolist() == ["C1"]
    exchange_wins = insights.what_if(conflict_store, base, conflict_policy="exchange-wins")
    assert exchange_wins.plan.counts() == {"update-crm": 2}
    diff = insights.compare_previews(base, exchange_wins)
    assert diff[["contact_id", "action_before", "action_after"]].values.tolist() == [
        ["C1", "update-exchange", "update-crm"]]
    assert diff.loc[0, "winner_before"] == "crm" and diff.loc[0, "winner_after"] == "exchange"
    table = insights.summary_difference(base, exchange_wins)
    assert table.loc["update-exchange"].tolist() == [1, 0, -1] and table.loc["update-crm"].tolist() == [1, 2, 1]
    one_way = insights.what_if(conflict_store, base, sync_direction="crm-to-exchange")
    assert "update-crm" not in one_way.plan.counts()
    assert insights.compare_previews(base, one_way)["contact_id"].tolist() == ["C2"]   # C1 still goes to Exchange
    manual = insights.what_if(conflict_store, base, conflict_policy="manual")
    assert manual.plan.counts().get("conflict") == 1
    # the stored settings are untouched
    from workbench.store.settings_table import load
    assert load(conflict_store).conflict_policy == "crm-wins"


def test_what_if_refuses_unknown_or_invalid_overrides(conflict_store):
    from workbench.sync.preview import preview
    base = preview(conflict_store, snapshot=False)
    with pytest.raises(WorkbenchError) as exc:
        insights.what_if(conflict_store, base, batch_size=5)
    assert exc.value.code == "USAGE"
    with pytest.raises(WorkbenchError) as exc:
        insights.what_if(conflict_store, base, conflict_policy="newest-wins")
    assert exc.value.code == "SETTING_INVALID"


# --- one read model for the dashboard and the notebooks (issue 18) and cancel vs failure (issue 16) -----

def _person_cancels(store: Store) -> None:
    """Run 5: a person cancelled two mailboxes (plus a planned write each)."""
    with store.write() as con:
        con.execute("INSERT INTO sync_runs (run_id, started_at, finished_at, trigger, dry_run, status, operators, "
                    "planned, done, failed, requests, retries) VALUES (5, ?, ?, 'dashboard', false, 'cancelled', "
                    "2, 4, 0, 0, 2, 0)", [_t(90), _t(91)])
        con.executemany(
            "INSERT INTO sync_log (run_id, logged_at, operator_id, action, outcome, code, items) "
            "VALUES (5, ?, ?, ?, ?, ?, ?)",
            [(_t(90.5), "OP-4", "mailbox", "cancelled", "SYNC_CANCELLED", 2),
             (_t(90.6), "OP-7", "mailbox", "cancelled", "SYNC_CANCELLED", 2)])


def test_a_persons_cancel_is_not_a_failure_in_any_read_model(store):
    before = insights.failures_by_code(store)
    _person_cancels(store)
    after = insights.failures_by_code(store)
    assert "SYNC_CANCELLED" not in set(after["code"])
    assert after["failures"].sum() == before["failures"].sum() == 3
    summary = insights.health_summary(store)
    assert summary["failures"] == 3 and summary["runs_cancelled"] == 2 and summary["runs_not_ok"] == 1
    from workbench.readmodels.journal import JournalFilter, journal_source
    from workbench.readmodels.overview import overview
    failed_page = journal_source(JournalFilter(failed_only=True)).page(store, 0, 50)
    assert failed_page.total == 3 and all(row[8] != "SYNC_CANCELLED" for row in failed_page.rows)
    ov = overview(store, _t(100))
    assert ov.attention and all(a.code != "SYNC_CANCELLED" for a in ov.attention if a.where == "sync")
    assert ov.cancelled == 2


def test_a_legacy_deadline_cancel_still_counts_as_a_failure(store):
    codes = insights.failures_by_code(store).set_index("code")
    assert codes.loc["SYNC_DEADLINE", "failures"] == 1


def test_dashboard_and_notebook_agree_on_operator_states_and_failures(store):
    from workbench.readmodels.journal import JournalFilter, journal_source
    from workbench.readmodels.operators import OperatorFilter, operators_source
    from workbench.readmodels.overview import overview
    counts = insights.audit_counts(store)
    ov = overview(store, _t(100))
    assert (ov.operators_total, ov.operators_enabled, ov.operators_verified, ov.operators_failing,
            ov.operators_unverified) == (counts["operators"], counts["enabled"], counts["verified"],
                                         counts["failing"], counts["unverified"]) == (7, 5, 3, 3, 1)
    not_verified = operators_source(OperatorFilter(only_failing=True)).count(store)
    assert not_verified == counts["failing"] + counts["unverified"]
    assert (journal_source(JournalFilter(failed_only=True)).count(store)
            == int(insights.failures_by_code(store)["failures"].sum()))


def test_setting_choices_come_from_the_settings_rules():
    from workbench.readmodels.settings import setting_choices
    from workbench.settings import SETTINGS, RuleBroken
    choices = setting_choices()
    assert choices["slot_size_minutes"] == ("15", "30") and choices["contact_integration"] == ("true", "false")
    assert "batch_size" not in choices and "exchange_url" not in choices
    for key, options in choices.items():
        for option in options:
            SETTINGS[key].parse(option)                        # every offered choice is accepted
        with pytest.raises(RuleBroken):
            SETTINGS[key].parse("not-" + options[0])           # and the rule is closed


def test_health_charts_use_conventional_colours_and_buckets_from_the_span(store):
    from datetime import timedelta
    from workbench.readmodels.charts import bucket_for_span
    assert insights.colours(["ok", "failed", "cancelled"]) == ["tab:green", "tab:red", "tab:gray"]
    assert bucket_for_span(timedelta(minutes=20)) == "5 minutes"          # a short history is not one bar
    assert bucket_for_span(timedelta(hours=3)) == "15 minutes"
    assert bucket_for_span(timedelta(days=2)) == "6 hours"
    assert bucket_for_span(timedelta(days=60)) == "1 week"
    every = insights.bucket_for(store)                                      # runs 1-3 span 75 minutes
    assert every == "5 minutes" and len(insights.runs_over_time(store, every=every)) >= 2
    import matplotlib
    matplotlib.use("Agg")
    ax = insights.runs_over_time(store, every=every)[["ok", "cancelled"]].plot.bar(stacked=True)
    insights.integer_ticks(ax)
    ticks = [t for t in ax.get_yticks() if t >= 0]
    assert ticks and all(float(t).is_integer() for t in ticks)


def test_a_chart_of_zero_counts_has_whole_ticks_from_zero():
    import matplotlib
    matplotlib.use("Agg")
    import pandas as pd
    ax = pd.DataFrame({"throttled": [0, 0]}, index=[1, 2]).plot.bar()
    insights.integer_ticks(ax)
    assert ax.get_ylim() == (0, 1)
    assert all(float(t).is_integer() and t >= 0 for t in ax.get_yticks())


def test_audit_and_backend_counts_show_the_effective_backend(store):
    from workbench.operators.backend_choice import set_backend
    from workbench.store.settings_table import update
    assert insights.backend_counts(store).values.tolist() == [["ews", 7, 5, 0], ["graph", 0, 0, 0]]
    update(store, {"backend": "graph"}, source="test")
    set_backend(store, ["OP-1", "OP-5"], "ews", source="test")
    set_backend(store, ["OP-2"], "graph", source="test")
    audit = insights.operator_audit(store).set_index("operator_id")
    assert audit["backend"].to_dict() == {"OP-1": "ews", "OP-2": "graph", "OP-3": "graph", "OP-4": "graph",
                                          "OP-5": "ews", "OP-6": "graph", "OP-7": "graph"}
    counts = insights.backend_counts(store)
    assert counts.columns.tolist() == ["backend", "operators", "enabled", "pinned"]
    assert counts.values.tolist() == [["ews", 2, 1, 2], ["graph", 5, 4, 1]]
