"""One synced hybrid world for a whole test module (moves of several operators, issue 14): the sandbox serving
the same mailboxes over EWS and Graph, the organisation on EWS with the Graph settings filled in, four healthy
operators synced once (suite time: one sandbox and one first sync per module)."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.conftest import close_ews_connections, configure_store
from tests.graph.conftest import GraphEnv, check_bodies, healthy_operators, hybrid_world
from tests.graph.test_graph_sync import sync_run
from tests.graph.test_hybrid_organisation import cli


@dataclass
class MoveWorld:
    env: GraphEnv
    ops: list[tuple[str, str]]       # four synced operators (id, e-mail); ops[3] is the one scoped out later
    departed: str                    # an operator without a mailbox, never synced (moves of it: unchanged/failed)


def links_of(store: Any, op: str) -> list[tuple[str, str]]:
    return [tuple(r) for r in store.rows("SELECT contact_id, item_id FROM links WHERE operator_id = ? ORDER BY 1",
                                         [op])]


@contextlib.contextmanager
def move_world(tmp_path_factory: pytest.TempPathFactory, seed_dir: Path, schema_dir: Path, seeded_store_file: Path,
               referee: Any, *, first_on_graph: int = 0) -> Iterator[MoveWorld]:
    """The world; the first ``first_on_graph`` operators are put on Graph before their first sync."""
    from workbench.sandbox import Sandbox
    mp = pytest.MonkeyPatch()
    workdir = tmp_path_factory.mktemp("move-world")
    sb = Sandbox(state_dir=workdir / "sandbox", seed=seed_dir, schema_dir=schema_dir, graph=True, capture=True).start()
    try:
        env = hybrid_world(sb, workdir, mp, seeded_store_file, configure_store)
        _four_healthy(env)
        ops = healthy_operators(env)[:4]
        assert len(ops) == 4, ops
        for op, _ in ops[:first_on_graph]:
            assert cli("operators", "backend", op, "--to", "graph").returncode == 0
        rc, out, err = sync_run(*[a for op, _ in ops for a in ("--operator", op)])
        assert rc == 0 and {m["status"] for m in out["mailboxes"]} == {"ok"}, (err, out)
        departed = env.store.scalar("SELECT min(operator_id) FROM operators WHERE email LIKE 'departed.%'")
        yield MoveWorld(env, ops, departed)
        check_bodies(sb.graph.captured, referee)
    finally:
        close_ews_connections()
        sb.stop()
        mp.undo()


def _four_healthy(env: GraphEnv) -> None:
    """The seed gives one operator an alias e-mail and one contact sync off, on purpose; here the first gets its
    mailbox's primary address (as an `operators import` fix would) and the second is enabled: four are healthy."""
    from workbench.operators.switches import set_contact_sync
    set_contact_sync(env.store, [env.store.scalar("SELECT min(operator_id) FROM operators WHERE NOT contact_sync")],
                     True)
    with env.store.write() as con:
        for op, email in con.execute("SELECT operator_id, email FROM operators").fetchall():
            box = env.sandbox.store.find_mailbox(email)
            if box is not None and box.primary.lower() != email.lower():
                con.execute("UPDATE operators SET email = ? WHERE operator_id = ?", [box.primary, op])
