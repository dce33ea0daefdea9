"""A Graph backend's HTTP pools: each opened mailbox has one of its own with the backend's trust (one pool shared
by 16 lanes made them queue on httpcore's pool lock), and closing the backend closes every one."""
from __future__ import annotations


def test_each_mailbox_has_a_pool_of_its_own_and_close_closes_them_all(graph_env):
    backend = graph_env.backend()
    mailboxes = [backend.open(address) for address in ("alice.jones@example.com", "bob.smith@example.com")]
    pools = [backend.transport.http, *(m._t.http for m in mailboxes)]
    assert len({id(p) for p in pools}) == 3
    for m in mailboxes:
        assert isinstance(m.snapshot(100), list)          # a request through its own pool, trusted like the first
    backend.close()
    assert all(p.is_closed for p in pools)
