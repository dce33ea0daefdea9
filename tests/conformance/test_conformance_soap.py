"""Requests as Microsoft's EWS reference shows them: namespace styles, ExchangeImpersonation forms,
ItemShape variants, indexed paging, version headers. One test per documented behaviour."""
from __future__ import annotations

import pytest

from tests.conformance.conftest import ALICE, CAROL, CRM_SET, NS, envelope, make_contact
from workbench.sandbox import Sandbox

GET_CONTACTS_FOLDER = "<m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape>" \
                      '<m:FolderIds><t:DistinguishedFolderId Id="contacts"/></m:FolderIds></m:GetFolder>'


def contacts_folder_id(sb: Sandbox, address: str) -> str:
    return sb.store.find_mailbox(address).by_name["contacts"].id


# ---------------------------------------------------------------- namespace styles

DEFAULT_NAMESPACES = f'''<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
  <soap:Header>
    <RequestServerVersion Version="Exchange2013_SP1" xmlns="http://schemas.microsoft.com/exchange/services/2006/types"/>
    <ExchangeImpersonation xmlns="http://schemas.microsoft.com/exchange/services/2006/types">
      <ConnectingSID><SmtpAddress>{ALICE}</SmtpAddress></ConnectingSID>
    </ExchangeImpersonation>
  </soap:Header>
  <soap:Body>
    <FindItem Traversal="Shallow" xmlns="http://schemas.microsoft.com/exchange/services/2006/messages">
      <ItemShape><BaseShape xmlns="http://schemas.microsoft.com/exchange/services/2006/types">IdOnly</BaseShape>
      </ItemShape>
      <ParentFolderIds>
        <DistinguishedFolderId Id="contacts" xmlns="http://schemas.microsoft.com/exchange/services/2006/types"/>
      </ParentFolderIds>
    </FindItem>
  </soap:Body>
</soap:Envelope>'''

OTHER_PREFIXES = f'''<?xml version="1.0" encoding="utf-8"?>
<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"
              xmlns:typ="http://schemas.microsoft.com/exchange/services/2006/types"
              xmlns:mes="http://schemas.microsoft.com/exchange/services/2006/messages">
  <env:Header><typ:RequestServerVersion Version="Exchange2016"/>
    <typ:ExchangeImpersonation><typ:ConnectingSID><typ:PrimarySmtpAddress>{ALICE}</typ:PrimarySmtpAddress>
    </typ:ConnectingSID></typ:ExchangeImpersonation></env:Header>
  <env:Body><mes:FindItem Traversal="Shallow"><mes:ItemShape><typ:BaseShape>IdOnly</typ:BaseShape></mes:ItemShape>
    <mes:ParentFolderIds><typ:DistinguishedFolderId Id="contacts"/></mes:ParentFolderIds></mes:FindItem></env:Body>
</env:Envelope>'''


@pytest.mark.parametrize("style", ["default namespaces", "other prefixes", "t: and m:"])
def test_any_namespace_prefixes_are_the_same_request(sandbox, ews, style):
    body = {"default namespaces": DEFAULT_NAMESPACES, "other prefixes": OTHER_PREFIXES,
            "t: and m:": envelope('<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>'
                                  '</m:ItemShape><m:ParentFolderIds><t:DistinguishedFolderId Id="contacts"/>'
                                  '</m:ParentFolderIds></m:FindItem>', impersonate=ALICE)}[style]
    answer = ews.post(body)
    assert answer.status == 200 and answer.codes == ["NoError"]
    total = len(sandbox.store.find_mailbox(ALICE).by_name["contacts"].items)
    assert answer.find(".//m:RootFolder").get("TotalItemsInView") == str(total)
    assert len(answer.findall(".//t:Items/t:Contact/t:ItemId")) == total


# ---------------------------------------------------------------- ExchangeImpersonation / ConnectingSID

