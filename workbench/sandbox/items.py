"""Mailbox items (contacts and messages): storage form, XML parsing and XML rendering.

An item keeps each EWS element in one of a few generic shapes so that any
field exchangelib sends round-trips: plain text, string lists, indexed
dictionaries (e-mail addresses, phone numbers, IM addresses), physical
addresses, raw XML for complex elements (body, recipients), and extended
properties keyed by their property identity. Rendering follows the element
order of types.xsd (ItemType, then ContactItemType or MessageType).
"""
from __future__ import annotations

import base64
import datetime as dt
import os
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from .soap import EwsError, local, sub, t

ITEM_ORDER = (
    'MimeContent', 'ItemId', 'ParentFolderId', 'ItemClass', 'Subject', 'Sensitivity', 'Body', 'Attachments',
    'DateTimeReceived', 'Size', 'Categories', 'Importance', 'InReplyTo', 'IsSubmitted', 'IsDraft', 'IsFromMe',
    'IsResend', 'IsUnmodified', 'InternetMessageHeaders', 'DateTimeSent', 'DateTimeCreated', 'ResponseObjects',
    'ReminderDueBy', 'ReminderIsSet', 'ReminderNextTime', 'ReminderMinutesBeforeStart', 'DisplayCc', 'DisplayTo',
    'DisplayBcc', 'HasAttachments', 'ExtendedProperty', 'Culture', 'EffectiveRights', 'LastModifiedName',
    'LastModifiedTime', 'IsAssociated', 'WebClientReadFormQueryString', 'WebClientEditFormQueryString',
    'ConversationId', 'UniqueBody', 'Flag', 'StoreEntryId', 'InstanceKey', 'NormalizedBody',
    'EntityExtractionResult', 'PolicyTag', 'ArchiveTag', 'RetentionDate', 'Preview', 'RightsManagementLicenseData',
    'PredictedActionReasons', 'IsClutter', 'BlockStatus', 'HasBlockedImages', 'TextBody', 'IconIndex', 'SearchKey',
    'SortKey', 'Hashtags', 'Mentions', 'MentionedMe', 'MentionsPreview', 'MentionsEx', 'AppliedHashtags',
    'AppliedHashtagsPreview', 'Likes', 'LikesPreview', 'PendingSocialActivityTagIds', 'AtAllMention', 'CanDelete',
    'InferenceClassification',
)
CONTACT_ORDER = (
    'FileAs', 'FileAsMapping', 'DisplayName', 'GivenName', 'Initials', 'MiddleName', 'Nickname', 'CompleteName',
    'CompanyName', 'EmailAddresses', 'AbchEmailAddresses', 'PhysicalAddresses', 'PhoneNumbers', 'AssistantName',
    'Birthday', 'BusinessHomePage', 'Children', 'Companies', 'ContactSource', 'Department', 'Generation',
    'ImAddresses', 'JobTitle', 'Manager', 'Mileage', 'OfficeLocation', 'PostalAddressIndex', 'Profession',
    'SpouseName', 'Surname', 'WeddingAnniversary', 'HasPicture', 'PhoneticFullName', 'PhoneticFirstName',
    'PhoneticLastName', 'Alias', 'Notes', 'Photo', 'UserSMIMECertificate', 'MSExchangeCertificate', 'DirectoryId',
    'ManagerMailbox', 'DirectReports', 'AccountName', 'IsAutoUpdateDisabled', 'IsMessengerEnabled', 'Comment',
    'ContactShortId', 'ContactType', 'Gender', 'IsHidden', 'ObjectId', 'PassportId', 'IsPrivate', 'SourceId',
    'TrustLevel', 'CreatedBy', 'Urls', 'Cid', 'SkypeAuthCertificate', 'SkypeContext', 'SkypeId',
    'SkypeRelationship', 'YomiNickname', 'XboxLiveTag', 'InviteFree', 'HidePresenceAndProfile', 'IsPendingOutbound',
    'SupportGroupFeeds', 'UserTileHash', 'UnifiedInbox', 'Mris', 'Wlid', 'AbchContactId', 'NotInBirthdayCalendar',
    'ShellContactType', 'ImMri', 'PresenceTrustLevel', 'OtherMri', 'ProfileLastChanged', 'MobileIMEnabled',
    'PartnerNetworkProfilePhotoUrl', 'PartnerNetworkThumbnailPhotoUrl', 'PersonId', 'ConversationGuid',
)
MESSAGE_ORDER = (
    'Sender', 'ToRecipients', 'CcRecipients', 'BccRecipients', 'IsReadReceiptRequested',
    'IsDeliveryReceiptRequested', 'ConversationIndex', 'ConversationTopic', 'From', 'InternetMessageId', 'IsRead',
    'IsResponseRequested', 'References', 'ReplyTo', 'ReceivedBy', 'ReceivedRepresenting', 'ApprovalRequestData',
    'VotingInformation', 'ReminderMessageData', 'SenderSMTPAddress', 'MailboxGuids', 'MailboxGuid',
)
KIND_ORDER = {"Contact": ITEM_ORDER + CONTACT_ORDER, "Message": ITEM_ORDER + MESSAGE_ORDER}
ITEM_CLASS = {"Contact": "IPM.Contact", "Message": "IPM.Note"}

