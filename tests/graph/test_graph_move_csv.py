"""`operators move --csv FILE` (issue 14): each row moves its operator to its backend, after the whole file is
validated; each operator all or nothing (a mailbox Graph refuses fails alone), the next sync creates nothing twice
and the journal has the moves. One synced world for the module (``move_world``)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.graph.conftest import referee  # noqa: F401  (fixture)
from tests.graph.move_world import links_of, move_world
from tests.graph.test_graph_move import creates, edit_in_mailbox
from tests.graph.test_graph_sync import agree, sync_run
from tests.graph.test_hybrid_organisation import cli
from tests.sync.conftest import mailbox_rows

pytestmark = pytest.mark.xdist_group("move-csv")


@pytest.fixture(scope="module")
def world(tmp_path_factory, seed_dir, ews_schema_dir, seeded_store_file, referee):  # noqa: F811
    with move_world(tmp_path_factory, seed_dir, ews_schema_dir, seeded_store_file, referee, first_on_graph=1) as w:
        yield w


def state(store) -> tuple:
    """Everything a move writes: links, snapshot ids, overrides, mailbox state, journal."""
    return tuple(store.rows(q) for q in (
        "SELECT operator_id, contact_id, item_id FROM links ORDER BY ALL",
        "SELECT operator_id, item_id FROM exchange_contacts ORDER BY ALL",
        "SELECT operator_id, backend, source FROM operator_backends ORDER BY ALL",
        "SELECT operator_id, sync_state, subscription_id FROM mailbox_state ORDER BY ALL",
        "SELECT count(*) FROM sync_log"))


def write(path: Path, text: str, *, encoding: str = "utf-8") -> str:
    path.write_text(text, encoding=encoding, newline="")
    return str(path)


def refused(*args: str) -> str:
    done = cli("operators", "move", *args)
    assert done.returncode == 2 and "Traceback" not in done.stderr, (done.returncode, done.stderr)
    assert done.stdout == ""
    return done.stderr


def test_a_bad_file_moves_nothing_and_names_every_bad_row(world, tmp_path) -> None:
    (a, _), (b, _), (c, _), _ = world.ops
    before = state(world.env.store)
    bad = write(tmp_path / "bad.csv", f"operator_id,backend\n{b},graph\nOP-NOPE,graph\n{c},exchange\n{b},ews\n"
                                      f",graph\n{a},ews,extra\n")
    err = refused("--csv", bad)
    assert err.startswith("MOVE_CSV_INVALID: Move file refused — Fix what is listed"), err
    assert "bad.csv: 5 of 6 rows failed; nothing was moved" in err
    for expected in ("line 3, column operator_id: unknown operator (not in the store; `workbench operators list` "
                     "shows them) ('OP-NOPE')",
                     "line 4, column backend: unknown backend: use ews or graph, or leave it empty for the "
                     "organisation's backend setting ('exchange')",
                     f"line 5, column operator_id: duplicate operator_id: already on line 2 (an operator moves once "
                     f"per file) ('{b}')",
                     "line 6, column operator_id: empty; every row needs an operator id",
                     "line 7: 3 fields but the header has 2"):
        assert expected in err, (expected, err)
    missing = refused("--csv", write(tmp_path / "cols.csv", f"operator_id,target\n{b},graph\n"))
    assert "line 1, column backend: required column missing (header has: operator_id, target" in missing, missing
    assert "file refused; nothing was moved" in missing
    utf16 = refused("--csv", write(tmp_path / "u16.csv", f"operator_id,backend\n{b},graph\n", encoding="utf-16"))
    assert "the file is UTF-16 text: save it as UTF-8 CSV" in utf16
    many = refused("--csv", write(tmp_path / "many.csv", "operator_id,backend\n" +
                                  "".join(f"NOPE-{i},graph\n" for i in range(60))))
    assert "60 of 60 rows failed" in many and "NOPE-49" in many and "NOPE-50" not in many
    assert "... and 10 more problems" in many
    assert "FILE_NOT_FOUND" in refused("--csv", str(tmp_path / "absent.csv"))
    assert "not both" in refused(b, "--csv", bad)
    assert "--to=graph: not used with --csv" in refused("--csv", bad, "--to", "graph")
    assert "--to: required with operator ids" in refused(b)
    assert state(world.env.store) == before, "nothing written"


def test_csv_moves_two_to_graph_one_back_and_a_refused_mailbox_fails_alone(world, tmp_path) -> None:
    env = world.env
    (back, back_mail), (one, one_mail), (two, two_mail), (refuse, refuse_mail) = world.ops
    cid = links_of(env.store, one)[0][0]
    edit_in_mailbox(env, one_mail, cid, "Edited before the CSV move")
    app = env.sandbox.graph.default_app
    env.sandbox.graph.set_scope(app.client_id, [a for a in app.scope if a != refuse_mail.lower()])
    moves = write(tmp_path / "moves.csv", f"\ufeffOperator_ID ; Backend\n{one};graph\n{two};GRAPH\n{back};ews\n"
                                          f"{refuse};graph\n{world.departed};\n")
    before = state(env.store)
    links = {op: links_of(env.store, op) for op, _ in world.ops}

    dry = cli("operators", "move", "--csv", moves, "--dry-run", "--json")
    assert dry.returncode == 1 and "Traceback" not in dry.stderr, dry.stderr
    report = {r["operator_id"]: r for r in json.loads(dry.stdout)}
    assert {op: r["outcome"] for op, r in report.items()} == {
        one: "would move", two: "would move", back: "would move", refuse: "failed", world.departed: "unchanged"}
    assert (report[back]["source"], report[back]["target"]) == ("graph", "ews")
    assert report[one]["translated"] >= len(links[one]) > 0 and report[one]["missing"] == []
    assert report[refuse]["code"] == "GRAPH_SCOPE_DENIED" and not report[refuse]["moved"]
    assert "GRAPH_SCOPE_DENIED: " in dry.stderr
    assert state(env.store) == before, "a dry run writes nothing"

    done = cli("operators", "move", "--csv", moves)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "5 operators: 3 moved, 1 unchanged, 1 failed" in done.stdout, done.stdout
    assert f"{one} ({one_mail}): moved ews -> graph" in done.stdout
    assert f"{back} ({back_mail}): moved graph -> ews" in done.stdout
    assert f"{refuse} ({refuse_mail}): not moved ews -> graph, nothing written: GRAPH_SCOPE_DENIED" in done.stdout
    assert f"{world.departed}: already on ews" in done.stdout
    assert env.store.rows("SELECT operator_id, backend, source FROM operator_backends ORDER BY 1") == sorted(
        [(one, "graph", "csv:moves.csv"), (two, "graph", "csv:moves.csv")])
    for op in (one, two, back):
        after = links_of(env.store, op)
        assert [r[0] for r in after] == [r[0] for r in links[op]]
        assert not {r[1] for r in after} & {r[1] for r in links[op]}, f"{op}: every id translated"
    assert links_of(env.store, refuse) == links[refuse], "the refused operator is untouched"
    journal = dict(env.store.rows("SELECT operator_id, detail FROM sync_log WHERE action = 'move-backend'"))
    assert set(journal) == {one, two, back} and journal[back].startswith("moved from graph to ews")

    before_creates = creates(env)
    rc, out, err = sync_run("--operator", one, "--operator", two, "--operator", back)
    assert rc == 0 and {m["operator_id"]: (m["status"], m["backend"]) for m in out["mailboxes"]} == {
        one: ("ok", "graph"), two: ("ok", "graph"), back: ("ok", "ews")}, (err, out)
    assert creates(env) == before_creates, "nothing created twice (EWS CreateItem, Graph $batch)"
    assert env.store.scalar("SELECT job_title FROM contacts WHERE contact_id = ?", [cid]) == \
        "Edited before the CSV move", "the edit made before the move is kept"
    for op, mail in ((one, one_mail), (two, two_mail), (back, back_mail)):
        agree(env, op, mail)
        crm_ids = [r["crm_id"] for r in mailbox_rows(env.sandbox, mail) if r["crm_id"]]
        assert len(crm_ids) == len(set(crm_ids)), f"{mail}: a contact twice"
    graph_boxes = {r.mailbox.lower() for r in env.sandbox.graph.requests if r.mailbox and r.method != "POST"}
    assert {one_mail.lower(), two_mail.lower()} <= graph_boxes


def test_a_rejected_graph_login_stops_the_moves_and_writes_nothing(world, tmp_path, monkeypatch) -> None:
    env = world.env
    monkeypatch.setenv("WORKBENCH_GRAPH_CLIENT_SECRET", "not-the-app-secret")
    settings = env.settings()
    rows = [(op, "ews" if settings.backend_for(mail) == "graph" else "graph") for op, mail in world.ops[:3]]
    moves = write(tmp_path / "moves.csv", "operator_id,backend\n" + "".join(f"{op},{to}\n" for op, to in rows))
    before = state(env.store)
    done = cli("operators", "move", "--csv", moves, "--json")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    report = json.loads(done.stdout)
    assert [(r["operator_id"], r["outcome"], r["code"]) for r in report] == [
        (rows[0][0], "failed", "GRAPH_AUTH_REJECTED"), (rows[1][0], "not attempted", "GRAPH_AUTH_REJECTED"),
        (rows[2][0], "not attempted", "GRAPH_AUTH_REJECTED")]
    assert done.stderr.startswith("GRAPH_AUTH_REJECTED: "), done.stderr
    assert "not-the-app-secret" not in done.stdout + done.stderr
    assert state(env.store) == before, "nothing written for any operator"
