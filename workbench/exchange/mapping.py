"""Exchange Contact <-> store row: the field map, the CRM-id extended property, the content hash.

Field map (store column -> exchangelib Contact field):

=============== ==============================================================
given_name      given_name
surname         surname
(computed)      display_name = "given_name surname" (or e-mail / company)
email           email_addresses[EmailAddress1]
business_phone  phone_numbers[BusinessPhone]
mobile_phone    phone_numbers[MobilePhone]
home_phone      phone_numbers[HomePhone]
company         company_name
job_title       job_title
street, city,   physical_addresses[Business].street / city / state / zipcode / country
state, postal_code, country
categories      categories (the sync category is added on the first push)
private         sensitivity == "Private"
crm_id          ExtendedProperty CrmContactId in our own property set (CRM_ID_PROPERTY_SET)
=============== ==============================================================

Photos and every other Contact field are never read nor written.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from exchangelib import Contact, ExtendedProperty
from exchangelib.indexed_properties import EmailAddress, PhoneNumber, PhysicalAddress

from workbench.fields import CONTACT_FIELDS, CRM_ID_PROPERTY_NAME, CRM_ID_PROPERTY_SET, clean_value

CRM_ID_FIELD = "crm_id"

PHONES = (("business_phone", "BusinessPhone"), ("mobile_phone", "MobilePhone"), ("home_phone", "HomePhone"))
ADDRESS = (("street", "street"), ("city", "city"), ("state", "state"), ("postal_code", "zipcode"),
           ("country", "country"))
ADDRESS_LABEL = "Business"

#: Contact fields read for a snapshot (only these are fetched; never photos, bodies, ...)
SNAPSHOT_FIELDS = ("given_name", "surname", "email_addresses", "phone_numbers", "company_name", "job_title",
                   "physical_addresses", "categories", "sensitivity", CRM_ID_FIELD)
#: Contact fields written by an update from the CRM
UPDATE_FIELDS = ("given_name", "surname", "display_name", "email_addresses", "phone_numbers", "company_name",
                 "job_title", "physical_addresses", "categories", CRM_ID_FIELD)
STAMP_FIELDS = ("categories", CRM_ID_FIELD)


class CrmId(ExtendedProperty):
    property_set_id = CRM_ID_PROPERTY_SET
    property_name = CRM_ID_PROPERTY_NAME
    property_type = "String"


def register() -> None:
    """Register the CRM-id property on Contact (idempotent; class-global in exchangelib).

    A different property registered under the same name (another library, a test) is replaced.
    """
    field = next((f for f in Contact.FIELDS if f.name == CRM_ID_FIELD), None)
    if field is not None and getattr(field, "value_cls", None) is CrmId:
        return
    if field is not None:
        Contact.deregister(CRM_ID_FIELD)
    Contact.register(CRM_ID_FIELD, CrmId)


register()


def contact_to_row(contact: Any) -> dict[str, Any]:
    """The store row (exchange_contacts columns without operator/hash) of an exchangelib Contact."""
    row: dict[str, Any] = {f: None for f in CONTACT_FIELDS}
    row["item_id"] = contact.id
    row["change_key"] = contact.changekey
    row["crm_id"] = clean_value(getattr(contact, CRM_ID_FIELD, None))
    row["categories"] = list(contact.categories or [])
    row["private"] = (contact.sensitivity or "Normal") == "Private"
    row["given_name"] = clean_value(contact.given_name)
    row["surname"] = clean_value(contact.surname)
    row["company"] = clean_value(contact.company_name)
    row["job_title"] = clean_value(contact.job_title)
    for e in contact.email_addresses or []:
        if e.label == "EmailAddress1":
            row["email"] = clean_value(e.email)
    for p in contact.phone_numbers or []:
        for col, label in PHONES:
            if p.label == label:
                row[col] = clean_value(p.phone_number)
    for a in contact.physical_addresses or []:
        if a.label == ADDRESS_LABEL:
            for col, attr in ADDRESS:
                row[col] = clean_value(getattr(a, attr, None))
    return row


def display_name(fields: Mapping[str, Any]) -> str:
    name = " ".join(p for p in (clean_value(fields.get("given_name")), clean_value(fields.get("surname"))) if p)
    return name or clean_value(fields.get("email")) or clean_value(fields.get("company")) or "(no name)"


def contact_values(fields: Mapping[str, Any], *, crm_id: str | None, categories: Iterable[str],
                   private: bool | None = None) -> dict[str, Any]:
    """exchangelib Contact keyword values for the mapped fields of a CRM row."""
    email = clean_value(fields.get("email"))
    phones = [PhoneNumber(label=label, phone_number=clean_value(fields.get(col)))
              for col, label in PHONES if clean_value(fields.get(col))]
    parts = {attr: clean_value(fields.get(col)) for col, attr in ADDRESS}
    address = [PhysicalAddress(label=ADDRESS_LABEL, **parts)] if any(parts.values()) else None
    values: dict[str, Any] = {
        "given_name": clean_value(fields.get("given_name")),
        "surname": clean_value(fields.get("surname")),
        "display_name": display_name(fields),
        "email_addresses": [EmailAddress(label="EmailAddress1", email=email)] if email else None,
        "phone_numbers": phones or None,
        "company_name": clean_value(fields.get("company")),
        "job_title": clean_value(fields.get("job_title")),
        "physical_addresses": address,
        "categories": list(dict.fromkeys(categories)) or None,
        CRM_ID_FIELD: crm_id,
    }
    if private is not None:
        values["sensitivity"] = "Private" if private else "Normal"
    return values


def new_contact(account: Any, fields: Mapping[str, Any], *, crm_id: str, categories: Iterable[str],
                private: bool = False) -> Contact:
    return Contact(account=account, folder=account.contacts,
                   **contact_values(fields, crm_id=crm_id, categories=categories, private=private))


def updated_contact(account: Any, item_id: str, change_key: str | None, fields: Mapping[str, Any] | None, *,
                    crm_id: str, categories: Iterable[str]) -> tuple[Contact, list[str]]:
    """A Contact carrying id/changekey and the values to set, with the field names to send.

    ``fields`` None = only the bookkeeping (CRM id and categories).
    """
    if fields is None:
        values = {"categories": list(dict.fromkeys(categories)) or None, CRM_ID_FIELD: crm_id}
        names = list(STAMP_FIELDS)
    else:
        values = contact_values(fields, crm_id=crm_id, categories=categories)
        names = list(UPDATE_FIELDS)
    contact = Contact(account=account, folder=account.contacts, id=item_id, changekey=change_key, **values)
    return contact, names
