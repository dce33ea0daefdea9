"""ConvertId (version discovery) and ResolveNames (primary SMTP address of an alias)."""
from __future__ import annotations

import base64

from lxml import etree

from .context import Context
from .items import is_item_id
from .soap import EwsError, Responses, m, sub, t
from .store import Mailbox

FORMATS = ("EwsId", "EwsLegacyId", "EntryId", "HexEntryId", "StoreId", "OwaId")


def _to_raw(value: str, fmt: str) -> bytes:
    try:
        if fmt == "HexEntryId":
            return bytes.fromhex(value)
        return base64.b64decode(value, validate=True)
    except ValueError:
        raise EwsError("ErrorInvalidIdMalformed", "Id is malformed.") from None


def convert_id(ctx: Context, op: etree._Element) -> Responses:
    """EwsId, EntryId and HexEntryId all carry the item's PR_ENTRYID bytes (``items.entry_id``): base64 or hex."""
    out = Responses("ConvertId")
    destination = op.get("DestinationFormat", "EwsId")
    ids = op.find(m("SourceIds"))
    for alt in ids if ids is not None else ():
        try:
            if destination not in FORMATS or alt.get("Format") not in FORMATS:
                raise EwsError("ErrorInvalidIdMalformed", "Unknown id format.")
            raw = _to_raw(alt.get("Id", ""), alt.get("Format", ""))
            if not is_item_id(base64.b64encode(raw).decode()) or ctx.store.find_mailbox(alt.get("Mailbox", "")) is None:
                raise EwsError("ErrorInvalidIdMalformed", "Id is malformed.")
            converted = raw.hex().upper() if destination == "HexEntryId" else base64.b64encode(raw).decode()
            msg = out.success()
            node = etree.SubElement(msg, m("AlternateId"), {"Format": destination, "Id": converted,
                                                            "Mailbox": alt.get("Mailbox", "")})
            node.set("{http://www.w3.org/2001/XMLSchema-instance}type", "t:AlternateIdType")
        except EwsError as err:
            out.error(err)
    return out


def _candidates(ctx: Context, entry: str) -> list[Mailbox]:
    text = entry.strip().lower()
    if text.startswith("smtp:"):
        text = text[5:]
    exact = ctx.store.find_mailbox(text)
    if exact is not None:
        return [exact]
    # ambiguous name resolution: prefix of an address, an alias or the display name
    return [mb for mb in ctx.store.mailboxes.values()
            if text and (mb.display_name.lower().startswith(text)
                         or any(a.startswith(text) for a in (mb.primary, *mb.aliases)))]


def resolve_names(ctx: Context, op: etree._Element) -> Responses:
    out = Responses("ResolveNames")
    for entry in op.iterfind(m("UnresolvedEntry")):
        with ctx.store.lock:
            found = sorted(_candidates(ctx, entry.text or ""), key=lambda mb: mb.primary)
        if not found:
            out.error(EwsError("ErrorNameResolutionNoResults", "No results were found."))
            continue
        if len(found) == 1:
            msg = out.success()
        else:
            msg = out.error(EwsError("ErrorNameResolutionMultipleResults",
                                     "Multiple results were found."), warning=True)
            out.errors -= 1
        res_set = sub(msg, m("ResolutionSet"), TotalItemsInView=str(len(found)), IncludesLastItemInRange="true")
        for mb in found:
            box = sub(sub(res_set, t("Resolution")), t("Mailbox"))
            sub(box, t("Name"), mb.display_name)
            sub(box, t("EmailAddress"), mb.primary)
            sub(box, t("RoutingType"), "SMTP")
            sub(box, t("MailboxType"), "Mailbox")
    return out