@pytest.mark.parametrize("form", ["PrincipalName", "SID", "PrimarySmtpAddress", "SmtpAddress"])
def test_impersonation_by_each_connecting_sid_form(sandbox, ews, form):
    mailbox = sandbox.mailbox(ALICE)
    value = {"PrincipalName": ALICE, "SID": mailbox.sid, "PrimarySmtpAddress": ALICE,
             "SmtpAddress": "a.liddell@example.com"}[form]          # SmtpAddress may be any proxy address
    body = envelope(GET_CONTACTS_FOLDER).replace(
        '<t:RequestServerVersion Version="Exchange2016"/>',
        '<t:RequestServerVersion Version="Exchange2016"/><t:ExchangeImpersonation><t:ConnectingSID>'
        f"<t:{form}>{value}</t:{form}></t:ConnectingSID></t:ExchangeImpersonation>")
    answer = ews.post(body)
    assert answer.status == 200 and answer.codes == ["NoError"]
    assert answer.find(".//t:ContactsFolder/t:FolderId").get("Id") == contacts_folder_id(sandbox, ALICE)


@pytest.mark.parametrize("form, value, code", [
    ("SID", "S-1-5-21-1-2-3-4242", "ErrorNonExistentMailbox"),
    ("SmtpAddress", "nobody@example.com", "ErrorNonExistentMailbox"),
    ("PrimarySmtpAddress", CAROL, "ErrorImpersonateUserDenied"),
])
def test_impersonation_failures_are_soap_faults(ews, form, value, code):
    body = envelope(GET_CONTACTS_FOLDER).replace(
        "</soap:Header>", f"<t:ExchangeImpersonation><t:ConnectingSID><t:{form}>{value}</t:{form}>"
                          "</t:ConnectingSID></t:ExchangeImpersonation></soap:Header>")
    answer = ews.post(body)
    assert (answer.status, answer.fault_code) == (500, code)


# ---------------------------------------------------------------- ItemShape

def _get(ews, item_id: str, shape: str) -> object:
    return ews.call(f'<m:GetItem><m:ItemShape>{shape}</m:ItemShape>'
                    f'<m:ItemIds><t:ItemId Id="{item_id}"/></m:ItemIds></m:GetItem>')


CRM_URI = f'<t:ExtendedFieldURI PropertySetId="{CRM_SET}" PropertyName="WorkbenchCrmContactId" PropertyType="String"/>'


def test_idonly_returns_the_item_id_only(ews):
    item_id, change_key = make_contact(ews, "Shape IdOnly", crm_id="CRM-SHAPE-1")
    contact = _get(ews, item_id, "<t:BaseShape>IdOnly</t:BaseShape>").find(".//t:Contact")
    assert [child.tag.split("}")[1] for child in contact] == ["ItemId"]
    assert contact[0].get("ChangeKey") == change_key


def test_allproperties_holds_first_class_properties_but_no_extended_property(ews):
    item_id, _ = make_contact(ews, "Shape All", crm_id="CRM-SHAPE-2")
    contact = _get(ews, item_id, "<t:BaseShape>AllProperties</t:BaseShape>").find(".//t:Contact")
    assert contact.findtext("t:DisplayName", namespaces=NS) == "Shape All"
    assert contact.findtext("t:CompanyName", namespaces=NS) == "Conformance Ltd"
    assert contact.find("t:ExtendedProperty", NS) is None


def test_extended_property_only_when_asked_by_extended_field_uri(ews):
    item_id, _ = make_contact(ews, "Shape Ext", crm_id="CRM-SHAPE-3")
    for base in ("IdOnly", "AllProperties"):
        contact = _get(ews, item_id, f"<t:BaseShape>{base}</t:BaseShape>"
                                     f"<t:AdditionalProperties>{CRM_URI}</t:AdditionalProperties>").find(".//t:Contact")
        props = contact.findall("t:ExtendedProperty", NS)
        assert [p.findtext("t:Value", namespaces=NS) for p in props] == ["CRM-SHAPE-3"], base
        assert props[0].find("t:ExtendedFieldURI", NS).get("PropertyName") == "WorkbenchCrmContactId"


def test_additional_properties_pick_single_fields(ews):
    item_id, _ = make_contact(ews, "Shape Picked")
    contact = _get(ews, item_id, '<t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>'
                                 '<t:FieldURI FieldURI="contacts:CompanyName"/></t:AdditionalProperties>'
                   ).find(".//t:Contact")
    assert [child.tag.split("}")[1] for child in contact] == ["ItemId", "CompanyName"]


# ---------------------------------------------------------------- IndexedPageItemView

