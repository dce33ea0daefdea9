"""A mailbox contact (the EWS sandbox's Item) as Graph's ``microsoft.graph.contact`` JSON, and back.

Fields Graph has and EWS keeps elsewhere are stored in ``Item.text`` under ``graph:<name>`` (never
rendered to EWS). Extended properties are shared with EWS: the Graph id ``String {guid} Name X`` is the
EWS ``ExtendedFieldURI PropertySetId=guid PropertyName=X PropertyType=String``.
"""
from __future__ import annotations

import re
from typing import Any

from ..items import Item, ext_key, fmt_time
from .ids import rest_id
from .wire import GraphError, parse_time

TEXT = {"givenName": "GivenName", "surname": "Surname", "displayName": "DisplayName", "middleName": "MiddleName",
        "nickName": "Nickname", "initials": "Initials", "companyName": "CompanyName", "jobTitle": "JobTitle",
        "department": "Department", "officeLocation": "OfficeLocation", "profession": "Profession",
        "manager": "Manager", "assistantName": "AssistantName", "spouseName": "SpouseName",
        "generation": "Generation", "fileAs": "FileAs", "businessHomePage": "BusinessHomePage",
        "personalNotes": "Notes", "title": "graph:title", "yomiGivenName": "graph:yomiGivenName",
        "yomiSurname": "graph:yomiSurname", "yomiCompanyName": "graph:yomiCompanyName"}
LISTS = {"categories": "Categories", "children": "Children"}
INDEXED = {"businessPhones": ("PhoneNumbers", ("BusinessPhone", "BusinessPhone2")),
           "homePhones": ("PhoneNumbers", ("HomePhone", "HomePhone2")),
           "imAddresses": ("ImAddresses", ("ImAddress1", "ImAddress2", "ImAddress3"))}
EMAIL_KEYS = ("EmailAddress1", "EmailAddress2", "EmailAddress3")
ADDRESSES = {"businessAddress": "Business", "homeAddress": "Home", "otherAddress": "Other"}
ADDRESS_PARTS = {"street": "Street", "city": "City", "state": "State", "countryOrRegion": "CountryOrRegion",
                 "postalCode": "PostalCode"}
READ_ONLY = ("id", "changeKey", "createdDateTime", "lastModifiedDateTime", "parentFolderId")
# Graph's order of a contact's properties
ORDER = ("id", "createdDateTime", "lastModifiedDateTime", "changeKey", "categories", "parentFolderId", "birthday",
         "fileAs", "displayName", "givenName", "initials", "middleName", "nickName", "surname", "title",
         "yomiGivenName", "yomiSurname", "yomiCompanyName", "generation", "imAddresses", "jobTitle", "companyName",
         "department", "officeLocation", "profession", "businessHomePage", "assistantName", "manager", "homePhones",
         "mobilePhone", "businessPhones", "spouseName", "personalNotes", "children", "emailAddresses", "homeAddress",
         "businessAddress", "otherAddress")
PROPERTIES = frozenset(ORDER)
ENTITY = "microsoft.graph.contact"

PROPERTY_SETS = {  # EWS DistinguishedPropertySetId -> GUID
    "publicstrings": "00020329-0000-0000-c000-000000000046", "common": "00062008-0000-0000-c000-000000000046",
    "address": "00062004-0000-0000-c000-000000000046", "internetheaders": "00020386-0000-0000-c000-000000000046",
    "appointment": "00062002-0000-0000-c000-000000000046", "meeting": "6ed8da90-450b-101b-98da-00aa003f1305",
    "task": "00062003-0000-0000-c000-000000000046", "sharing": "00062040-0000-0000-c000-000000000046",
    "unifiedmessaging": "4442858e-a9e3-4e80-b900-317a210cc15b"}
_NAMED = re.compile(r"^(\w+)\s+\{([0-9a-fA-F-]{36})\}\s+(Name|Id)\s+(\S.*)$")
_TAGGED = re.compile(r"^(\w+)\s+(0x[0-9a-fA-F]{1,4})$")


def etag(item: Item) -> str:
    return f'W/"{item.changekey}"'


# ---------------------------------------------------------------- extended properties

SENSITIVITY_TAG = 0x0036                 # PR_SENSITIVITY: EWS's Sensitivity element, by its MAPI number
SENSITIVITY = ("Normal", "Personal", "Private", "Confidential")

def ext_graph_id(attrs: dict[str, str]) -> str:
    """The Graph id of an EWS extended property: 'String {guid} Name X', 'Integer {guid} Id 0x8005', 'String 0x3001'."""
    kind = attrs.get("PropertyType", "String")
    if attrs.get("PropertyTag"):
        tag = attrs["PropertyTag"]
        number = int(tag, 16) if tag.lower().startswith("0x") else int(tag)
        return f"{kind} 0x{number:04x}"
    guid = (attrs.get("PropertySetId") or PROPERTY_SETS.get(attrs.get("DistinguishedPropertySetId", "").lower(), "")
            ).lower()
    if attrs.get("PropertyName"):
        return f"{kind} {{{guid}}} Name {attrs['PropertyName']}"
    return f"{kind} {{{guid}}} Id 0x{int(attrs.get('PropertyId') or 0):04x}"