LIST_FIELDS = {"Categories", "Children", "Companies"}
INDEXED_FIELDS = {"EmailAddresses", "PhoneNumbers", "ImAddresses"}
ADDRESS_PARTS = ("Street", "City", "State", "CountryOrRegion", "PostalCode")
# FieldURI names that differ from the element that holds them
URI_TO_ELEMENT = {"EmailAddress": "EmailAddresses", "PhoneNumber": "PhoneNumbers", "ImAddress": "ImAddresses",
                  "PhysicalAddress": "PhysicalAddresses"}
# elements the server computes; what a client sends for them is ignored
COMPUTED = {"MimeContent", "ItemId", "ParentFolderId", "ItemClass", "DateTimeReceived", "Size", "DateTimeCreated",
            "LastModifiedTime", "HasAttachments", "IsAssociated", "Attachments", "EffectiveRights", "CompleteName",
            "ConversationId", "LastModifiedName", "DateTimeSent", "IsSubmitted", "IsDraft", "IsFromMe",
            "ResponseObjects", "DisplayTo", "DisplayCc", "DisplayBcc", "IsUnmodified", "IsResend", "HasPicture",
            "InstanceKey", "StoreEntryId", "TextBody", "UniqueBody", "NormalizedBody", "Preview", "WebClientReadFormQueryString",
            "WebClientEditFormQueryString", "ReminderNextTime"}
DATETIME_FIELDS = {"DateTimeReceived", "DateTimeCreated", "LastModifiedTime", "DateTimeSent", "ReminderDueBy",
                   "Birthday", "WeddingAnniversary", "ReminderNextTime"}
NUMERIC_FIELDS = {"Size", "ReminderMinutesBeforeStart"}


