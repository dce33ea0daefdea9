"""Propagation: an Exchange edit a run wrote to CRM contacts also belongs in the other mailboxes holding them."""
from __future__ import annotations

from typing import Any

from workbench.agent import state
from workbench.agent.events import Log
from workbench.errors import WorkbenchError
from workbench.store import Store
from workbench.store import sync_requests as queue


def queue_propagation(store: Store, log: Log, op: str, result: Any) -> list[str]:
    """After a push- or request-driven run: the CRM contacts it wrote from ``op``'s mailbox are also in other
    mailboxes; one sync request (reason ``propagate``) for the other enabled operators linked to them brings
    the edit there within seconds instead of at the next slot. A run that wrote no CRM contact (e.g. one that
    only pushed a propagated edit to Exchange) queues nothing, and ``op`` itself is never queued."""
    touched = set(getattr(result, "touched_crm", None) or ())
    if not touched:
        return []
    try:
        others = sorted(state.linked_operators(store, touched) - {op})
        if others:
            queue.request_sync(store, others, "propagate", source="agent")
    except WorkbenchError as exc:     # the next slot still brings the edit there
        log("propagate-failed", operator=op, code=exc.code, detail=exc.detail[:300])
        return []
    if others:
        log("propagate", operator=op, contacts=len(touched), to=",".join(others))
    return others
