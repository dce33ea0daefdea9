"""DeleteItem's three DeleteTypes, schema validation of the whole request, ConvertId against PR_ENTRYID."""
from __future__ import annotations

import base64

import pytest

from tests.conformance.conftest import ALICE, NS, envelope, make_contact


def delete(ews, item_id: str, delete_type: str):
    return ews.call(f'<m:DeleteItem DeleteType="{delete_type}"><m:ItemIds><t:ItemId Id="{item_id}"/></m:ItemIds>'
                    "</m:DeleteItem>")


def find_names(ews, folder: str) -> dict[str, str]:
    """DisplayName -> ItemId of the items FindItem sees in a distinguished folder."""
    answer = ews.call(f'''<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>
      <t:AdditionalProperties><t:FieldURI FieldURI="contacts:DisplayName"/></t:AdditionalProperties></m:ItemShape>
      <m:ParentFolderIds><t:DistinguishedFolderId Id="{folder}"/></m:ParentFolderIds></m:FindItem>''')
    assert answer.codes == ["NoError"]
    return {c.findtext("t:DisplayName", namespaces=NS): c.find("t:ItemId", NS).get("Id")
            for c in answer.findall(".//t:Items/t:Contact")}


def get_codes(ews, item_id: str) -> list[str]:
    return ews.call(f'<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>'
                    f'<m:ItemIds><t:ItemId Id="{item_id}"/></m:ItemIds></m:GetItem>').codes


FOLDERS = ("contacts", "deleteditems", "recoverableitemsdeletions")


@pytest.mark.parametrize("delete_type, lands_in", [("MoveToDeletedItems", "deleteditems"),
                                                   ("SoftDelete", "recoverableitemsdeletions"),
                                                   ("HardDelete", None)])
def test_delete_type_decides_where_the_item_goes(ews, delete_type, lands_in):
    name = f"Delete {delete_type}"
    item_id, _ = make_contact(ews, name)
    assert delete(ews, item_id, delete_type).codes == ["NoError"]
    where = {folder: find_names(ews, folder).get(name) for folder in FOLDERS}
    assert {f for f, found in where.items() if found} == ({lands_in} if lands_in else set())
    assert get_codes(ews, item_id) == ["ErrorItemNotFound"]          # a move gives the item a new id
    if lands_in:
        assert get_codes(ews, where[lands_in]) == ["NoError"]        # GetItem reaches it where it is now


def test_deleting_from_deleted_items_moves_to_recoverable_items(ews):
    item_id, _ = make_contact(ews, "Delete Twice")
    delete(ews, item_id, "MoveToDeletedItems")
    in_trash = find_names(ews, "deleteditems")["Delete Twice"]
    delete(ews, in_trash, "MoveToDeletedItems")
    assert "Delete Twice" not in find_names(ews, "deleteditems")
    dumped = find_names(ews, "recoverableitemsdeletions")["Delete Twice"]
    delete(ews, dumped, "SoftDelete")                                   # out of the dumpster: gone
    assert "Delete Twice" not in find_names(ews, "recoverableitemsdeletions")


# ---------------------------------------------------------------- schema validation

def test_schema_violation_is_an_http_500_error_schema_validation(ews):
    body = envelope('''<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>
      <m:SyncFolderId><t:DistinguishedFolderId Id="contacts"/></m:SyncFolderId>
      <m:MaxChangesReturned>600</m:MaxChangesReturned></m:SyncFolderItems>''', impersonate=ALICE)
    answer = ews.post(body, invalid=True)
    assert (answer.status, answer.fault_code) == (500, "ErrorSchemaValidation")
    assert answer.text(".//s:Fault/faultcode") == "a:ErrorSchemaValidation"
    detail = answer.find(".//s:Fault/detail/t:MessageXml")
    assert int(detail.findtext("t:LineNumber", namespaces=NS)) >= 1
    assert "MaxChangesReturned" in detail.findtext("t:Violation", namespaces=NS)
    assert "512" in detail.findtext("t:Violation", namespaces=NS)