def fmt_time(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def new_id(prefix: bytes) -> str:
    return base64.b64encode(prefix + os.urandom(24)).decode()


def is_item_id(value: str) -> bool:
    try:
        return base64.b64decode(value, validate=True).startswith(b"SBXI")
    except (ValueError, TypeError):
        return False


def new_changekey(version: int) -> str:
    return base64.b64encode(b"CQAA" + version.to_bytes(4, "big") + os.urandom(8)).decode()


# ---------------------------------------------------------------- extended properties

EXT_ATTRS = ("DistinguishedPropertySetId", "PropertySetId", "PropertyTag", "PropertyName", "PropertyId",
             "PropertyType")


def ext_key(uri: etree._Element | dict[str, str]) -> str:
    """Identity of an extended property (its type included), independent of letter case and tag notation."""
    a = dict(uri.attrib) if isinstance(uri, etree._Element) else uri
    tag = a.get("PropertyTag", "")
    if tag:
        tag = str(int(tag, 16) if tag.lower().startswith("0x") else int(tag))
    return "|".join([(a.get("PropertySetId") or a.get("DistinguishedPropertySetId") or "").lower(), tag,
                     a.get("PropertyName", ""), a.get("PropertyId", ""), a.get("PropertyType", "")])


# PR_ENTRYID (PropertyTag 0x0FFF, Binary): computed from the item id; ConvertId's EntryId/HexEntryId encode the
# same bytes (see ops_misc.convert_id).
ENTRYID_ATTRS = {"PropertyTag": "0xfff", "PropertyType": "Binary"}
ENTRYID_KEY = ext_key(ENTRYID_ATTRS)


def entry_id(item_id: str) -> bytes:
    return base64.b64decode(item_id)


# ---------------------------------------------------------------- the item


@dataclass
class Item:
    id: str
    kind: str                      # "Contact" or "Message"
    folder_id: str
    created: dt.datetime
    modified: dt.datetime
    version: int = 1
    changekey: str = ""
    text: dict[str, str] = field(default_factory=dict)
    lists: dict[str, list[str]] = field(default_factory=dict)
    indexed: dict[str, dict[str, str]] = field(default_factory=dict)
    addresses: dict[str, dict[str, str]] = field(default_factory=dict)
    raw: dict[str, str] = field(default_factory=dict)          # element name -> serialized XML
    ext: dict[str, tuple[dict[str, str], Any]] = field(default_factory=dict)  # key -> (URI attrs, str | list)
    seq: int = 0                   # folder change sequence of the last change
    created_seq: int = 0

    def __post_init__(self) -> None:
        if not self.changekey:
            self.changekey = new_changekey(self.version)

    # --- views used by tests, restrictions and fault matching
    def ext_values(self) -> list[str]:
        out: list[str] = []
        for _attrs, value in self.ext.values():
            out.extend(value if isinstance(value, list) else [value])
        return out

    def as_dict(self) -> dict[str, Any]:
        """A plain-dict view (what ``Sandbox.mailbox()`` shows to tests)."""
        d: dict[str, Any] = {"item_id": self.id, "changekey": self.changekey, "kind": self.kind,
                             "created": fmt_time(self.created), "last_modified_time": fmt_time(self.modified)}
        names = {"GivenName": "given_name", "Surname": "surname", "DisplayName": "display_name",
                 "CompanyName": "company_name", "JobTitle": "job_title", "FileAs": "file_as",
                 "Sensitivity": "sensitivity", "Subject": "subject", "Importance": "importance"}
        for el, key in names.items():
            d[key] = self.text.get(el)
        d["categories"] = list(self.lists.get("Categories", []))
        d["email_addresses"] = dict(self.indexed.get("EmailAddresses", {}))
        d["phone_numbers"] = dict(self.indexed.get("PhoneNumbers", {}))
        d["physical_addresses"] = {k: dict(v) for k, v in self.addresses.items()}
        d["extended_properties"] = {(a.get("PropertyName") or a.get("PropertyTag") or a.get("PropertyId")): v
                                    for a, v in self.ext.values()}
        if "Body" in self.raw:
            d["body"] = "".join(etree.fromstring(self.raw["Body"]).itertext())
        for el in ("ToRecipients", "CcRecipients", "BccRecipients"):
            if el in self.raw:
                d[el[:-10].lower() + "_recipients"] = [e.text for e in etree.fromstring(self.raw[el]).iter(
                    t("EmailAddress"))]
        return d

    def size(self) -> int:
        n = 200 + sum(len(v) for v in self.text.values()) + sum(len(v) for v in self.raw.values())
        return n + sum(len(s) for v in self.lists.values() for s in v)

    # --- persistence
    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "folder_id": self.folder_id, "created": fmt_time(self.created),
                "modified": self.modified.isoformat(), "version": self.version, "changekey": self.changekey,
                "text": self.text, "lists": self.lists, "indexed": self.indexed, "addresses": self.addresses,
                "raw": self.raw, "ext": [[a, v] for a, v in self.ext.values()], "seq": self.seq,
                "created_seq": self.created_seq}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Item":
        ext = {ext_key(a): (a, v) for a, v in d.get("ext", [])}
        return cls(id=d["id"], kind=d["kind"], folder_id=d["folder_id"], created=parse_time(d["created"]),
                   modified=dt.datetime.fromisoformat(d["modified"]), version=d["version"],
                   changekey=d["changekey"], text=d["text"], lists=d["lists"], indexed=d["indexed"],
                   addresses=d["addresses"], raw=d["raw"], ext=ext, seq=d["seq"], created_seq=d["created_seq"])

    # --- applying client XML
    def apply_element(self, child: etree._Element, append: bool = False) -> None:
        """Store one child element of t:Contact / t:Message (CreateItem, or the value of a SetItemField)."""
        name = local(child)
        if name == "ExtendedProperty":
            uri = child.find(t("ExtendedFieldURI"))
            if uri is None:
                raise EwsError("ErrorInvalidExtendedProperty", "ExtendedProperty without ExtendedFieldURI.")
            values = child.find(t("Values"))
            value: Any = [v.text or "" for v in values] if values is not None else (
                child.findtext(t("Value")) or "")
            self.ext[ext_key(uri)] = ({k: v for k, v in uri.attrib.items() if k in EXT_ATTRS}, value)
        elif name in COMPUTED:
            return
        elif name in LIST_FIELDS:
            values = [s.text or "" for s in child]
            current = self.lists.get(name, []) if append else []
            self.lists[name] = current + [v for v in values if v not in current]
        elif name in INDEXED_FIELDS:
            entries = self.indexed.setdefault(name, {})
            for entry in child:
                entries[entry.get("Key")] = entry.text or ""
        elif name == "PhysicalAddresses":
            for entry in child:
                parts = self.addresses.setdefault(entry.get("Key"), {})
                for part in entry:
                    parts[local(part)] = part.text or ""
        elif len(child) or child.attrib:
            if append and name in self.raw:
                old = etree.fromstring(self.raw[name])
                for grandchild in child:
                    old.append(grandchild)
                if old.text is not None or child.text:
                    old.text = (old.text or "") + (child.text or "")
                self.raw[name] = etree.tostring(old).decode()
            else:
                self.raw[name] = etree.tostring(child).decode()
        else:
            self.text[name] = ((self.text.get(name, "") if append else "") + (child.text or ""))

    def delete_path(self, path: etree._Element) -> None:
        """DeleteItemField: remove the field, the indexed entry, the address part or the extended property."""
        kind = local(path)
        if kind == "ExtendedFieldURI":
            self.ext.pop(ext_key(path), None)
            return
        uri = path.get("FieldURI", "")
        name = element_for_uri(uri)
        if kind == "IndexedFieldURI":
            index = path.get("FieldIndex")
            if name == "PhysicalAddresses":
                part = uri.split(":")[2] if uri.count(":") == 2 else None
                entry = self.addresses.get(index)
                if entry is not None:
                    if part is None:
                        del self.addresses[index]
                    else:
                        entry.pop(part, None)
                        if not entry:
                            del self.addresses[index]
            else:
                self.indexed.get(name, {}).pop(index, None)
                if name in self.indexed and not self.indexed[name]:
                    del self.indexed[name]
            return
        if name == "DisplayName" and self.kind == "Contact":
            raise EwsError("ErrorInvalidPropertyDelete", "DisplayName cannot be deleted.")
        for store in (self.text, self.lists, self.indexed, self.raw):
            store.pop(name, None)
        if name == "PhysicalAddresses":
            self.addresses.clear()

    # --- values for restrictions
    def values(self, path: etree._Element) -> list[str]:
        kind = local(path)
        if kind == "ExtendedFieldURI":
            found = self.ext.get(ext_key(path))
            if found is None:
                return []
            return list(found[1]) if isinstance(found[1], list) else [found[1]]
        uri = path.get("FieldURI", "")
        name = element_for_uri(uri)
        if kind == "IndexedFieldURI":
            index = path.get("FieldIndex")
            if name == "PhysicalAddresses":
                part = uri.split(":")[2] if uri.count(":") == 2 else None
                value = self.addresses.get(index, {}).get(part) if part else None
            else:
                value = self.indexed.get(name, {}).get(index)
            return [] if value is None else [value]
        computed = self.computed_text(name)
        if computed is not None:
            return [computed]
        if name in self.text:
            return [self.text[name]]
        if name in self.lists:
            return list(self.lists[name])
        if name in self.indexed:
            return list(self.indexed[name].values())
        if name in self.raw:
            return ["".join(etree.fromstring(self.raw[name]).itertext())]
        return []

    def computed_text(self, name: str) -> str | None:
        if name == "ItemClass":
            return ITEM_CLASS[self.kind]
        if name in ("DateTimeCreated", "DateTimeReceived"):
            return fmt_time(self.created)
        if name == "LastModifiedTime":
            return fmt_time(self.modified)
        if name == "Size":
            return str(self.size())
        if name in ("HasAttachments", "IsAssociated"):
            return "false"
        return None


