"""The sync's store writes: set-based per batch (a fixed number of statements whatever the batch size),
with the outcomes the row-by-row writes had (last row per key wins, an item moves to its new contact)."""
from __future__ import annotations

import pytest

from workbench.fields import CONTACT_FIELDS, content_hash
from workbench.store import Store
from workbench.store import sync_tables as st


class Counting:
    """A connection proxy counting the statements a store function sends."""

    def __init__(self, con) -> None:
        self.con, self.statements = con, 0

    def execute(self, *args, **kwargs):
        self.statements += 1
        return self.con.execute(*args, **kwargs)

    def executemany(self, sql, rows):
        self.statements += len(rows)            # one statement per row: what set-based writes avoid
        return self.con.executemany(sql, rows)

    def __getattr__(self, name):
        return getattr(self.con, name)


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "s.duckdb")


def link(op, cid, item, h="h"):
    return {"operator_id": op, "contact_id": cid, "item_id": item, "change_key": "ck", "crm_hash": h,
            "exchange_hash": h}


def item(i, **fields):
    return {"item_id": f"I-{i}", "change_key": f"ck{i}", "crm_id": f"C-{i}", "categories": ["Cat"],
            "given_name": f"G{i}", **fields}


def crm(i, **fields):
    return {"contact_id": f"C-{i}", "given_name": f"G{i}", "surname": "S", "private": False, **fields}


def batch_statements(store, n: int) -> int:
    """Statements one engine batch's bookkeeping sends for ``n`` actions of every kind."""
    with store.write() as con:
        c = Counting(con)
        st.upsert_crm_contacts(c, [crm(i) for i in range(n)])
        st.add_team(c, [(f"C-{i}", "OP-1") for i in range(n)])
        st.remove_team(c, [(f"C-{i}", "OP-2") for i in range(n)])
        st.drop_links(c, [("OP-2", f"C-{i}") for i in range(n)])
        st.upsert_links(c, [link("OP-1", f"C-{i}", f"I-{i}") for i in range(n)])
        st.apply_snapshot_changes(c, "OP-1", [item(i) for i in range(n)], [f"X-{i}" for i in range(n)])
        st.journal(c, 1, [{"action": "create-exchange", "outcome": "ok", "contact_id": f"C-{i}"} for i in range(n)])
        return c.statements


def test_a_batch_costs_the_same_statements_for_one_row_and_for_five_hundred(tmp_path):
    one = batch_statements(Store(tmp_path / "a.duckdb"), 1)
    many = batch_statements(Store(tmp_path / "b.duckdb"), 500)
    assert one == many
    assert many <= 13      # the snapshot rows are a DELETE of their keys + a plain INSERT (INSERT OR REPLACE cost 4-5x)


def test_links_last_row_per_contact_wins_and_an_item_moves_to_its_new_contact(store):
    with store.write() as con:
        st.upsert_links(con, [link("OP-1", "C-1", "I-1"), link("OP-1", "C-2", "I-2"), link("OP-2", "C-1", "I-1")])
    with store.write() as con:
        st.upsert_links(con, [link("OP-1", "C-3", "I-1", "x"), link("OP-1", "C-2", "I-2", "old"),
                              link("OP-1", "C-2", "I-2", "new")])
    assert store.rows("SELECT operator_id, contact_id, item_id, crm_hash FROM links ORDER BY 1, 2") == [
        ("OP-1", "C-2", "I-2", "new"), ("OP-1", "C-3", "I-1", "x"), ("OP-2", "C-1", "I-1", "h")]
    with store.write() as con:
        st.drop_links(con, [("OP-1", "C-2"), ("OP-1", "C-2"), ("OP-9", "C-3")])
    assert store.rows("SELECT operator_id, contact_id FROM links ORDER BY 1, 2") == [("OP-1", "C-3"), ("OP-2", "C-1")]


