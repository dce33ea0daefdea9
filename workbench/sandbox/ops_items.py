"""FindItem, GetItem, CreateItem, UpdateItem, DeleteItem, MoveItem."""
from __future__ import annotations

from lxml import etree

from .context import Context
from .items import Item, Shape, element_for_uri, new_id, render
from .restrictions import compile_restriction, sorted_items
from .soap import EwsError, Responses, local, m, sub, t
from .store import Folder, Mailbox, now

PATHS = ("FieldURI", "IndexedFieldURI", "ExtendedFieldURI")


# ---------------------------------------------------------------- FindItem

def _view_ids(folder: Folder, restriction: etree._Element | None, order: etree._Element | None) -> list[str]:
    """Ids in view order. Unfiltered views are the folder's own list (no copy, no sort); filtered or sorted
    views are computed once per folder state and cached, so paging through them stays O(page)."""
    if restriction is None and order is None:
        return folder.ordered_ids()
    key = (etree.tostring(restriction) if restriction is not None else b"",
           etree.tostring(order) if order is not None else b"")
    cached = folder.query_cache.get(key)
    if cached is not None and cached[0] == folder.seq:
        return cached[1]
    items = [folder.items[i] for i in folder.ordered_ids()]
    if restriction is not None:
        predicate = compile_restriction(restriction[0])
        items = [i for i in items if predicate(i)]
    if order is not None:
        items = sorted_items(items, order)
    ids = [i.id for i in items]
    if len(folder.query_cache) > 32:
        folder.query_cache.clear()
    folder.query_cache[key] = (folder.seq, ids)
    return ids


def find_item(ctx: Context, op: etree._Element) -> Responses:
    out = Responses("FindItem")
    shape = Shape.parse(op.find(m("ItemShape")))
    traversal = op.get("Traversal", "Shallow")
    view = op.find(m("IndexedPageItemView"))
    offset = int(view.get("Offset", "0")) if view is not None else 0
    limit = int(view.get("MaxEntriesReturned")) if view is not None and view.get("MaxEntriesReturned") else None
    from_end = view is not None and view.get("BasePoint") == "End"
    restriction = op.find(m("Restriction"))
    order = op.find(m("SortOrder"))
    parents = op.find(m("ParentFolderIds"))
    for ref in parents if parents is not None else ():
        try:
            with ctx.store.lock:
                folder = ctx.folder(ref)
                ids = _view_ids(folder, restriction, order) if traversal == "Shallow" else []
                total = len(ids)
                if from_end:
                    stop = max(0, total - offset)
                    start = max(0, stop - limit) if limit is not None else 0
                else:
                    start = min(offset, total)
                    stop = min(total, start + limit) if limit is not None else total
                msg = out.success()
                next_offset = stop if not from_end else max(0, total - start)
                last = stop >= total if not from_end else start == 0
                root = sub(msg, m("RootFolder"), IndexedPagingOffset=str(next_offset), TotalItemsInView=str(total),
                           IncludesLastItemInRange="true" if last else "false")
                items_el = sub(root, t("Items"))
                for item_id in ids[start:stop]:
                    render(folder.items[item_id], items_el, shape)
        except EwsError as err:
            out.error(err)
    return out


# ---------------------------------------------------------------- GetItem

def get_item(ctx: Context, op: etree._Element) -> Responses:
    out = Responses("GetItem")
    shape = Shape.parse(op.find(m("ItemShape")))
    ids = op.find(m("ItemIds"))
    for ref in ids if ids is not None else ():
        try:
            with ctx.store.lock:
                item = ctx.item(ref)
                render(item, sub(out.success(), m("Items")), shape)
        except EwsError as err:
            out.error(err, ("Items",))
    return out


# ---------------------------------------------------------------- CreateItem

def _recipients(item: Item) -> list[str]:
    found = []
    for name in ("ToRecipients", "CcRecipients", "BccRecipients"):
        if name in item.raw:
            found += [e.text or "" for e in etree.fromstring(item.raw[name]).iter(t("EmailAddress"))]
    return found