def element_for_uri(uri: str) -> str:
    """'contacts:PhoneNumber' -> 'PhoneNumbers', 'item:Categories' -> 'Categories'."""
    parts = uri.split(":")
    name = parts[1] if len(parts) > 1 else parts[0]
    return URI_TO_ELEMENT.get(name, name)


# ---------------------------------------------------------------- shapes and rendering


@dataclass
class Shape:
    """What an ItemShape asks for: the first-class properties (Default/AllProperties) or ItemId, plus the
    additional properties. Extended properties come back only when asked for by ExtendedFieldURI, as in
    Exchange: AllProperties holds first-class properties only."""
    everything: bool = False
    names: set[str] = field(default_factory=set)
    indexed: dict[str, set[str] | None] = field(default_factory=dict)   # element -> keys (None = all)
    ext: set[str] = field(default_factory=set)

    @classmethod
    def parse(cls, shape_el: etree._Element | None) -> "Shape":
        shape = cls()
        if shape_el is None:
            return shape
        base = shape_el.findtext(t("BaseShape")) or "IdOnly"
        shape.everything = base in ("Default", "AllProperties")
        props = shape_el.find(t("AdditionalProperties"))
        for path in props if props is not None else ():
            kind = local(path)
            if kind == "ExtendedFieldURI":
                shape.ext.add(ext_key(path))
                continue
            name = element_for_uri(path.get("FieldURI", ""))
            if kind == "IndexedFieldURI":
                keys = shape.indexed.setdefault(name, set())
                if keys is not None:
                    keys.add(path.get("FieldIndex", ""))
            else:
                shape.names.add(name)
                if name in INDEXED_FIELDS or name == "PhysicalAddresses":
                    shape.indexed[name] = None
        return shape

    def wants(self, name: str) -> bool:
        return self.everything or name in self.names or name in self.indexed

    def keys(self, name: str) -> set[str] | None:
        return None if self.everything or name in self.names else self.indexed.get(name)


