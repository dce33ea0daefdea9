"""A Graph backend's HTTP pools: the mailboxes get one each in turn, with the backend's trust (one pool shared by
16 lanes made them queue on httpcore's pool lock), as many as run at once; a mailbox keeps its pool (a run opens it
to read, then to write); a backend that opens mailbox after mailbox (the agent, one open per job) keeps that fixed
number; closing the backend closes every one."""
from __future__ import annotations

from tests.graph.conftest import in_scope


def test_mailboxes_get_pools_in_turn_keep_theirs_and_close_closes_them_all(graph_env):
    concurrent = int(graph_env.settings().max_concurrent_mailboxes)
    addresses = [f"pool{i}@example.com" for i in range(2 * concurrent + 1)]
    for a in addresses:
        graph_env.sandbox.add_mailbox(a)
    in_scope(graph_env.sandbox, *addresses)
    backend = graph_env.backend()
    opened = [backend.open(a) for a in addresses]
    pools = [m._t.http for m in opened]
    assert len({id(p) for p in pools[:concurrent]}) == concurrent         # the first ones opened: one pool each
    assert len({id(p) for p in pools}) == concurrent                        # then in turn again, no more
    assert backend.open(addresses[1])._t.http is pools[1]                   # a mailbox opened again keeps its pool
    assert all(p is not backend.transport.http for p in pools)
    assert isinstance(opened[0].snapshot(100), list)    # a request through its own pool, trusted like the first
    backend.close()
    assert backend.transport.http.is_closed and all(p.is_closed for p in pools)
