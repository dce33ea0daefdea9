"""Checks shared by the fault and crash matrices: CRM rows kept, no CRM id twice in any mailbox."""
from __future__ import annotations

from collections import Counter
from typing import Any

from tests.sync.conftest import mailbox_rows

WORKING = ["OP-001", "OP-004", "OP-005"]            # the demo operators whose mailbox works


def crm_rows(store: Any) -> tuple[set, set]:
    """(contact ids, (contact id, operator id) team pairs) of the CRM side."""
    return ({r[0] for r in store.rows("SELECT contact_id FROM contacts")},
            set(store.rows("SELECT contact_id, operator_id FROM contact_team")))


def assert_nothing_lost(store: Any, before: tuple[set, set]) -> None:
    """No CRM contact row or team pair lost (a sync may add some: contacts created in Exchange)."""
    after = crm_rows(store)
    assert before[0] <= after[0], f"CRM contacts lost: {sorted(before[0] - after[0])[:5]}"
    assert before[1] <= after[1], f"team pairs lost: {sorted(before[1] - after[1])[:5]}"


def duplicated_crm_ids(env: Any) -> dict[str, list[str]]:
    """Per sandbox mailbox, the CRM ids held by more than one item."""
    out = {}
    for address in env.info.mailboxes:
        ids = Counter(r["crm_id"] for r in mailbox_rows(env.sandbox, address) if r["crm_id"])
        twice = sorted(k for k, n in ids.items() if n > 1)
        if twice:
            out[address] = twice
    return out