FOLDER_CK = "AQAAABYAAAA="


def render(item: Item, parent: etree._Element, shape: Shape) -> etree._Element:
    node = sub(parent, t(item.kind))
    for name in KIND_ORDER[item.kind]:
        if name == "ItemId":
            sub(node, t("ItemId"), Id=item.id, ChangeKey=item.changekey)
        elif name == "ExtendedProperty":
            found = [entry for key, entry in item.ext.items() if key in shape.ext]
            if ENTRYID_KEY in shape.ext:
                found.append((ENTRYID_ATTRS, base64.b64encode(entry_id(item.id)).decode()))
            for attrs, value in found:
                prop = sub(node, t("ExtendedProperty"))
                sub(prop, t("ExtendedFieldURI"), **attrs)
                if isinstance(value, list):
                    values = sub(prop, t("Values"))
                    for v in value:
                        sub(values, t("Value"), v)
                else:
                    sub(prop, t("Value"), value)
        elif not shape.wants(name):
            continue
        elif name == "ParentFolderId":
            sub(node, t("ParentFolderId"), Id=item.folder_id, ChangeKey=FOLDER_CK)
        elif (value := item.computed_text(name)) is not None:
            sub(node, t(name), value)
        elif name in item.text:
            sub(node, t(name), item.text[name])
        elif name in item.lists and item.lists[name]:
            arr = sub(node, t(name))
            for v in item.lists[name]:
                sub(arr, t("String"), v)
        elif name in item.indexed:
            keys = shape.keys(name)
            entries = [(k, v) for k, v in item.indexed[name].items() if keys is None or k in keys]
            if entries:
                arr = sub(node, t(name))
                for k, v in entries:
                    sub(arr, t("Entry"), v, Key=k)
        elif name == "PhysicalAddresses" and item.addresses:
            keys = shape.keys(name)
            entries = [(k, v) for k, v in item.addresses.items() if keys is None or k in keys]
            if entries:
                arr = sub(node, t(name))
                for k, parts in entries:
                    entry = sub(arr, t("Entry"), Key=k)
                    for part in ADDRESS_PARTS:
                        if part in parts:
                            sub(entry, t(part), parts[part])
        elif name in item.raw:
            node.append(etree.fromstring(item.raw[name]))
    return node

