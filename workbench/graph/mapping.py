"""Graph ``microsoft.graph.contact`` JSON <-> store row: the same field map as EWS (workbench/exchange/mapping.py).

=============== ==============================================================
given_name      givenName
surname         surname
(computed)      displayName = "given_name surname" (or e-mail / company)
email           emailAddresses[0].address
business_phone  businessPhones[0]
mobile_phone    mobilePhone
home_phone      homePhones[0]
company         companyName
job_title       jobTitle
street, city,   businessAddress.street / city / state / postalCode / countryOrRegion
state, postal_code, country
categories      categories
private         PR_SENSITIVITY (single-value extended property ``Integer 0x0036``, 2 = private): the contact
                resource has no sensitivity property
crm_id          single-value extended property ``String {CRM_ID_PROPERTY_SET} Name CRM_ID_PROPERTY_NAME``: the
                very property EWS writes, so an item created over EWS is recognised over Graph
=============== ==============================================================
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from workbench.fields import CONTACT_FIELDS, CRM_ID_PROPERTY_NAME, CRM_ID_PROPERTY_SET, clean_value

CRM_ID_PROPERTY = f"String {{{CRM_ID_PROPERTY_SET}}} Name {CRM_ID_PROPERTY_NAME}"
SENSITIVITY_PROPERTY = "Integer 0x0036"
PRIVATE = "2"
ADDRESS = (("street", "street"), ("city", "city"), ("state", "state"), ("postal_code", "postalCode"),
           ("country", "countryOrRegion"))
SELECT = ",".join(("id", "changeKey", "parentFolderId", "givenName", "surname", "emailAddresses", "businessPhones",
                   "mobilePhone", "homePhones", "companyName", "jobTitle", "businessAddress", "categories"))
EXPAND = (f"singleValueExtendedProperties($filter=id eq '{CRM_ID_PROPERTY}' or "
          f"id eq '{SENSITIVITY_PROPERTY}')")


def _first(values: Any) -> Any:
    return values[0] if isinstance(values, list) and values else None


def _extended(body: Mapping[str, Any]) -> dict[str, str]:
    return {str(e.get("id", "")).lower(): e.get("value") for e in body.get("singleValueExtendedProperties") or []
            if isinstance(e, dict)}


def contact_to_row(body: Mapping[str, Any]) -> dict[str, Any]:
    """The store row (exchange_contacts columns without operator/hash) of a Graph contact."""
    ext = _extended(body)
    row: dict[str, Any] = {f: None for f in CONTACT_FIELDS}
    row["item_id"] = body["id"]
    row["change_key"] = body.get("changeKey") or ""
    row["crm_id"] = clean_value(ext.get(CRM_ID_PROPERTY.lower()))
    row["categories"] = list(body.get("categories") or [])
    row["private"] = str(ext.get(SENSITIVITY_PROPERTY.lower()) or "") == PRIVATE
    row["given_name"] = clean_value(body.get("givenName"))
    row["surname"] = clean_value(body.get("surname"))
    row["email"] = clean_value((_first(body.get("emailAddresses")) or {}).get("address"))
    row["business_phone"] = clean_value(_first(body.get("businessPhones")))
    row["mobile_phone"] = clean_value(body.get("mobilePhone"))
    row["home_phone"] = clean_value(_first(body.get("homePhones")))
    row["company"] = clean_value(body.get("companyName"))
    row["job_title"] = clean_value(body.get("jobTitle"))
    address = body.get("businessAddress") or {}
    for col, name in ADDRESS:
        row[col] = clean_value(address.get(name))
    return row


def display_name(fields: Mapping[str, Any]) -> str:
    name = " ".join(p for p in (clean_value(fields.get("given_name")), clean_value(fields.get("surname"))) if p)
    return name or clean_value(fields.get("email")) or clean_value(fields.get("company")) or "(no name)"


def _one(value: str | None) -> list[str]:
    return [value] if value else []


def contact_body(fields: Mapping[str, Any] | None, *, crm_id: str, categories: Iterable[str],
                 private: bool | None = None) -> dict[str, Any]:
    """The POST/PATCH body: the mapped fields (none when ``fields`` is None: only CRM id and categories)."""
    body: dict[str, Any] = {"categories": list(dict.fromkeys(categories))}
    if fields is not None:
        v = {f: clean_value(fields.get(f)) for f in CONTACT_FIELDS}
        body.update({
            "givenName": v["given_name"], "surname": v["surname"], "displayName": display_name(fields),
            "emailAddresses": [{"address": v["email"], "name": v["email"]}] if v["email"] else [],
            "businessPhones": _one(v["business_phone"]), "mobilePhone": v["mobile_phone"],
            "homePhones": _one(v["home_phone"]), "companyName": v["company"], "jobTitle": v["job_title"],
            "businessAddress": {name: v[col] for col, name in ADDRESS if v[col]},
        })
    props = [{"id": CRM_ID_PROPERTY, "value": crm_id}]
    if private:
        props.append({"id": SENSITIVITY_PROPERTY, "value": PRIVATE})
    body["singleValueExtendedProperties"] = props
    return body
