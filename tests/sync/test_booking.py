"""The run's store writer (``workbench/sync/booking.py``) against a real store: batches waiting at once are booked
in one transaction; a transaction that fails on one batch's data books the others anyway, and only the bad one
keeps the error; every ticket ends, booked or failed."""
from __future__ import annotations

import threading

from workbench.store import Store
from workbench.sync.booking import Booker
from workbench.sync.journal import Outcome


def outcome(op: str, cid: str | None, item: str) -> Outcome:
    out = Outcome()
    out.links.append({"operator_id": op, "contact_id": cid, "item_id": item, "change_key": "ck", "crm_hash": "h",
                      "exchange_hash": "h"})
    out.log.append({"operator_id": op, "contact_id": cid, "item_id": item, "action": "create-exchange",
                    "outcome": "ok"})
    return out


class HeldWrites:
    """``store.write`` that records each transaction's statements and holds the first one until released, so
    what is submitted meanwhile waits for the writer together."""

    def __init__(self, store: Store) -> None:
        self.store, self.release, self.started = store, threading.Event(), threading.Event()
        self.calls = 0

    def __call__(self, fn):
        self.calls += 1
        if self.calls == 1:
            self.started.set()
            assert self.release.wait(30)
        with self.store.write() as con:
            return fn(con)


def test_batches_waiting_at_once_are_booked_in_one_transaction(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    write = HeldWrites(store)
    booker = Booker(write, run_id=7)
    counted = []
    first = booker.submit("OP-1", outcome("OP-1", "C-0", "I-0"), lambda: counted.append(0))
    assert write.started.wait(30)
    rest = [booker.submit(f"OP-{i % 2}", outcome(f"OP-{i % 2}", f"C-{i}", f"I-{i}"), lambda i=i: counted.append(i))
            for i in range(1, 6)]
    write.release.set()
    for t in [first, *rest]:
        t.settle()
        assert t.error is None
    assert write.calls == 2                           # the first alone, the five that waited meanwhile together
    assert sorted(counted) == list(range(6))          # each counted once, after its commit
    assert store.scalar("SELECT count(*) FROM links") == 6
    assert store.scalar("SELECT count(*) FROM sync_log WHERE run_id = 7 AND action = 'create-exchange'") == 6


def test_a_batch_whose_data_fails_keeps_its_error_and_the_others_are_booked(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    write = HeldWrites(store)
    booker = Booker(write, run_id=1)
    counted = []
    gate = booker.submit("OP-1", outcome("OP-1", "C-0", "I-0"), lambda: counted.append("C-0"))
    assert write.started.wait(30)
    good = booker.submit("OP-1", outcome("OP-1", "C-1", "I-1"), lambda: counted.append("C-1"))
    bad = booker.submit("OP-1", outcome("OP-1", None, "I-2"), lambda: counted.append("bad"))   # links.contact_id NOT NULL
    also = booker.submit("OP-2", outcome("OP-2", "C-3", "I-3"), lambda: counted.append("C-3"))
    write.release.set()
    for t in (gate, good, bad, also):
        t.settle()
    assert gate.error is None and good.error is None and also.error is None
    assert bad.error is not None and "NULL" in str(bad.error)
    assert write.calls == 1 + 1 + 3                   # the gate, the merged group that failed, then each alone
    assert sorted(counted) == ["C-0", "C-1", "C-3"]   # the failed batch is never counted
    assert sorted(r[0] for r in store.rows("SELECT contact_id FROM links")) == ["C-0", "C-1", "C-3"]
    assert store.scalar("SELECT count(*) FROM sync_log WHERE item_id = 'I-2'") == 0      # nothing half-written


def _state(store: Store) -> dict:
    return {r[0]: r[1:] for r in store.rows("SELECT operator_id, mailbox_address, failure_streak, last_error_code, "
                                            "last_success_at IS NOT NULL FROM mailbox_state")}


def test_a_mailbox_mark_rides_with_the_next_batch_or_the_flush_never_in_a_transaction_of_its_own(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    write = HeldWrites(store)
    write.release.set()
    booker = Booker(write, run_id=3)
    first = booker.mark("OP-1", "one@example.com")
    assert write.calls == 0 and _state(store) == {}            # waits for a batch: no transaction yet
    booker.submit("OP-2", outcome("OP-2", "C-1", "I-1"), lambda: None).settle()
    assert first.error is None
    assert write.calls == 1                                      # booked with OP-2's batch
    assert _state(store) == {"OP-1": ("one@example.com", 0, None, True)}
    last = booker.mark("OP-2", "two@example.com")
    booker.flush()
    assert last.error is None and write.calls == 2
    assert _state(store)["OP-2"] == ("two@example.com", 0, None, True)


def test_mailbox_marks_reset_a_failure_streak_or_count_it_up_in_one_statement_pair(tmp_path):
    from workbench.store import sync_tables as st
    store = Store(tmp_path / "s.duckdb")
    with store.write() as con:
        st.mark_mailbox(con, "OP-1", "a@example.com", ok=False, code="THROTTLED")
        st.mark_mailboxes(con, [("OP-1", None, False, "EWS_UNREACHABLE"), ("OP-2", "b@example.com", True, None)])
    assert _state(store) == {"OP-1": ("a@example.com", 2, "EWS_UNREACHABLE", False), "OP-2": ("b@example.com", 0, None, True)}
    with store.write() as con:
        st.mark_mailboxes(con, [("OP-1", "a2@example.com", True, None), ("OP-2", None, False, "SCOPE_DENIED")])
    assert _state(store) == {"OP-1": ("a2@example.com", 0, None, True), "OP-2": ("b@example.com", 1, "SCOPE_DENIED", True)}