def test_crm_upsert_updates_fields_keeps_private_and_creates_new_contacts(store):
    with store.write() as con:
        con.execute("INSERT INTO contacts (contact_id, given_name, company, private, updated_at, deleted_at) "
                    "VALUES ('C-1', 'Old', 'Old Co', true, now(), NULL)")
    with store.write() as con:
        st.upsert_crm_contacts(con, [crm(1, company="New Co", private=False), crm(2, private=True),
                                     crm(3, surname="first"), crm(3, surname="second")])
    got = {r[0]: r[1:] for r in store.rows("SELECT contact_id, given_name, surname, company, private FROM contacts")}
    assert got == {"C-1": ("G1", "S", "New Co", True), "C-2": ("G2", "S", None, True),
                   "C-3": ("G3", "second", None, False)}


def test_team_pairs_are_added_once_and_removed(store):
    with store.write() as con:
        st.add_team(con, [("C-1", "OP-1"), ("C-1", "OP-1"), ("C-2", "OP-1")])
        st.add_team(con, [("C-1", "OP-1"), ("C-1", "OP-2")])
        st.remove_team(con, [("C-2", "OP-1"), ("C-9", "OP-9")])
    assert store.rows("SELECT contact_id, operator_id FROM contact_team ORDER BY 1, 2") == [
        ("C-1", "OP-1"), ("C-1", "OP-2")]


def test_snapshot_changes_normalise_hash_upsert_and_delete(store):
    with store.write() as con:
        st.replace_snapshot(con, "OP-1", [item(1), item(2), item(3, company=" Acme\n")])
        st.replace_snapshot(con, "OP-2", [item(1)])
    with store.write() as con:
        st.apply_snapshot_changes(con, "OP-1", [item(2, surname="Edited"), item(4)], ["I-1", "I-404"])
    rows = store.df("SELECT * FROM exchange_contacts WHERE operator_id = 'OP-1' ORDER BY item_id")
    assert list(rows["item_id"]) == ["I-2", "I-3", "I-4"]
    assert rows.set_index("item_id").loc["I-3", "company"] == "Acme"
    for r in rows.to_dict("records"):
        assert r["hash"] == content_hash({f: r[f] for f in CONTACT_FIELDS})
    assert store.scalar("SELECT surname FROM exchange_contacts WHERE item_id = 'I-2' AND operator_id = 'OP-1'") == "Edited"
    assert store.scalar("SELECT count(*) FROM exchange_contacts WHERE operator_id = 'OP-2'") == 1


def test_journal_rows_keep_their_order_and_types(store):
    with store.write() as con:
        assert st.journal(con, 7, [{"action": "batch", "outcome": "ok", "batch_no": 1, "items": 3, "seconds": 0.5},
                                   {"action": "create-exchange", "outcome": "failed", "code": "EWS_ITEM_REJECTED",
                                    "contact_id": "C-1"}]) == 2
    assert store.rows("SELECT run_id, action, outcome, code, batch_no, items, seconds FROM sync_log ORDER BY log_id") == [
        (7, "batch", "ok", None, 1, 3, 0.5), (7, "create-exchange", "failed", "EWS_ITEM_REJECTED", None, None, None)]


def test_columns_with_one_value_are_bound_once_and_every_row_still_arrives(store):
    """A column alike in every row is one scalar parameter (binding costs per value); the rows stay all there,
    also when every column is alike (identical rows) and when only one row differs in one column."""
    types = [("run_id", "BIGINT"), ("operator_id", "VARCHAR"), ("contact_id", "VARCHAR"), ("field", "VARCHAR"),
             ("before", "VARCHAR"), ("conflict", "BOOLEAN")]
    alike = [(7, "OP-1", "C-1", "email", None, False)] * 3
    mixed = [(8, "OP-1", f"C-{i}", "email", None, i == 2) for i in range(3)]
    batch = st._Batch.of(mixed, types)
    assert [p for p in batch.params if isinstance(p, list)] == [[8, 8, 8], ["C-0", "C-1", "C-2"],
                                                                [False, False, True]]
    with store.write() as con:
        con.execute("CREATE TABLE t (run_id BIGINT, operator_id VARCHAR, contact_id VARCHAR, field VARCHAR, "
                    "before VARCHAR, conflict BOOLEAN)")
        assert st.insert_rows(con, "t", types, alike) == 3
        assert st.insert_rows(con, "t", types, mixed) == 3
    assert store.rows("SELECT * FROM t ORDER BY run_id, contact_id") == [*alike, *mixed]
