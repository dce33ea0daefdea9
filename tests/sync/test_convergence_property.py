"""Property: random edits on both sides, then sync, always converge to the same state on both sides."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.sync.conftest import CAT, assert_converged, mailbox_of, mailbox_rows
from tests.sync.edits import add_contact
from workbench.exchange import mailbox_ops as ops
from workbench.store import now
from workbench.store.settings_table import update
from workbench.sync.engine import run_sync

OPS = ["OP-004", "OP-005"]

edit_st = st.one_of(
    st.tuples(st.just("crm_edit"), st.integers(0, 10**6), st.sampled_from(["job_title", "city", "surname"])),
    st.tuples(st.just("crm_delete"), st.integers(0, 10**6), st.just("")),
    st.tuples(st.just("team_remove"), st.integers(0, 10**6), st.sampled_from(OPS)),
    st.tuples(st.just("team_add"), st.integers(0, 10**6), st.sampled_from(OPS)),
    st.tuples(st.just("ex_edit"), st.integers(0, 10**6), st.sampled_from(OPS)),
    st.tuples(st.just("ex_trash"), st.integers(0, 10**6), st.sampled_from(OPS)),
    st.tuples(st.just("ex_uncategorise"), st.integers(0, 10**6), st.sampled_from(OPS)),
    st.tuples(st.just("ex_new"), st.integers(0, 10**6), st.sampled_from(OPS)),
)


def apply(env, edit, counter) -> None:
    kind, n, arg = edit
    store = env.store
    live = [r[0] for r in store.rows("SELECT contact_id FROM contacts WHERE deleted_at IS NULL ORDER BY 1")]
    if kind.startswith("crm_") or kind.startswith("team_"):
        cid = live[n % len(live)]
        with store.write() as con:
            if kind == "crm_edit":
                con.execute(f"UPDATE contacts SET {arg} = ? WHERE contact_id = ?", [f"crm-{counter}", cid])
            elif kind == "crm_delete":
                con.execute("UPDATE contacts SET deleted_at = ? WHERE contact_id = ?", [now(), cid])
            elif kind == "team_remove":
                con.execute("DELETE FROM contact_team WHERE contact_id = ? AND operator_id = ?", [cid, arg])
            else:
                con.execute("INSERT OR IGNORE INTO contact_team VALUES (?, ?, ?)", [cid, arg, now()])
        return
    address = mailbox_of(store, arg)
    if kind == "ex_new":
        add_contact(env, address, display_name=f"Prop {counter}", given_name="Prop", surname=str(counter),
                    email_addresses=None, categories=[CAT])
        return
    rows = [r for r in mailbox_rows(env.sandbox, address) if CAT in r["categories"] and not r["private"]]
    if not rows:
        return
    target = rows[n % len(rows)]
    with env.connect() as conn:
        acc = ops.open_mailbox(conn, address)
        item = acc.contacts.get(id=target["item_id"])
        if kind == "ex_edit":
            item.job_title = f"ex-{counter}"
            item.save(update_fields=["job_title"])
        elif kind == "ex_trash":
            item.move_to_trash()
        else:
            item.categories = ["Personal"]
            item.save(update_fields=["categories"])


@pytest.mark.slow
def test_random_edits_on_both_sides_converge(env):
    update(env.store, {"mass_delete_percent": "100"}, source="test")
    run_sync(env.store, OPS)
    counter = [0]

    @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(edits=st.lists(edit_st, min_size=1, max_size=4))
    def prop(edits):
        for e in edits:
            counter[0] += 1
            apply(env, e, counter[0])
        for attempt in range(3):
            result = run_sync(env.store, OPS, allow_mass_delete=True)
            assert {m.status for m in result.mailboxes} <= {"ok"}, result.to_json()
            if result.plan.is_empty:
                break
        assert result.plan.is_empty, f"not converged after 3 runs: {result.plan.counts()}"
        assert_converged(env, OPS)

    prop()
