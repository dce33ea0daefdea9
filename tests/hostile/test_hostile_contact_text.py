"""Contact text with control characters never reaches Exchange as "?" and both sides hash alike (issue 19).

Against the sandbox: tab and line breaks round-trip exactly; a control character in a CRM row that
predates the import rule is dropped on the way to Exchange (exchangelib would send it as "?"); one a
user typed in Exchange (U+0085, which exchangelib passes through) is dropped on the way to the CRM.
"""
from __future__ import annotations

from tests.sync.conftest import CAT, mailbox_of, mailbox_rows
from tests.sync.edits import add_contact
from workbench.cli import main
from workbench.store import now

OP = "OP-004"


def test_control_characters_are_dropped_both_ways_and_the_hashes_agree(exchange_env, tmp_path, capsys):
    store = exchange_env.store
    address = mailbox_of(store, OP)
    f = tmp_path / "c.csv"
    f.write_text("contact_id,given_name,surname,email,company,street,team\n"
                 f'HX-1,Ann,Tabs,,"Acme\tInc","1 Main St\nBuilding 2",{OP}\n', encoding="utf-8")
    assert main(["contacts", "import", str(f)]) == 0
    with store.write() as con:        # written before the rule existed
        con.execute("INSERT INTO contacts (contact_id, given_name, surname, private, updated_at) "
                    "VALUES ('HX-2', 'Bo\x01b', 'Legacy', false, ?)", [now()])
        con.execute("INSERT INTO contact_team VALUES ('HX-2', ?, ?)", [OP, now()])
    add_contact(exchange_env, address, display_name="Joe Typed", given_name="Jo\x85e", surname="Typed",
                categories=[CAT])
    assert main(["sync", "run", "--operator", OP, "--no-progress"]) == 0, capsys.readouterr().err

    items = {r["surname"]: r for r in mailbox_rows(exchange_env.sandbox, address)}
    assert (items["Tabs"]["company"], items["Tabs"]["street"]) == ("Acme\tInc", "1 Main St\nBuilding 2")
    assert items["Legacy"]["given_name"] == "Bob"                    # not "Bo?b"
    assert items["Typed"]["given_name"] == "Jo\x85e"                 # Exchange keeps what the user typed
    typed_id = store.scalar("SELECT contact_id FROM contacts WHERE surname = 'Typed'")
    assert store.scalar("SELECT given_name FROM contacts WHERE contact_id = ?", [typed_id]) == "Joe"

    def link_hashes(cid: str) -> tuple:
        return store.rows("SELECT crm_hash, exchange_hash FROM links WHERE contact_id = ?", [cid])[0]

    for cid in ("HX-1", typed_id):
        crm_hash, exchange_hash = link_hashes(cid)
        assert crm_hash == exchange_hash, cid
    snapshot = {r[0]: r[1] for r in store.rows("SELECT crm_id, hash FROM exchange_contacts WHERE operator_id = ?",
                                               [OP])}
    assert snapshot["HX-1"] == link_hashes("HX-1")[1]

    keys = {r["surname"]: r["change_key"] for r in items.values()}
    assert main(["sync", "run", "--operator", OP, "--no-progress"]) == 0
    after = {r["surname"]: r["change_key"] for r in mailbox_rows(exchange_env.sandbox, address)}
    assert {k: after[k] for k in ("Tabs", "Legacy", "Typed")} == {k: keys[k] for k in ("Tabs", "Legacy", "Typed")}
    assert store.scalar("SELECT given_name FROM contacts WHERE contact_id = ?", [typed_id]) == "Joe"