def _page(ews, max_entries: int, offset: int, base_point: str) -> object:
    return ews.call(f'''<m:FindItem Traversal="Shallow">
      <m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>
        <t:FieldURI FieldURI="contacts:DisplayName"/></t:AdditionalProperties></m:ItemShape>
      <m:IndexedPageItemView MaxEntriesReturned="{max_entries}" Offset="{offset}" BasePoint="{base_point}"/>
      <m:SortOrder><t:FieldOrder Order="Ascending"><t:FieldURI FieldURI="contacts:DisplayName"/></t:FieldOrder>
      </m:SortOrder>
      <m:ParentFolderIds><t:DistinguishedFolderId Id="contacts"/></m:ParentFolderIds></m:FindItem>''',
                    impersonate="bob@example.com")


@pytest.fixture
def seven_in_bob(ews):
    names = [f"Page {n}" for n in range(1, 8)]
    for name in names:
        make_contact(ews, name, mailbox="bob@example.com")
    yield names
    ids = "".join(f'<t:ItemId Id="{i.get("Id")}"/>' for i in _page(ews, 100, 0, "Beginning").findall(".//t:ItemId"))
    ews.call(f'<m:DeleteItem DeleteType="HardDelete"><m:ItemIds>{ids}</m:ItemIds></m:DeleteItem>',
             impersonate="bob@example.com")


def _names(answer) -> list[str]:
    return [c.findtext("t:DisplayName", namespaces=NS) for c in answer.findall(".//t:Items/t:Contact")]


def test_indexed_paging_from_the_beginning(ews, seven_in_bob):
    first = _page(ews, 3, 0, "Beginning")
    root = first.find(".//m:RootFolder")
    assert _names(first) == seven_in_bob[:3]
    assert (root.get("IndexedPagingOffset"), root.get("TotalItemsInView"), root.get("IncludesLastItemInRange")) == \
        ("3", "7", "false")
    last = _page(ews, 3, 6, "Beginning")
    assert _names(last) == seven_in_bob[6:]
    assert last.find(".//m:RootFolder").get("IncludesLastItemInRange") == "true"


def test_indexed_paging_from_the_end(ews, seven_in_bob):
    """BasePoint End: Offset counts back from the last item; the page keeps the view's order."""
    tail = _page(ews, 3, 0, "End")
    assert _names(tail) == seven_in_bob[-3:]
    assert tail.find(".//m:RootFolder").get("IndexedPagingOffset") == "3"
    assert tail.find(".//m:RootFolder").get("IncludesLastItemInRange") == "false"
    before = _page(ews, 3, 3, "End")
    assert _names(before) == seven_in_bob[1:4]
    head = _page(ews, 3, 6, "End")
    assert _names(head) == seven_in_bob[:1]
    assert head.find(".//m:RootFolder").get("IncludesLastItemInRange") == "true"


# ---------------------------------------------------------------- RequestServerVersion / ServerVersionInfo

@pytest.mark.parametrize("version, info", [
    ("Exchange2010", ("14", "3", "123", "4", "Exchange2010_SP2")),
    ("Exchange2013", ("15", "0", "1497", "2", "Exchange2013_SP1")),
    ("Exchange2016", ("15", "1", "2507", "6", "Exchange2016")),
    ("Exchange2019", ("15", "2", "1748", "10", "Exchange2016")),
    ("ExchangeSE", ("15", "2", "2562", "17", "Exchange2016")),
])
def test_server_version_info_of_each_generation(tmp_path, validator, make_client, version, info):
    with Sandbox(tmp_path / "state", version=version, schema_dir=validator.directory) as sb:
        sb.add_mailbox(ALICE)
        ews = make_client(sb)
        speaks = "Exchange2010_SP2" if version == "Exchange2010" else "Exchange2013_SP1"
        answer = ews.call(GET_CONTACTS_FOLDER, version=speaks)
        header = answer.find("s:Header/t:ServerVersionInfo")
        assert tuple(header.get(a) for a in ("MajorVersion", "MinorVersion", "MajorBuildNumber",
                                             "MinorBuildNumber", "Version")) == info
        newest = ews.post(envelope(GET_CONTACTS_FOLDER, version="Exchange2016", impersonate=ALICE))
        if version in ("Exchange2010", "Exchange2013"):      # too new for them: refused, not a schema fault
            assert (newest.status, newest.fault_code) == (500, "ErrorInvalidServerVersion")
        else:                                                 # 2019 and SE have no newer value than Exchange2016
            assert (newest.status, newest.codes) == (200, ["NoError"])