def _copy(item: Item, kind_folder: Folder) -> Item:
    clone = Item.from_json(item.to_json())
    clone.id = new_id(b"SBXI")
    clone.folder_id = kind_folder.id
    return clone


def _deliver(ctx: Context, sender: Mailbox, message: Item) -> None:
    """Put a copy of a sent message into the Inbox of each recipient that has a mailbox here."""
    for address in dict.fromkeys(a.lower() for a in _recipients(message)):
        target = ctx.store.find_mailbox(address)
        if target is not None and target is not sender:
            copy = _copy(message, target.by_name["inbox"])
            copy.text["IsRead"] = "false"
            target.create(target.by_name["inbox"], copy)


def create_item(ctx: Context, op: etree._Element) -> Responses:
    out = Responses("CreateItem")
    disposition = op.get("MessageDisposition")
    saved = op.find(m("SavedItemFolderId"))
    items = op.find(m("Items"))
    for node in items if items is not None else ():
        kind = local(node)
        try:
            if kind not in ("Contact", "Message"):
                raise EwsError("ErrorInvalidItemForOperationCreateItem",
                               f"The sandbox stores contacts and messages, not {kind}.")
            with ctx.store.lock:
                mailbox = ctx.require_mailbox()
                stamp = now()
                item = Item(id=new_id(b"SBXI"), kind=kind, folder_id="", created=stamp, modified=stamp)
                for child in node:
                    item.apply_element(child)
                ctx.faults.check_item(item)
                if kind == "Message":
                    if disposition is None:
                        raise EwsError("ErrorMessageDispositionRequired", "MessageDisposition is required.")
                    if disposition != "SaveOnly":
                        if not _recipients(item):
                            raise EwsError("ErrorInvalidRecipients", "At least one recipient is required.")
                        _set_sender(item, mailbox)
                        _deliver(ctx, mailbox, item)
                    if disposition == "SendOnly":
                        sub(out.success(), m("Items"))
                        continue
                    default = "sentitems" if disposition == "SendAndSaveCopy" else "drafts"
                else:
                    default = "contacts"
                folder = ctx.folder(saved[0]) if saved is not None and len(saved) else mailbox.by_name[default]
                mailbox.create(folder, item)
                items_el = sub(out.success(), m("Items"))
                if not (kind == "Message" and disposition == "SendAndSaveCopy"):
                    sub(sub(items_el, t(kind)), t("ItemId"), Id=item.id, ChangeKey=item.changekey)
        except EwsError as err:
            out.error(err, ("Items",))
    return out


def _set_sender(item: Item, mailbox: Mailbox) -> None:
    item.text.setdefault("IsRead", "true")
    if "From" not in item.raw:
        sender = etree.Element(t("From"))
        box = sub(sender, t("Mailbox"))
        sub(box, t("Name"), mailbox.display_name)
        sub(box, t("EmailAddress"), mailbox.primary)
        sub(box, t("RoutingType"), "SMTP")
        item.raw["From"] = etree.tostring(sender).decode()


# ---------------------------------------------------------------- UpdateItem

def _path(change: etree._Element) -> etree._Element:
    for child in change:
        if local(child) in PATHS:
            return child
    raise EwsError("ErrorInvalidPropertyRequest", f"{local(change)} has no property path.")


def _value_element(change: etree._Element, path: etree._Element) -> etree._Element:
    holder = next((c for c in change if local(c) not in PATHS), None)
    if holder is None or not len(holder):
        raise EwsError("ErrorInvalidPropertySet", f"{local(change)} carries no value.")
    if local(path) == "ExtendedFieldURI":
        found = holder.find(t("ExtendedProperty"))
    else:
        found = holder.find(t(element_for_uri(path.get("FieldURI", ""))))
    if found is None:
        raise EwsError("ErrorInvalidPropertySet", "The value does not match the property path.")
    return found


