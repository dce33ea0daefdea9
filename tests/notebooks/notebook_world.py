"""A demo store synced once against the sandbox, then edited on both sides the way people do it."""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.cli import main
from workbench.contacts_import import import_contacts
from workbench.sync.engine import run_sync

OPERATOR = "OP-004"       # a healthy mailbox in the seed (OP-001..003 are the seeded problems)


@dataclass
class World:
    conflict: str          # edited in the CRM and in Exchange since the last sync
    exchange_only: str     # edited in Exchange only
    crm_title: str
    exchange_title: str
    mailbox: str


def seed_contacts(env: Any) -> list[dict]:
    with open(env.seed_dir / "contacts.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def edit_in_exchange(env: Any, address: str, crm_id: str, **changes: Any) -> None:
    """As Outlook would: exchangelib, impersonating the mailbox, through the sandbox."""
    from workbench.exchange import mailbox_ops as ops
    from workbench.exchange.mapping import CRM_ID_FIELD
    with env.connect() as conn:
        account = ops.open_mailbox(conn, address)
        items = list(account.contacts.filter(**{CRM_ID_FIELD: crm_id}))
        assert len(items) == 1, f"{crm_id}: {len(items)} items in {address}"
        for key, value in changes.items():
            setattr(items[0], key, value)
        items[0].save(update_fields=list(changes))


def edit_in_crm(env: Any, row: dict, workdir: Path, **changes: str) -> None:
    """A CRM export with one changed row, loaded the way contacts arrive (contacts import)."""
    path = workdir / f"crm-edit-{row['contact_id']}.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(row))
        writer.writeheader()
        writer.writerow({**row, **changes})
    import_contacts(env.store, path)


def synced_then_edited(env: Any, workdir: Path) -> World:
    """Full sync of the demo store, then a conflict and an Exchange-only edit for OPERATOR's contacts."""
    first = run_sync(env.store, trigger="cli")
    assert first.mailbox(OPERATOR).status == "ok", first.to_json()
    own = [r for r in seed_contacts(env) if r["team"] == OPERATOR and r["private"] == "false"]
    assert len(own) >= 2, "the seed gives the operator contacts of their own"
    mailbox = env.store.scalar("SELECT email FROM operators WHERE operator_id = ?", [OPERATOR])
    world = World(own[0]["contact_id"], own[1]["contact_id"], "Chief Revenue Officer (CRM edit)",
                  "Regional Director (Outlook edit)", mailbox)
    edit_in_crm(env, own[0], workdir, job_title=world.crm_title)
    edit_in_exchange(env, mailbox, world.conflict, job_title=world.exchange_title)
    edit_in_exchange(env, mailbox, world.exchange_only, job_title=world.exchange_title)
    return world


def cli_json(capsys: Any, *argv: str) -> Any:
    capsys.readouterr()
    code = main(list(argv))
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)