def ext_attrs(graph_id: str) -> dict[str, str]:
    """The EWS ExtendedFieldURI attributes for a Graph extended-property id (400 when malformed)."""
    text = graph_id.strip()
    if m := _TAGGED.match(text):
        return {"PropertyTag": m.group(2).lower(), "PropertyType": m.group(1)}
    if m := _NAMED.match(text):
        kind, guid, how, what = m.groups()
        if how == "Name":
            return {"PropertySetId": guid.lower(), "PropertyName": what, "PropertyType": kind}
        try:
            number = int(what, 16) if what.lower().startswith("0x") else int(what)
        except ValueError:
            raise GraphError(400, "ErrorInvalidProperty", f"Extended property id {graph_id!r}: Id must be a "
                             "number.") from None
        return {"PropertySetId": guid.lower(), "PropertyId": str(number), "PropertyType": kind}
    raise GraphError(400, "ErrorInvalidProperty", f"Extended property id {graph_id!r} is not in the form "
                     "'{type} {guid} Name {name}', '{type} {guid} Id {id}' or '{type} {tag}'.")


def _is_sensitivity(attrs: dict[str, str]) -> bool:
    tag = attrs.get("PropertyTag") or ""
    return bool(tag) and int(tag, 16 if tag.lower().startswith("0x") else 10) == SENSITIVITY_TAG


def single_values(item: Item) -> list[dict[str, str]]:
    """The item's single-valued extended properties as Graph lists them; PR_SENSITIVITY is the item's
    Sensitivity (one MAPI property, whichever API set it)."""
    values = [{"id": ext_graph_id(attrs), "value": value} for attrs, value in item.ext.values()
              if not isinstance(value, list) and not _is_sensitivity(attrs)]
    level = item.text.get("Sensitivity")
    if level in SENSITIVITY:
        values.append({"id": f"Integer 0x{SENSITIVITY_TAG:04x}", "value": str(SENSITIVITY.index(level))})
    return values


def _set_sensitivity(item: Item, value: str) -> None:
    if value not in [str(n) for n in range(len(SENSITIVITY))]:
        raise GraphError(400, "ErrorInvalidProperty", f"PR_SENSITIVITY must be 0..{len(SENSITIVITY) - 1}, "
                         f"not {value!r}.")
    item.text["Sensitivity"] = SENSITIVITY[int(value)]


def set_extended(item: Item, entries: Any) -> None:
    if not isinstance(entries, list):
        raise GraphError(400, "RequestBodyRead", "singleValueExtendedProperties must be a collection.")
    current = {ext_graph_id(a).lower(): key for key, (a, _v) in item.ext.items()}
    for entry in entries:
        if not isinstance(entry, dict) or set(entry) - {"id", "value", "@odata.type"} or not isinstance(
                entry.get("id"), str) or not isinstance(entry.get("value"), str):
            raise GraphError(400, "RequestBodyRead", "Each singleValueExtendedProperties entry is an object with "
                                                     "string 'id' and 'value'.")
        attrs = ext_attrs(entry["id"])
        if _is_sensitivity(attrs):
            _set_sensitivity(item, entry["value"])
            continue
        old = current.get(ext_graph_id(attrs).lower())
        if old is not None:
            item.ext.pop(old, None)
        item.ext[ext_key(attrs)] = (attrs, entry["value"])


# ---------------------------------------------------------------- item -> JSON

def prop(item: Item, name: str, folder_rest_id: str) -> Any:
    """One Graph property of the item (also what $filter compares)."""
    if name == "id":
        return rest_id(item.id)
    if name == "createdDateTime":
        return fmt_time(item.created)
    if name == "lastModifiedDateTime":
        return fmt_time(item.modified)
    if name == "changeKey":
        return item.changekey
    if name == "parentFolderId":
        return folder_rest_id
    if name == "birthday":
        return _date_time(item.text.get("Birthday"))
    if name in TEXT:
        return item.text.get(TEXT[name])
    if name in LISTS:
        return list(item.lists.get(LISTS[name], []))
    if name == "mobilePhone":
        return item.indexed.get("PhoneNumbers", {}).get("MobilePhone")
    if name in INDEXED:
        element, keys = INDEXED[name]
        values = item.indexed.get(element, {})
        return [values[k] for k in keys if values.get(k)]
    if name == "emailAddresses":
        emails = item.indexed.get("EmailAddresses", {})
        return [{"name": item.text.get(f"graph:{k}Name", emails[k]), "address": emails[k]}
                for k in EMAIL_KEYS if emails.get(k)]
    if name in ADDRESSES:
        parts = item.addresses.get(ADDRESSES[name], {})
        return {g: parts[e] for g, e in ADDRESS_PARTS.items() if e in parts}
    if name == "singleValueExtendedProperties":
        return single_values(item)
    raise KeyError(name)


