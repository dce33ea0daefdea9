"""02-sync-preview executed top to bottom against a synced demo store and a running sandbox."""
from __future__ import annotations

import shutil
from collections import Counter

from notebook_runner import all_output_text, execute, result
from notebook_world import OPERATOR, cli_json, synced_then_edited
from workbench.cli import main
from workbench.exchange.mapping import CRM_ID_PROPERTY_NAME

WRITE_OPS = {"CreateItem", "UpdateItem", "DeleteItem"}


def counts(summary: list[dict]) -> dict[str, int]:
    total: Counter = Counter()
    for row in summary:
        total[row["action"]] += row["count"]
    return dict(total)


def test_preview_matches_the_cli_then_syncs_one_operator(exchange_env, tmp_path, capsys):
    env = exchange_env
    world = synced_then_edited(env, tmp_path)
    # what the CLI says the plan is (fresh snapshot), and the CLI under exchange-wins on a copy of the store
    cli = cli_json(capsys, "sync", "preview", "--format", "json")
    planned_ops = sorted({r["operator_id"] for r in cli["summary"]})
    copy = tmp_path / "copy.duckdb"
    shutil.copy(env.store.path, copy)
    assert main(["--store", str(copy), "settings", "set", "conflict_policy=exchange-wins"]) == 0
    ops_args = [a for op in planned_ops for a in ("--operator", op)]
    cli_ex_wins = cli_json(capsys, "--store", str(copy), "sync", "preview", "--stored", "--format", "json",
                           *ops_args)

    mark = len(env.sandbox.requests)
    nb = execute("02-sync-preview.ipynb", env.store.path, tmp_path / "run")
    got = result(nb)

    # the notebook's plan is the CLI's plan
    key = lambda rows: sorted((r["operator_id"], r["action"], int(r["count"])) for r in rows)  # noqa: E731
    assert key(got["summary"]) == key(cli["summary"])
    assert got["counts"] == counts(cli["summary"])
    assert got["errors"] == cli["errors"] and set(got["errors"]) == {"OP-002", "OP-003"}
    # the conflict: CRM wins by default, so the Outlook edit is what gets overwritten
    assert {"operator_id": OPERATOR, "contact_id": world.conflict, "field": "job_title"} in got["overwrites"]
    assert got["conflicts"] == len(cli["conflicts"]) >= 1
    assert got["counts"]["update-exchange"] >= 1 and got["counts"]["update-crm"] >= 1
    # under exchange-wins the same snapshot plans what the CLI plans with that setting stored
    assert got["what_if"]["conflict_policy=exchange-wins"] == counts(cli_ex_wins["summary"])
    assert got["what_if"]["conflict_policy=exchange-wins"]["update-crm"] == got["counts"]["update-crm"] + 1
    assert got["policy_diff"] == [{"operator_id": OPERATOR, "contact_id": world.conflict,
                                   "action_before": "update-exchange", "action_after": "update-crm"}]
    assert "update-crm" not in got["what_if"]["sync_direction=crm-to-exchange"]
    # one operator synced for real: its journal, its mailbox, nobody else's mailbox
    run = got["run"]
    assert run["status"] == "ok" and [m["operator_id"] for m in run["mailboxes"]] == [OPERATOR]
    assert run["done"] == run["planned"] >= 2
    assert got["journal_operators"] == [OPERATOR] and got["journal_rows"] > run["done"]
    assert got["converged"] and set(got["left_after_run"]) <= {"skip"}
    writes = [r for r in env.sandbox.requests[mark:] if r.operation in WRITE_OPS]
    assert writes and {(r.mailbox or "").lower() for r in writes} == {world.mailbox.lower()}
    titles = {c.get("extended_properties", {}).get(CRM_ID_PROPERTY_NAME): c.get("job_title")
              for c in env.sandbox.mailbox(world.mailbox).contacts}
    assert titles[world.conflict] == world.crm_title                        # CRM won in Exchange
    crm = env.store.df("SELECT contact_id, job_title FROM contacts WHERE contact_id IN (?, ?)",
                       [world.conflict, world.exchange_only]).set_index("contact_id")["job_title"]
    assert crm[world.exchange_only] == world.exchange_title                 # the Outlook edit reached the CRM
    assert crm[world.conflict] == world.crm_title
    text = all_output_text(nb)
    for secret in (env.password, env.keystore_password):
        assert secret not in text