def update_item(ctx: Context, op: etree._Element) -> Responses:
    out = Responses("UpdateItem")
    resolution = op.get("ConflictResolution", "AutoResolve")
    changes = op.find(m("ItemChanges"))
    for change in changes if changes is not None else ():
        try:
            with ctx.store.lock:
                ref = change.find(t("ItemId"))
                if ref is None:
                    raise EwsError("ErrorInvalidIdEmpty", "ItemChange without ItemId.")
                item = ctx.item(ref)
                stale = ref.get("ChangeKey") and ref.get("ChangeKey") != item.changekey
                if stale and resolution == "NeverOverwrite":
                    raise EwsError("ErrorIrresolvableConflict",
                                   "The send or update operation could not be performed because the change key "
                                   "passed in the request does not match the current change key for the item.")
                draft = Item.from_json(item.to_json())
                updates = change.find(t("Updates"))
                for update in updates if updates is not None else ():
                    path = _path(update)
                    verb = local(update)
                    if verb == "DeleteItemField":
                        draft.delete_path(path)
                    else:
                        draft.apply_element(_value_element(update, path), append=verb == "AppendToItemField")
                ctx.faults.check_item(draft)
                for name in ("text", "lists", "indexed", "addresses", "raw", "ext"):
                    setattr(item, name, getattr(draft, name))
                ctx.require_mailbox().modified(item)
                msg = out.success()
                sub(sub(sub(msg, m("Items")), t(item.kind)), t("ItemId"), Id=item.id, ChangeKey=item.changekey)
                sub(sub(msg, m("ConflictResults")), t("Count"), "0")
        except EwsError as err:
            out.error(err, ("Items",))
    return out


# ---------------------------------------------------------------- DeleteItem

def _dispose(mailbox: Mailbox, item: Item, delete_type: str) -> None:
    """HardDelete removes the item; SoftDelete moves it to Recoverable Items\\Deletions (Exchange 2010+:
    at once); MoveToDeletedItems moves it to Deleted Items, and out of Deleted Items into Deletions, as
    Outlook's delete does. Deleting from Deletions removes it (the sandbox has no Purges folder)."""
    trash, dumpster = mailbox.by_name["deleteditems"], mailbox.by_name["recoverableitemsdeletions"]
    target = {"SoftDelete": dumpster, "MoveToDeletedItems": trash}.get(delete_type)
    if target is trash and item.folder_id == trash.id:
        target = dumpster
    if target is None or item.folder_id == dumpster.id:
        mailbox.delete(item)
    else:
        mailbox.move(item, target)


def delete_item(ctx: Context, op: etree._Element) -> Responses:
    out = Responses("DeleteItem")
    delete_type = op.get("DeleteType", "MoveToDeletedItems")
    ids = op.find(m("ItemIds"))
    for ref in ids if ids is not None else ():
        try:
            with ctx.store.lock:
                mailbox = ctx.require_mailbox()
                item = ctx.item(ref)
                ctx.faults.check_item(item)
                _dispose(mailbox, item, delete_type)
                out.success()
        except EwsError as err:
            out.error(err)
    return out


# ---------------------------------------------------------------- MoveItem

def move_item(ctx: Context, op: etree._Element) -> Responses:
    """MoveItem to ToFolderId, e.g. back from Deleted Items or Recoverable Items\\Deletions into Contacts.
    Like Exchange (2010 SP1+) the answer carries each moved item's new id unless ReturnNewItemIds is false."""
    out = Responses("MoveItem")
    target_ref = op.find(m("ToFolderId"))
    new_ids = (op.findtext(m("ReturnNewItemIds")) or "true").strip() != "false"
    ids = op.find(m("ItemIds"))
    for ref in ids if ids is not None else ():
        try:
            with ctx.store.lock:
                mailbox = ctx.require_mailbox()
                target = ctx.folder(target_ref[0])
                item = ctx.item(ref)
                ctx.faults.check_item(item)
                if item.folder_id != target.id:
                    mailbox.move(item, target)
                items_el = sub(out.success(), m("Items"))
                if new_ids:
                    sub(sub(items_el, t(item.kind)), t("ItemId"), Id=item.id, ChangeKey=item.changekey)
        except EwsError as err:
            out.error(err, ("Items",))
    return out
