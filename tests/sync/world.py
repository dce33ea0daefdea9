"""A small builder of store states for pure planner tests (no Exchange involved)."""
from __future__ import annotations

from typing import Any

from workbench.fields import CONTACT_FIELDS, content_hash
from workbench.store import Store, now
from workbench.store import sync_tables
from workbench.store.settings_table import update as update_settings

CAT = "PegaSASync"


class World:
    def __init__(self, path) -> None:
        self.store = Store(path)
        self._ck = 0

    def settings(self, **pairs: Any) -> "World":
        update_settings(self.store, {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in pairs.items()},
                        source="test")
        return self

    def op(self, operator_id: str, email: str | None = None, sync: bool = True) -> "World":
        with self.store.write() as con:
            con.execute("INSERT OR REPLACE INTO operators VALUES (?, ?, ?, ?, ?, 'test')",
                        [operator_id, operator_id, email or f"{operator_id.lower()}@example.com", sync, now()])
        return self

    def contact(self, contact_id: str, team: tuple[str, ...] = ("OP-1",), deleted: bool = False,
                private: bool = False, **fields: Any) -> dict:
        row = {f: None for f in CONTACT_FIELDS}
        row.update({"given_name": contact_id, "surname": "Crm", "email": f"{contact_id.lower()}@crm.test"})
        row.update(fields)
        with self.store.write() as con:
            cols = ("contact_id",) + CONTACT_FIELDS
            con.execute(f"INSERT OR REPLACE INTO contacts ({', '.join(cols)}, private, updated_at, deleted_at) "
                        f"VALUES ({', '.join('?' for _ in cols)}, ?, ?, ?)",
                        [contact_id] + [row[f] for f in CONTACT_FIELDS] + [private, now(), now() if deleted else None])
            con.execute("DELETE FROM contact_team WHERE contact_id = ?", [contact_id])
            for op in team:
                con.execute("INSERT INTO contact_team VALUES (?, ?, ?)", [contact_id, op, now()])
        return row

    def edit_contact(self, contact_id: str, **fields: Any) -> None:
        with self.store.write() as con:
            for k, v in fields.items():
                con.execute(f"UPDATE contacts SET {k} = ? WHERE contact_id = ?", [v, contact_id])

    def next_ck(self) -> str:
        self._ck += 1
        return f"ck{self._ck}"

    def item(self, operator_id: str, item_id: str, *, crm_id: str | None = None, categories=(CAT,),
             private: bool = False, change_key: str | None = None, **fields: Any) -> dict:
        row = {f: None for f in CONTACT_FIELDS}
        row.update({"given_name": item_id, "surname": "Ex", "email": f"{item_id.lower()}@ex.test"})
        row.update(fields)
        row.update({"item_id": item_id, "change_key": change_key or self.next_ck(), "crm_id": crm_id,
                    "categories": list(categories), "private": private})
        with self.store.write() as con:
            sync_tables.apply_snapshot_changes(con, operator_id, [row])
        return row

    def edit_item(self, operator_id: str, item_id: str, *, new_ck: bool = True, **changes: Any) -> None:
        rows = self.store.df("SELECT * FROM exchange_contacts WHERE operator_id = ? AND item_id = ?",
                             [operator_id, item_id])
        row = rows.iloc[0].to_dict()
        row["categories"] = list(row["categories"])
        row.update(changes)
        if new_ck:
            row["change_key"] = self.next_ck()
        with self.store.write() as con:
            sync_tables.apply_snapshot_changes(con, operator_id, [row])

    def drop_item(self, operator_id: str, item_id: str) -> None:
        with self.store.write() as con:
            sync_tables.apply_snapshot_changes(con, operator_id, [], [item_id])

    def link(self, operator_id: str, contact_id: str, item_id: str) -> None:
        crm = self.store.df("SELECT * FROM contacts WHERE contact_id = ?", [contact_id]).iloc[0].to_dict()
        ex = self.store.df("SELECT * FROM exchange_contacts WHERE operator_id = ? AND item_id = ?",
                           [operator_id, item_id]).iloc[0].to_dict()
        with self.store.write() as con:
            sync_tables.upsert_links(con, [{"operator_id": operator_id, "contact_id": contact_id, "item_id": item_id,
                                            "change_key": ex["change_key"], "crm_hash": content_hash(crm),
                                            "exchange_hash": ex["hash"]}])

    def synced_pair(self, operator_id: str, contact_id: str, item_id: str, **fields: Any) -> None:
        """A CRM contact and its Exchange item, equal and linked, as after a sync."""
        c = self.contact(contact_id, team=(operator_id,), **fields)
        self.item(operator_id, item_id, crm_id=contact_id, **{f: c[f] for f in CONTACT_FIELDS})
        self.link(operator_id, contact_id, item_id)

    def plan(self, operators=None):
        from workbench.sync.plan import plan_store
        return plan_store(self.store, operators=operators)
