"""`workbench contacts find` reads the sorted terms of `contact_search`: words at word starts, in order, the last
a prefix; a phone-shaped text matches on its digits anywhere; the terms follow an import, a sync's CRM writes
and migration 8; `contacts show` plans only the contact's operators."""
from __future__ import annotations

import csv
import json

import pytest

from workbench.cli import main
from workbench.contacts_import import COLUMNS
from workbench.store import Store, contact_search
from workbench.store.schema import MIGRATIONS

ROWS = [
    dict(contact_id="CRM-1", given_name="Jürgen", surname="Müller", email="j.mueller@globex.test",
         company="Müller & Söhne 7", business_phone="+49 30 4602037"),
    dict(contact_id="CRM-2", given_name="Chloé", surname="Sohnemann", email="chloe@initech.test",
         company="Söhne 70 GmbH", mobile_phone="030/555-0199"),
    dict(contact_id="CRM-3", given_name="Ana", surname="Lima", email="ana7@umbrella.test", company="7 Söhne"),
]


def write_csv(path, rows):
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, COLUMNS)
        w.writeheader()
        w.writerows({c: r.get(c, "false" if c == "private" else "") for c in COLUMNS} for r in rows)
    return path


def find(capsys, text: str, *extra: str) -> list[tuple[str, str]]:
    capsys.readouterr()
    assert main(["contacts", "find", text, "--json", *extra]) == 0
    return [(h["contact_id"], h["matched"]) for h in json.loads(capsys.readouterr().out)]