def _date_time(text: str | None) -> str | None:
    """EWS may hold a date ('1980-05-17') or a date-time; Graph shows a DateTimeOffset."""
    if not text:
        return None
    try:
        return fmt_time(parse_time(text if "T" in text else text + "T00:00:00Z", "birthday"))
    except GraphError:
        return None


def to_json(item: Item, folder_rest_id: str, select: list[str] | None = None) -> dict[str, Any]:
    names = ORDER if select is None else ["id", *[n for n in ORDER if n in select and n != "id"]]
    out: dict[str, Any] = {"@odata.etag": etag(item)}
    for name in names:
        out[name] = prop(item, name, folder_rest_id)
    return out


# ---------------------------------------------------------------- JSON -> item

def _string(name: str, value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise GraphError(400, "RequestBodyRead", f"Cannot convert the literal '{value}' to the expected type "
                                                 f"'Edm.String' (property {name}).")
    return value


def _strings(name: str, value: Any, limit: int | None = None) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise GraphError(400, "RequestBodyRead", f"{name} must be a collection of strings.")
    if limit is not None and len(value) > limit:
        raise GraphError(400, "ErrorInvalidArgument", f"{name} holds at most {limit} values, not {len(value)}.")
    return value


def _set_text(item: Item, key: str, value: str | None) -> None:
    if value is None or value == "":
        item.text.pop(key, None)
    else:
        item.text[key] = value


def apply(item: Item, body: dict[str, Any]) -> None:
    """Apply a POST/PATCH body to the item (400 naming the property for anything Graph would refuse)."""
    for name, value in body.items():
        if name.startswith("@odata.") or name in READ_ONLY:
            continue
        if name == "singleValueExtendedProperties":
            set_extended(item, value)
        elif name in TEXT:
            _set_text(item, TEXT[name], _string(name, value))
        elif name == "birthday":
            _set_text(item, "Birthday", fmt_time(parse_time(value, name)) if value is not None else None)
        elif name in LISTS:
            item.lists[LISTS[name]] = list(dict.fromkeys(_strings(name, value)))
        elif name == "mobilePhone":
            _set_indexed(item, "PhoneNumbers", {"MobilePhone": _string(name, value)})
        elif name in INDEXED:
            element, keys = INDEXED[name]
            values = _strings(name, value, len(keys))
            _set_indexed(item, element, {k: (values[i] if i < len(values) else None) for i, k in enumerate(keys)})
        elif name == "emailAddresses":
            _set_emails(item, value)
        elif name in ADDRESSES:
            _set_address(item, name, value)
        else:
            raise GraphError(400, "RequestBodyRead", f"The property '{name}' does not exist on type '{ENTITY}' "
                             "or is not supported by the sandbox.")


def _set_indexed(item: Item, element: str, values: dict[str, str | None]) -> None:
    entries = item.indexed.setdefault(element, {})
    for key, value in values.items():
        if value:
            entries[key] = value
        else:
            entries.pop(key, None)
    if not entries:
        item.indexed.pop(element, None)


def _set_emails(item: Item, value: Any) -> None:
    if value is None:
        value = []
    if not isinstance(value, list) or len(value) > 3:
        raise GraphError(400, "ErrorInvalidArgument", "emailAddresses must be a collection of at most 3 "
                                                      "emailAddress objects.")
    addresses: dict[str, str | None] = {}
    for i, key in enumerate(EMAIL_KEYS):
        entry = value[i] if i < len(value) else None
        if entry is not None and (not isinstance(entry, dict) or set(entry) - {"address", "name", "@odata.type"}):
            raise GraphError(400, "RequestBodyRead", "An emailAddress has only 'address' and 'name'.")
        address = _string("emailAddresses.address", entry.get("address")) if entry else None
        addresses[key] = address
        _set_text(item, f"graph:{key}Name", _string("emailAddresses.name", entry.get("name")) if entry else None)
    _set_indexed(item, "EmailAddresses", addresses)


def _set_address(item: Item, name: str, value: Any) -> None:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise GraphError(400, "RequestBodyRead", f"{name} must be a physicalAddress object.")
    parts = {}
    for part, element in ADDRESS_PARTS.items():
        text = _string(f"{name}.{part}", value.get(part))
        if text:
            parts[element] = text
    unknown = set(value) - set(ADDRESS_PARTS) - {"@odata.type"}
    if unknown:
        raise GraphError(400, "RequestBodyRead", f"The property '{sorted(unknown)[0]}' does not exist on type "
                                                 "'microsoft.graph.physicalAddress'.")
    if parts:
        item.addresses[ADDRESSES[name]] = parts
    else:
        item.addresses.pop(ADDRESSES[name], None)
