"""Numbered schema migrations and the version table."""
from __future__ import annotations

from datetime import datetime, timezone

import duckdb

from workbench.errors import WorkbenchError
from workbench.fields import CONTACT_FIELDS, hash_sql
from workbench.store import contact_search

# the content hash SQL computed up to migration 3: trim() strips spaces only, Python's strip() all whitespace
_TRIM_HASH = "md5(concat_ws(chr(31), " + ", ".join(f"coalesce(trim(c.{f}), '')" for f in CONTACT_FIELDS) + "))"


def _rehash_links() -> str:
    """Links whose stored hash is the old SQL hash of a contact unchanged since take its new hash (one
    normaliser for Python and SQL; see workbench/fields.py). A contact edited since keeps its stored hash,
    so the edit is still seen."""
    return "\n".join(
        f"UPDATE links SET {col} = {hash_sql('c')} FROM contacts c WHERE c.contact_id = links.contact_id "
        f"AND links.{col} = {_TRIM_HASH} AND {_TRIM_HASH} <> {hash_sql('c')};"
        for col in ("crm_hash", "exchange_hash"))


MIGRATIONS: list[str] = [
    # 1: every table of DESIGN.md "The store"
    """
    CREATE TABLE settings (
        key VARCHAR PRIMARY KEY,
        value VARCHAR NOT NULL,
        updated_at TIMESTAMP NOT NULL
    );
    CREATE SEQUENCE settings_changes_seq;
    CREATE TABLE settings_changes (
        change_id BIGINT PRIMARY KEY DEFAULT nextval('settings_changes_seq'),
        changed_at TIMESTAMP NOT NULL,
        key VARCHAR NOT NULL,
        old_value VARCHAR,
        new_value VARCHAR NOT NULL,
        source VARCHAR NOT NULL
    );
    CREATE TABLE operators (
        operator_id VARCHAR PRIMARY KEY,
        name VARCHAR NOT NULL,
        email VARCHAR NOT NULL,
        contact_sync BOOLEAN NOT NULL DEFAULT false,
        updated_at TIMESTAMP NOT NULL,
        source VARCHAR NOT NULL
    );
    CREATE SEQUENCE operator_checks_seq;
    CREATE TABLE operator_checks (
        check_id BIGINT PRIMARY KEY DEFAULT nextval('operator_checks_seq'),
        operator_id VARCHAR NOT NULL,
        checked_at TIMESTAMP NOT NULL,
        status VARCHAR NOT NULL,          -- ok, mailbox-not-found, email-mismatch, impersonation-denied, unreachable, ...
        code VARCHAR,                     -- failure catalogue code, NULL when ok
        mailbox_address VARCHAR,          -- primary SMTP address Exchange reported
        detail VARCHAR
    );
    CREATE TABLE contacts (
        contact_id VARCHAR PRIMARY KEY,
        given_name VARCHAR,
        surname VARCHAR,
        email VARCHAR,
        business_phone VARCHAR,
        mobile_phone VARCHAR,
        home_phone VARCHAR,
        company VARCHAR,
        job_title VARCHAR,
        street VARCHAR,
        city VARCHAR,
        state VARCHAR,
        postal_code VARCHAR,
        country VARCHAR,
        private BOOLEAN NOT NULL DEFAULT false,
        updated_at TIMESTAMP NOT NULL,
        deleted_at TIMESTAMP
    );
    CREATE TABLE contact_team (
        contact_id VARCHAR NOT NULL,
        operator_id VARCHAR NOT NULL,
        added_at TIMESTAMP NOT NULL,
        PRIMARY KEY (contact_id, operator_id)
    );
    CREATE TABLE exchange_contacts (
        operator_id VARCHAR NOT NULL,
        item_id VARCHAR NOT NULL,
        change_key VARCHAR NOT NULL,
        crm_id VARCHAR,
        categories VARCHAR[] NOT NULL DEFAULT [],
        private BOOLEAN NOT NULL DEFAULT false,
        given_name VARCHAR,
        surname VARCHAR,
        email VARCHAR,
        business_phone VARCHAR,
        mobile_phone VARCHAR,
        home_phone VARCHAR,
        company VARCHAR,
        job_title VARCHAR,
        street VARCHAR,
        city VARCHAR,
        state VARCHAR,
        postal_code VARCHAR,
        country VARCHAR,
        hash VARCHAR NOT NULL,
        seen_at TIMESTAMP NOT NULL,
        PRIMARY KEY (operator_id, item_id)
    );
    CREATE TABLE links (
        operator_id VARCHAR NOT NULL,
        contact_id VARCHAR NOT NULL,
        item_id VARCHAR NOT NULL,
        change_key VARCHAR,
        crm_hash VARCHAR NOT NULL,
        exchange_hash VARCHAR NOT NULL,
        synced_at TIMESTAMP NOT NULL,
        PRIMARY KEY (operator_id, contact_id)
    );
    CREATE TABLE mailbox_state (
        operator_id VARCHAR PRIMARY KEY,
        mailbox_address VARCHAR,
        sync_state VARCHAR,
        subscription_id VARCHAR,
        watermark VARCHAR,
        subscribed_at TIMESTAMP,
        last_notification_at TIMESTAMP,
        last_sync_at TIMESTAMP,
        last_success_at TIMESTAMP,
        failure_streak INTEGER NOT NULL DEFAULT 0,
        last_error_code VARCHAR,
        next_slot_at TIMESTAMP
    );
    CREATE SEQUENCE sync_runs_seq;
    CREATE TABLE sync_runs (
        run_id BIGINT PRIMARY KEY DEFAULT nextval('sync_runs_seq'),
        started_at TIMESTAMP NOT NULL,
        finished_at TIMESTAMP,
        trigger VARCHAR NOT NULL,         -- cli, dashboard, notebook, slot, notification
        dry_run BOOLEAN NOT NULL DEFAULT false,
        status VARCHAR NOT NULL,          -- running, ok, partial, failed, cancelled
        operators INTEGER NOT NULL DEFAULT 0,
        planned INTEGER NOT NULL DEFAULT 0,
        done INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        requests INTEGER NOT NULL DEFAULT 0,
        retries INTEGER NOT NULL DEFAULT 0
    );
    CREATE SEQUENCE sync_log_seq;
    CREATE TABLE sync_log (
        log_id BIGINT PRIMARY KEY DEFAULT nextval('sync_log_seq'),
        run_id BIGINT,
        logged_at TIMESTAMP NOT NULL,
        operator_id VARCHAR,
        contact_id VARCHAR,
        item_id VARCHAR,
        action VARCHAR NOT NULL,          -- create-exchange, update-crm, conflict, skip, batch, retry, ...
        outcome VARCHAR NOT NULL,         -- planned, ok, failed, skipped, retried, cancelled
        code VARCHAR,                     -- failure catalogue code
        detail VARCHAR,
        batch_no INTEGER,
        items INTEGER,
        seconds DOUBLE
    );
    CREATE SEQUENCE notifications_seq;
    CREATE TABLE notifications (
        notification_id BIGINT PRIMARY KEY DEFAULT nextval('notifications_seq'),
        sent_at TIMESTAMP NOT NULL,
        run_id BIGINT,
        operator_id VARCHAR,
        recipients VARCHAR NOT NULL,
        subject VARCHAR NOT NULL,
        code VARCHAR,
        body VARCHAR NOT NULL,
        status VARCHAR NOT NULL           -- sent, failed
    );
    CREATE INDEX contact_team_operator ON contact_team (operator_id);
    CREATE INDEX sync_log_run ON sync_log (run_id);
    """,
    # 2: the agent's sync request queue (CLI/TUI/notebook changes ask for a sync of the operators they touch)
    #    and the push subscription's callback URL and frequency (a changed setting re-creates it)
    """
    CREATE SEQUENCE sync_requests_seq;
    CREATE TABLE sync_requests (
        request_id BIGINT PRIMARY KEY DEFAULT nextval('sync_requests_seq'),
        requested_at TIMESTAMP NOT NULL,
        operator_id VARCHAR,              -- NULL = every enabled operator
        reason VARCHAR NOT NULL,
        source VARCHAR NOT NULL,          -- cli, dashboard, notebook, agent
        picked_at TIMESTAMP,              -- the agent took it
        done_at TIMESTAMP,
        outcome VARCHAR                   -- ok, failed, skipped, coalesced
    );
    ALTER TABLE mailbox_state ADD COLUMN subscription_url VARCHAR;
    ALTER TABLE mailbox_state ADD COLUMN subscription_frequency INTEGER;
    """,
    # 3: `workbench check` results (one run, one row per step) for "last check result"
    """
    CREATE SEQUENCE check_runs_seq;
    CREATE TABLE check_runs (
        run_id BIGINT PRIMARY KEY DEFAULT nextval('check_runs_seq'),
        started_at TIMESTAMP NOT NULL,
        finished_at TIMESTAMP NOT NULL,
        ok BOOLEAN NOT NULL,
        operator_id VARCHAR,              -- the operator whose mailbox was impersonated
        exchange_url VARCHAR,
        source VARCHAR NOT NULL           -- cli, dashboard, notebook, agent
    );
    CREATE TABLE check_steps (
        run_id BIGINT NOT NULL,
        step_no INTEGER NOT NULL,
        step VARCHAR NOT NULL,            -- settings, endpoint, keystore, tls, credentials, version, impersonation, listener
        status VARCHAR NOT NULL,          -- ok, warning, failed, skipped
        code VARCHAR,                     -- failure catalogue code (failed or warning)
        detail VARCHAR,
        checked_at TIMESTAMP NOT NULL,
        seconds DOUBLE,
        PRIMARY KEY (run_id, step_no)
    );
    """,
    # 4: one content-hash normaliser (workbench/fields.py): re-hash links stored with the trim()-only SQL hash
    _rehash_links(),
    # 5: who runs a sync (host, pid, process start), so a run whose process died is marked `died`
    """
    ALTER TABLE sync_runs ADD COLUMN host VARCHAR;
    ALTER TABLE sync_runs ADD COLUMN pid INTEGER;
    ALTER TABLE sync_runs ADD COLUMN proc_start VARCHAR;
    """,
    # 6: what each run changed per contact, with values (contact history) and the delete ledger (sync undo);
    #    it also built the first contact_search (folded text per contact), which migration 8 replaces
    """
    CREATE TABLE contact_changes (
        run_id BIGINT,
        logged_at TIMESTAMP NOT NULL,
        operator_id VARCHAR NOT NULL,
        contact_id VARCHAR,
        item_id VARCHAR,
        action VARCHAR NOT NULL,          -- create-exchange, update-exchange, create-crm, update-crm
        field VARCHAR NOT NULL,
        crm_value VARCHAR,
        exchange_value VARCHAR,
        before VARCHAR,
        after VARCHAR,
        winner VARCHAR,                   -- crm, exchange (a conflict: conflict_policy decided)
        conflict BOOLEAN NOT NULL DEFAULT false
    );
    CREATE INDEX contact_changes_contact ON contact_changes (contact_id);
    CREATE SEQUENCE delete_ledger_seq;
    CREATE TABLE delete_ledger (
        ledger_id BIGINT PRIMARY KEY DEFAULT nextval('delete_ledger_seq'),
        run_id BIGINT NOT NULL,
        deleted_at TIMESTAMP NOT NULL,
        operator_id VARCHAR NOT NULL,
        contact_id VARCHAR NOT NULL,
        item_id VARCHAR,                  -- the item's id before the delete (a move gives it a new one)
        action VARCHAR NOT NULL,          -- delete-exchange, unlink-crm
        reason VARCHAR,
        went_to VARCHAR,                  -- deleted-items, recoverable-items, hard; NULL: deleted in Exchange by a user
        categories VARCHAR[],
        private BOOLEAN NOT NULL DEFAULT false,
        given_name VARCHAR, surname VARCHAR, email VARCHAR, business_phone VARCHAR, mobile_phone VARCHAR,
        home_phone VARCHAR, company VARCHAR, job_title VARCHAR, street VARCHAR, city VARCHAR, state VARCHAR,
        postal_code VARCHAR, country VARCHAR,
        restored_at TIMESTAMP,
        restore_run_id BIGINT,
        restored_item_id VARCHAR,
        restored_how VARCHAR              -- moved-from-deleted-items, moved-from-recoverable-items, recreated, in-contacts
    );
    CREATE INDEX delete_ledger_run ON delete_ledger (run_id);
    """,
    # 7: the backend serving an operator's mailbox when it is not the organisation's `backend` setting (hybrid,
    # issue 14); no row = the setting
    """
    CREATE TABLE operator_backends (
        operator_id VARCHAR PRIMARY KEY,
        backend VARCHAR NOT NULL,         -- ews, graph
        updated_at TIMESTAMP NOT NULL,
        source VARCHAR NOT NULL
    );
    """,
    # 8: contact_search as sorted search terms (contacts find reads one range; issue 17)
    contact_search.build_sql(),
    # 9: the backends a run reached its mailboxes through ("ews", "graph", "ews+graph"; NULL: before 9; issue 14)
    "ALTER TABLE sync_runs ADD COLUMN backends VARCHAR;",
]


def now() -> datetime:
    """UTC now without tzinfo: the store keeps naive UTC timestamps."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMP NOT NULL)")
    row = con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    return int(row[0])


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Apply every migration not yet applied, each in the caller's transaction."""
    version = current_version(con)
    if version > len(MIGRATIONS):
        raise WorkbenchError("STORE_UNREADABLE", f"schema version {version} is newer than this workbench ({len(MIGRATIONS)})")
    for number, sql in enumerate(MIGRATIONS[version:], start=version + 1):
        con.execute(sql)
        con.execute("INSERT INTO schema_version VALUES (?, ?)", [number, now()])
    return len(MIGRATIONS)
