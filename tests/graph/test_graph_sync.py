"""`workbench sync run` with backend=graph against the Graph sandbox (httpx over loopback TLS, msal tokens):
creates, updates and deletes contacts; store, journal and mailbox agree; a second run plans nothing."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

from tests.sync.conftest import CAT, mailbox_rows

from workbench.fields import CONTACT_FIELDS


def sync_run(*extra: str) -> tuple[int, dict, str]:
    proc = subprocess.run([sys.executable, "-m", "workbench", "sync", "run", "--json", "--no-progress", *extra],
                          env=os.environ.copy(), capture_output=True, text=True, timeout=300)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, (json.loads(proc.stdout) if proc.stdout.strip() else {}), proc.stderr


def graph_requests(sb) -> Counter:
    return Counter((r.method, r.batch) for r in sb.graph.requests)


def first_operator(store) -> tuple[str, str]:
    return tuple(store.rows("SELECT operator_id, email FROM operators WHERE contact_sync ORDER BY operator_id LIMIT 1")[0])


def agree(env, op: str, email: str) -> None:
    """Every live team contact of the operator is in the mailbox once, with its content and the category."""
    rows = {r["crm_id"]: r for r in mailbox_rows(env.sandbox, email) if r["crm_id"]}
    crm = env.store.df("SELECT c.* FROM contacts c JOIN contact_team t USING (contact_id) WHERE t.operator_id = ? "
                       "AND c.deleted_at IS NULL AND NOT c.private", [op])
    crm = crm.astype(object).where(crm.notna(), None).to_dict("records")
    assert crm, "the seed gives every operator contacts"
    for c in crm:
        item = rows[c["contact_id"]]
        assert {f: c[f] or None for f in CONTACT_FIELDS} == {f: item[f] or None for f in CONTACT_FIELDS}
        assert CAT in item["categories"]
    links = env.store.df("SELECT item_id, contact_id FROM links WHERE operator_id = ?", [op])
    assert set(links["contact_id"]) >= {c["contact_id"] for c in crm}
    snap = set(env.store.df("SELECT item_id FROM exchange_contacts WHERE operator_id = ?", [op])["item_id"])
    assert set(links["item_id"]) <= snap


def test_sync_run_over_graph_creates_updates_deletes(graph_env) -> None:
    env = graph_env
    op, email = first_operator(env.store)
    before = len(env.sandbox.mailbox(email).contacts)
    rc, out, err = sync_run("--operator", op)
    assert rc == 0, err
    assert out["mailboxes"][0]["status"] == "ok", out
    assert len(env.sandbox.mailbox(email).contacts) > before
    agree(env, op, email)
    kinds = graph_requests(env.sandbox)
    assert kinds[("POST", True)] > 0, "creates go through $batch"
    assert kinds[("POST", False)] > 0 and not kinds[("PATCH", False)], "no write outside $batch"
    assert not [r for r in env.sandbox.requests if r.mailbox], "no EWS request for a Graph organisation"
    # the CRM changes one contact and deletes another: one update and one delete in the mailbox
    cid, other = [r[0] for r in env.store.rows(
        "SELECT contact_id FROM contact_team WHERE operator_id = ? ORDER BY contact_id LIMIT 2", [op])]
    with env.store.write() as con:
        con.execute("UPDATE contacts SET job_title = 'Head of Graph', updated_at = now() WHERE contact_id = ?", [cid])
        con.execute("UPDATE contacts SET deleted_at = now(), updated_at = now() WHERE contact_id = ?", [other])
    rc, out, err = sync_run("--operator", op)
    assert rc == 0, err
    rows = {r["crm_id"]: r for r in mailbox_rows(env.sandbox, email)}
    assert rows[cid]["job_title"] == "Head of Graph"
    assert other not in rows
    assert any(d["extended_properties"].get("WorkbenchCrmContactId") == other
               for d in env.sandbox.mailbox(email).deleted_items), "deleted to Deleted Items (delete_to default)"
    agree(env, op, email)
    journal = env.store.df("SELECT action, outcome FROM sync_log WHERE run_id = ?", [out["run_id"]])
    assert {("update-exchange", "ok"), ("delete-exchange", "ok")} <= set(map(tuple, journal.values.tolist()))
    rc, out, err = sync_run("--operator", op)
    assert rc == 0 and out["planned"] == 0, out
    print(json.dumps(out)[:1500])


def test_sync_completes_under_throttling_and_the_next_plan_is_empty(graph_env) -> None:
    """30% of Graph requests (batch parts included) answered 429 with Retry-After: the run ends ok, without
    duplicates, and a second run plans nothing."""
    env = graph_env
    op, email = first_operator(env.store)
    env.sandbox.graph.faults.set(throttle_share=0.3, retry_after_s=1, seed=14)
    rc, out, err = sync_run("--operator", op)
    assert rc == 0 and out["mailboxes"][0]["status"] == "ok", (err, out)
    throttled = [r for r in env.sandbox.graph.requests if r.status == 429]
    assert throttled and any(r.batch for r in throttled), "parts inside $batch were throttled too"
    env.sandbox.graph.faults.clear()
    crm_ids = Counter(r["crm_id"] for r in mailbox_rows(env.sandbox, email) if r["crm_id"])
    assert crm_ids and max(crm_ids.values()) == 1, "no duplicate"
    agree(env, op, email)
    rc, out, err = sync_run("--operator", op)
    assert rc == 0 and out["planned"] == 0, out


def test_sync_completes_over_mailbox_concurrency_and_the_next_plan_is_empty(graph_env) -> None:
    """Another instance of the app holds 3 of the mailbox's 4 in-flight slots (MailboxConcurrency, 429 with
    Retry-After): the run waits its turn per request and ends ok, without duplicates; a second run plans nothing."""
    env = graph_env
    op, email = first_operator(env.store)
    env.sandbox.graph.throttle.configure(concurrency=1)        # what is left of the 4 for this instance
    env.sandbox.graph.faults.set(latency_ms=40)                # each request stays in flight a while
    try:
        rc, out, err = sync_run("--operator", op)
    finally:
        env.sandbox.graph.throttle.configure(concurrency=4)
        env.sandbox.graph.faults.clear()
    assert rc == 0 and out["mailboxes"][0]["status"] == "ok", (err, out)
    refused = [r for r in env.sandbox.graph.requests if r.status == 429 and r.code == "ApplicationThrottled"]
    assert refused, "the run's requests met the MailboxConcurrency limit"
    crm_ids = Counter(r["crm_id"] for r in mailbox_rows(env.sandbox, email) if r["crm_id"])
    assert crm_ids and max(crm_ids.values()) == 1, "no duplicate"
    agree(env, op, email)
    rc, out, err = sync_run("--operator", op)
    assert rc == 0 and out["planned"] == 0, out
