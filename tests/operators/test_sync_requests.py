"""A change made through the workbench queues a sync of the operators it affects (sync_requests rows).

Driven through the CLI and the Python API the dashboard and notebooks call; the agent side (a request
makes the agent sync) is covered in tests/agent/test_agent_slots.py.
"""
from __future__ import annotations

import csv

from op_helpers import DATA, HEADER
from workbench.store.settings_table import update


def requests(store, since: int = 0) -> list[tuple]:
    """(operator_id, reason, source) of the queued requests after ``since``, in order."""
    return store.rows("SELECT operator_id, reason, source FROM sync_requests WHERE request_id > ? "
                      "ORDER BY request_id", [since])


def last_id(store) -> int:
    return store.scalar("SELECT coalesce(max(request_id), 0) FROM sync_requests")


def enabled(store) -> list[str]:
    return [r[0] for r in store.rows("SELECT operator_id FROM operators WHERE contact_sync ORDER BY 1")]


def test_operators_import_queues_the_added_enabled_operators(op_store, cli):
    assert cli("operators", "import", str(DATA / "operators.csv")) == 0
    got = requests(op_store)
    assert [r[0] for r in got] == enabled(op_store) and len(got) == 20       # every 6th is contact_sync false
    assert {(r[1], r[2]) for r in got} == {("operators import operators.csv", "csv:operators.csv")}


def test_operators_import_queues_contact_sync_and_email_changes_only(demo_store, cli, tmp_path):
    mark = last_id(demo_store)
    f = tmp_path / "changes.csv"
    f.write_text(HEADER
                 + "OP-004,Renamed Only,mei.demir4@example.com,true\n"          # name only: no sync needed
                 + "OP-005,Oluwaseun Adeyemi,new.address5@example.com,true\n"   # e-mail changed
                 + "OP-006,Someone,x6@example.com,true\n"                       # switched on (and e-mail)
                 + "OP-007,Someone,x7@example.com,false\n"                      # switched off
                 + "OP-099,Newcomer,op99@example.com,true\n"                    # added, enabled
                 + "OP-098,Newcomer,op98@example.com,false\n", encoding="utf-8")  # added, disabled
    before = {r[0]: r for r in demo_store.rows("SELECT operator_id, name, email, contact_sync FROM operators")}
    assert before["OP-004"][2] == "mei.demir4@example.com" and before["OP-006"][3] is False
    # a dry run and a refused import queue nothing
    assert cli("operators", "import", str(f), "--dry-run") == 0
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "OP-005,X,not-an-email,true\nOP-006,Y,y6@example.com,true\n", encoding="utf-8")
    assert cli("operators", "import", str(bad)) != 0
    assert requests(demo_store, mark) == []
    assert cli("operators", "import", str(f)) == 0, cli.out + cli.err
    got = requests(demo_store, mark)
    assert sorted(r[0] for r in got) == ["OP-005", "OP-006", "OP-007", "OP-099"]
    assert {r[2] for r in got} == {"csv:changes.csv"}
    # the same file again: nothing changes, nothing queued
    mark = last_id(demo_store)
    assert cli("operators", "import", str(f)) == 0
    assert requests(demo_store, mark) == []


def test_enable_and_disable_queue_the_switched_operators(demo_store, cli):
    mark = last_id(demo_store)
    assert cli("operators", "enable", "OP-006", "OP-012", "OP-004") == 0      # OP-004 is on already
    assert requests(demo_store, mark) == [("OP-006", "contact sync enabled", "cli"),
                                          ("OP-012", "contact sync enabled", "cli")]
    mark = last_id(demo_store)
    from workbench.operators.switches import set_contact_sync
    set_contact_sync(demo_store, ["OP-004"], False, source="dashboard")
    assert requests(demo_store, mark) == [("OP-004", "contact sync disabled", "dashboard")]
    # an unknown id writes nothing, the request included
    mark = last_id(demo_store)
    assert cli("operators", "enable", "OP-018", "OP-404") != 0
    assert requests(demo_store, mark) == []


def test_contacts_import_queues_the_enabled_operators_of_changed_contacts(demo_store, cli, tmp_path):
    mark = last_id(demo_store)
    assert cli("contacts", "import", str(DATA / "contacts.csv")) == 0
    got = requests(demo_store, mark)
    on_teams = {r[0] for r in demo_store.rows("SELECT DISTINCT operator_id FROM contact_team")}
    assert [r[0] for r in got] == sorted(on_teams & set(enabled(demo_store)))
    assert {(r[1], r[2]) for r in got} == {("contacts import contacts.csv", "cli")}
    # the same file again changes nothing and queues nothing
    mark = last_id(demo_store)
    assert cli("contacts", "import", str(DATA / "contacts.csv")) == 0
    assert requests(demo_store, mark) == []
    # one contact edited, one joining a disabled operator's team, one moved between teams: only those operators
    with open(DATA / "contacts.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    on = set(enabled(demo_store))
    single = [r for r in rows if ";" not in r["team"] and r["team"] in on]
    edited = single[0]
    joined = next(r for r in single if r["team"] != edited["team"])
    moved = next(r for r in single if r["team"] not in (edited["team"], joined["team"]))
    target = next(op for op in sorted(on) if op not in (edited["team"], joined["team"], moved["team"]))
    expected = sorted({edited["team"], moved["team"], target})
    edited = {**edited, "job_title": "Edited Title"}
    joined = {**joined, "team": joined["team"] + ";OP-006"}                # OP-006: contact_sync false
    moved = {**moved, "team": target}
    f = tmp_path / "edits.csv"
    with open(f, "w", newline="", encoding="utf-8") as fh:
        out = csv.DictWriter(fh, fieldnames=list(rows[0]))
        out.writeheader()
        out.writerows([edited, joined, moved])
    mark = last_id(demo_store)
    from workbench.contacts_import import import_contacts
    result = import_contacts(demo_store, f, source="notebook")
    assert result.operators == expected
    assert requests(demo_store, mark) == [(op, "contacts import edits.csv", "notebook") for op in expected]


def test_planning_settings_queue_every_enabled_operator(demo_store, cli):
    mark = last_id(demo_store)
    update(demo_store, {"batch_size": "50", "failure_recipients": "ops@example.com"}, source="dashboard")
    assert requests(demo_store, mark) == []                                 # not read by the planner
    assert cli("settings", "set", "conflict_policy=exchange-wins", "include_private=true") == 0, cli.err
    assert requests(demo_store, mark) == [(None, "settings changed: conflict_policy, include_private", "cli")]
    mark = last_id(demo_store)
    assert cli("settings", "set", "conflict_policy=exchange-wins") == 0    # unchanged value
    assert requests(demo_store, mark) == []
    for key, value in (("sync_direction", "crm-to-exchange"), ("sync_category", "CRM")):
        update(demo_store, {key: value}, source="notebook")
    assert requests(demo_store, mark) == [(None, "settings changed: sync_direction", "notebook"),
                                          (None, "settings changed: sync_category", "notebook")]
