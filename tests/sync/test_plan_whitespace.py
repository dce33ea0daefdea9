"""The planner's content hash (SQL) and the store's snapshot hash (Python) use one normaliser: whitespace at
the ends of a value (a trailing newline, a no-break space) is never a change."""
from __future__ import annotations

import pytest

from tests.sync.world import World


@pytest.mark.parametrize("company", ["Acme\n", "Acme\r\n", "\u00a0Acme", "Acme\u2028", "\tAcme "])
def test_a_value_padded_with_whitespace_in_the_crm_is_not_seen_as_changed(tmp_path, company):
    w = World(tmp_path / "plan.duckdb")
    w.op("OP-1")
    w.synced_pair("OP-1", "C-1", "I-1", company=company)
    assert w.plan().actions.empty


def test_a_real_edit_next_to_the_whitespace_still_is(tmp_path):
    w = World(tmp_path / "plan.duckdb")
    w.op("OP-1")
    w.synced_pair("OP-1", "C-1", "I-1", company="Acme\n")
    w.edit_contact("C-1", company="Acme Ltd\n")
    plan = w.plan()
    assert [(r.action, r.contact_id) for r in plan.actions.itertuples()] == [("update-exchange", "C-1")]
    assert [(r.field, r.after) for r in plan.changes.itertuples()] == [("company", "Acme Ltd")]