@pytest.mark.parametrize("case", ["bad enumeration", "unknown element", "bad header"])
def test_nothing_is_processed_when_the_request_breaks_the_schema(sandbox, ews, case):
    item_id, _ = make_contact(ews, f"Schema {case}")
    before = sandbox.store.find_mailbox(ALICE).event_count
    body = {
        "bad enumeration": envelope(f'<m:DeleteItem DeleteType="Shred"><m:ItemIds><t:ItemId Id="{item_id}"/>'
                                    "</m:ItemIds></m:DeleteItem>", impersonate=ALICE),
        "unknown element": envelope('<m:CreateItem><m:Items><t:Contact><t:DisplayName>X</t:DisplayName>'
                                    "<t:ShoeSize>44</t:ShoeSize></t:Contact></m:Items></m:CreateItem>",
                                    impersonate=ALICE),
        "bad header": envelope(f'<m:DeleteItem DeleteType="HardDelete"><m:ItemIds><t:ItemId Id="{item_id}"/>'
                               "</m:ItemIds></m:DeleteItem>").replace(
            "</soap:Header>", f"<t:ExchangeImpersonation><t:ConnectingSID><t:Mailbox>{ALICE}</t:Mailbox>"
                              "</t:ConnectingSID></t:ExchangeImpersonation></soap:Header>"),
    }[case]
    answer = ews.post(body, invalid=True)
    assert (answer.status, answer.fault_code) == (500, "ErrorSchemaValidation")
    assert sandbox.store.find_mailbox(ALICE).event_count == before
    assert get_codes(ews, item_id) == ["NoError"]


# ---------------------------------------------------------------- ConvertId and PR_ENTRYID

PR_ENTRYID = '<t:ExtendedFieldURI PropertyTag="0x0FFF" PropertyType="Binary"/>'


def convert(ews, item_id: str, source: str, destination: str) -> str:
    answer = ews.call(f'''<m:ConvertId DestinationFormat="{destination}"><m:SourceIds>
      <t:AlternateId Format="{source}" Id="{item_id}" Mailbox="{ALICE}"/></m:SourceIds></m:ConvertId>''')
    assert answer.codes == ["NoError"]
    alt = answer.find(".//m:AlternateId")
    assert (alt.get("Format"), alt.get("Mailbox")) == (destination, ALICE)
    return alt.get("Id")


def test_convert_id_entry_id_is_the_items_pr_entryid(ews):
    item_id, _ = make_contact(ews, "Entry Id")
    got = ews.call(f'<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>{PR_ENTRYID}'
                   f'</t:AdditionalProperties></m:ItemShape><m:ItemIds><t:ItemId Id="{item_id}"/></m:ItemIds>'
                   "</m:GetItem>")
    prop = got.find(".//t:Contact/t:ExtendedProperty")
    assert prop.find("t:ExtendedFieldURI", NS).get("PropertyType") == "Binary"
    entry_id = base64.b64decode(prop.findtext("t:Value", namespaces=NS))
    assert base64.b64decode(convert(ews, item_id, "EwsId", "EntryId")) == entry_id
    assert bytes.fromhex(convert(ews, item_id, "EwsId", "HexEntryId")) == entry_id
    # and back: the entry id names the same item
    assert convert(ews, entry_id.hex().upper(), "HexEntryId", "EwsId") == item_id
    assert convert(ews, base64.b64encode(entry_id).decode(), "EntryId", "EwsId") == item_id


def test_pr_entryid_is_not_part_of_allproperties(ews):
    item_id, _ = make_contact(ews, "Entry Id Hidden")
    got = ews.call(f'<m:GetItem><m:ItemShape><t:BaseShape>AllProperties</t:BaseShape></m:ItemShape>'
                   f'<m:ItemIds><t:ItemId Id="{item_id}"/></m:ItemIds></m:GetItem>')
    assert got.find(".//t:Contact/t:ExtendedProperty") is None
