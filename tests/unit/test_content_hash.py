"""One normaliser for the content hash: Python (``content_hash``) and DuckDB (``hash_sql``) agree on any text,
and links stored with the old trim()-only SQL hash are re-hashed by migration 4."""
from __future__ import annotations

import sys

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.fields import CONTACT_FIELDS, WHITESPACE, content_hash, hash_sql, normalise, normalise_sql
from workbench.store import Store
from workbench.store.schema import MIGRATIONS

EDGY = " \t\n\r\x0b\x0c\u00a0\u2028\u2029\u3000\u200b\ufeff\x1f\x85éß漢😀a'\\%_"
values = st.one_of(st.none(), st.text(alphabet=EDGY, max_size=8), st.text(max_size=12),
                   st.builds(lambda a, b, c: a + b + c, st.text(alphabet=WHITESPACE, max_size=3),
                             st.text(max_size=6), st.text(alphabet=WHITESPACE, max_size=3)))
rows = st.fixed_dictionaries({f: values for f in CONTACT_FIELDS})


@pytest.fixture(scope="module")
def con():
    c = duckdb.connect()
    c.execute(f"CREATE TABLE r ({', '.join(f'{f} VARCHAR' for f in CONTACT_FIELDS)})")
    yield c
    c.close()


def sql_hash(con, row: dict) -> str:
    con.execute("DELETE FROM r")
    con.execute(f"INSERT INTO r VALUES ({', '.join('?' for _ in CONTACT_FIELDS)})", [row[f] for f in CONTACT_FIELDS])
    return con.execute(f"SELECT {hash_sql('x')} FROM r x").fetchone()[0]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(row=rows)
def test_python_and_sql_give_the_same_hash_for_any_text(con, row):
    assert content_hash(row) == sql_hash(con, row)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=values)
def test_python_and_sql_normalise_a_value_the_same(con, value):
    assert normalise(value) == con.execute(f"SELECT {normalise_sql('?')}", [value]).fetchone()[0]


def test_the_rule_strips_every_python_whitespace_and_nothing_inside():
    assert set(WHITESPACE) == {chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()}
    assert normalise(" Ann\n") == normalise("\u00a0Ann\u2028") == "Ann"
    assert normalise("Ann  Lee") == "Ann  Lee" and normalise("\u200bAnn") == "\u200bAnn"   # zero-width: not space
    assert normalise(None) == normalise(float("nan")) == normalise(" \r\n") == ""


def test_a_trailing_newline_hashes_like_none_and_like_the_plain_value(con):
    blank = dict.fromkeys(CONTACT_FIELDS)
    assert sql_hash(con, {**blank, "company": "Acme\n"}) == content_hash({**blank, "company": "Acme"})
    assert sql_hash(con, {**blank, "company": "\t\n"}) == content_hash(blank)


def _store_at_version_3(path) -> None:
    c = duckdb.connect(str(path))
    c.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMP NOT NULL)")
    for number, sql in enumerate(MIGRATIONS[:3], start=1):
        c.execute(sql)
        c.execute("INSERT INTO schema_version VALUES (?, now())", [number])
    c.close()


def test_migration_4_rehashes_links_of_unchanged_contacts_only(tmp_path):
    path = tmp_path / "old.duckdb"
    _store_at_version_3(path)
    trim_hash = "md5(concat_ws(chr(31), " + ", ".join(f"coalesce(trim({f}), '')" for f in CONTACT_FIELDS) + "))"
    c = duckdb.connect(str(path))
    for cid, company in (("C-NL", "Acme\n"), ("C-EDIT", "Beta\t"), ("C-PLAIN", "Gamma")):
        c.execute("INSERT INTO contacts (contact_id, given_name, company, updated_at) VALUES (?, 'Ann', ?, now())",
                  [cid, company])
        # as the old code stored it: crm_hash from SQL, exchange_hash = crm_hash after writing to Exchange
        c.execute(f"INSERT INTO links SELECT 'OP-1', contact_id, 'I-' || contact_id, 'ck', {trim_hash}, {trim_hash}, "
                  f"now() FROM contacts WHERE contact_id = ?", [cid])
    c.execute("UPDATE contacts SET company = 'Beta edited' WHERE contact_id = 'C-EDIT'")   # edited since the sync
    before = dict((r[0], r[1:]) for r in c.execute("SELECT contact_id, crm_hash, exchange_hash FROM links").fetchall())
    c.close()

    Store(path).migrate()

    c = duckdb.connect(str(path))
    after = dict((r[0], r[1:]) for r in c.execute("SELECT contact_id, crm_hash, exchange_hash FROM links").fetchall())
    current = dict(c.execute(f"SELECT contact_id, {hash_sql('c')} FROM contacts c").fetchall())
    assert c.execute("SELECT max(version) FROM schema_version").fetchone()[0] == len(MIGRATIONS)
    c.close()
    blank = dict.fromkeys(CONTACT_FIELDS)
    assert after["C-NL"] == (current["C-NL"],) * 2 == (content_hash({**blank, "given_name": "Ann", "company": "Acme"}),) * 2
    assert after["C-NL"] != before["C-NL"]
    assert after["C-EDIT"] == before["C-EDIT"] != (current["C-EDIT"],) * 2     # the edit is still seen
    assert after["C-PLAIN"] == before["C-PLAIN"] == (current["C-PLAIN"],) * 2  # nothing to change