@pytest.fixture
def imported(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WORKBENCH_STORE", str(tmp_path / "workbench.duckdb"))
    assert main(["contacts", "import", str(write_csv(tmp_path / "c.csv", ROWS))]) == 0
    return tmp_path


def test_words_at_word_starts_in_order_accents_and_case_ignored(imported, capsys):
    assert find(capsys, "MULLER") == [("CRM-1", "name, company")]
    assert find(capsys, "jurgen muller") == [("CRM-1", "name")]
    assert find(capsys, "muller jurgen") == [("CRM-1", "name")]       # surname first
    assert find(capsys, "uller") == []                                  # not at a word start
    assert find(capsys, "sohne 7") == [("CRM-1", "company"), ("CRM-2", "company")]   # Müller, then Sohnemann
    assert find(capsys, "7 sohne") == [("CRM-3", "company")]            # the words in order
    assert find(capsys, "sohne") == [("CRM-3", "company"), ("CRM-1", "company"), ("CRM-2", "name, company")]
    assert find(capsys, "j.mueller@GLOBEX") == [("CRM-1", "e-mail")]
    assert find(capsys, "crm-2") == [("CRM-2", "crm id")]
    assert find(capsys, "sohne", "--limit", "1", "--offset", "1") == [("CRM-1", "company")]


def test_a_phone_shaped_text_matches_its_digits_anywhere(imported, capsys):
    assert find(capsys, "+49 (30) 460-2037") == [("CRM-1", "phone")]
    assert find(capsys, "4602037") == [("CRM-1", "phone")]              # inside the number
    assert find(capsys, "555 0199") == [("CRM-2", "phone")]
    assert find(capsys, "203") == []                                    # fewer than 4 digits
    assert find(capsys, "ana7") == [("CRM-3", "e-mail")]                # not phone-shaped: a word


def test_an_import_of_most_contacts_leaves_the_terms_sorted_and_no_backlog(imported, capsys):
    store = Store()
    with store.read() as con:
        assert contact_search.backlog(con) == (0, 0)              # the first import: built sorted
    assert store.scalar("SELECT count(*) FROM contact_search") > 0
    write_csv(imported / "all.csv", [{**r, "company": "Vandelay"} for r in ROWS[:2]])
    assert main(["contacts", "import", str(imported / "all.csv")]) == 0    # 2 of 3: rebuilt again
    with store.read() as con:
        assert contact_search.backlog(con) == (0, 0)
    assert find(capsys, "vandelay") == [("CRM-1", "company"), ("CRM-2", "company")]
    assert find(capsys, "sohne") == [("CRM-3", "company"), ("CRM-2", "name")]     # the old companies gone


def test_the_terms_follow_a_reimport_and_store_reindex_sorts_them_in(imported, capsys, monkeypatch):
    write_csv(imported / "c2.csv", [{**ROWS[0], "surname": "Schäfer", "company": "Globex"}])
    assert main(["contacts", "import", str(imported / "c2.csv")]) == 0
    assert find(capsys, "muller") == []
    assert find(capsys, "schafer") == [("CRM-1", "name")]
    assert find(capsys, "4602037") == [("CRM-1", "phone")]
    store = Store()
    assert ("CRM-1",) in store.rows("SELECT contact_id FROM contact_search_stale")
    recent = store.scalar("SELECT count(*) FROM contact_search_recent")
    stale = store.scalar("SELECT count(*) FROM contact_search_stale")          # CRM-1, re-imported alone
    monkeypatch.setattr(contact_search, "REINDEX_AT", recent - 1)
    capsys.readouterr()
    assert main(["store", "check"]) == 0
    assert f"! search index: {recent} terms of {stale} contacts refreshed since the last build (every search reads them): " \
           "workbench store reindex" in capsys.readouterr().out
    assert main(["store", "reindex"]) == 0          # all contacts: rebuilt sorted, the recent rows folded in
    assert f"({recent} recent terms and {stale} stale contacts folded in)" in capsys.readouterr().out
    assert main(["store", "check"]) == 0
    assert "✓ search index: 0 terms of 0 contacts refreshed since the last build" in capsys.readouterr().out
    assert store.scalar("SELECT count(*) FROM contact_search_recent") == 0
    assert store.scalar("SELECT count(*) FROM contact_search_stale") == 0
    assert find(capsys, "muller") == []
    assert find(capsys, "schafer") == [("CRM-1", "name")]
    assert find(capsys, "sohne") == [("CRM-3", "company"), ("CRM-2", "name, company")]


def test_migration_8_builds_the_terms_of_an_older_store(imported, capsys):
    store = Store()
    with store.write() as con:                     # back to version 7: the old one-row-per-contact table
        con.execute("DROP TABLE contact_search; DROP TABLE contact_search_recent; DROP TABLE contact_search_stale; "
                    "CREATE TABLE contact_search (contact_id VARCHAR PRIMARY KEY, hay VARCHAR NOT NULL); "
                    "ALTER TABLE sync_runs DROP COLUMN backends; DELETE FROM schema_version WHERE version >= 8")
    assert find(capsys, "jurgen") == [("CRM-1", "name")]
    assert Store().scalar("SELECT max(version) FROM schema_version") == len(MIGRATIONS)


def test_the_sync_writes_refresh_the_terms(exchange_env, capsys):
    from tests.sync.edits import edit
    from tests.sync.conftest import mailbox_of
    from workbench.sync.engine import run_sync
    store = exchange_env.store
    run_sync(store)
    op, cid = store.rows("SELECT operator_id, contact_id FROM links ORDER BY operator_id, contact_id LIMIT 1")[0]
    edit(exchange_env, mailbox_of(store, op), cid, surname="Quetzalcoatl-Ölmühle")
    run_sync(store, [op])
    assert store.scalar("SELECT surname FROM contacts WHERE contact_id = ?", [cid]) == "Quetzalcoatl-Ölmühle"
    assert find(capsys, "quetzalcoatl olmuhle") == [(cid, "name")]


def test_show_plans_only_the_contacts_operators(exchange_env, capsys, monkeypatch):
    from workbench.sync import plan as plan_module
    from workbench.sync.engine import run_sync
    store = exchange_env.store
    run_sync(store)
    cid, = store.rows("SELECT contact_id FROM contact_team GROUP BY contact_id "
                      "HAVING count(*) < (SELECT count(*) FROM operators) ORDER BY contact_id LIMIT 1")[0]
    mine = {r[0] for r in store.rows("SELECT operator_id FROM contact_team WHERE contact_id = ? UNION "
                                     "SELECT operator_id FROM links WHERE contact_id = ?", [cid, cid])}
    full = plan_module.plan_store(store)
    expected = full.actions[full.actions["contact_id"] == cid][["operator_id", "action"]].values.tolist()
    planned = []
    real = plan_module.plan_store

    def counting(store, settings=None, operators=None):
        planned.append(operators)
        return real(store, settings, operators)
    monkeypatch.setattr(plan_module, "plan_store", counting)
    capsys.readouterr()
    assert main(["contacts", "show", cid, "--json"]) == 0
    story = json.loads(capsys.readouterr().out)
    assert len(planned) == 1 and set(planned[0]) == mine
    assert len(mine) < store.scalar("SELECT count(*) FROM operators")
    assert [[a["operator_id"], a["action"]] for a in story["next_actions"]] == expected
