"""GetFolder and FindFolder."""
from __future__ import annotations

from lxml import etree

from .context import Context
from .items import FOLDER_CK
from .soap import EwsError, Responses, m, sub, t
from .store import Folder

FOLDER_ELEMENT = {"IPF.Contact": "ContactsFolder", "IPF.Appointment": "CalendarFolder", "IPF.Task": "TasksFolder"}


def render_folder(ctx: Context, folder: Folder, parent: etree._Element) -> None:
    tag = FOLDER_ELEMENT.get(folder.folder_class, "Folder")
    node = sub(parent, t(tag))
    sub(node, t("FolderId"), Id=folder.id, ChangeKey=FOLDER_CK)
    if folder.parent_id:
        sub(node, t("ParentFolderId"), Id=folder.parent_id, ChangeKey=FOLDER_CK)
    if folder.folder_class:
        sub(node, t("FolderClass"), folder.folder_class)
    sub(node, t("DisplayName"), folder.display_name)
    sub(node, t("TotalCount"), str(len(folder.items)))
    sub(node, t("ChildFolderCount"), str(len(ctx.require_mailbox().children(folder.id))))
    if tag in ("Folder", "TasksFolder"):
        sub(node, t("UnreadCount"), "0")


def get_folder(ctx: Context, op: etree._Element) -> Responses:
    out = Responses("GetFolder")
    ids = op.find(m("FolderIds"))
    for ref in ids if ids is not None else ():
        try:
            with ctx.store.lock:
                folder = ctx.folder(ref)
                msg = out.success()
                render_folder(ctx, folder, sub(msg, m("Folders")))
        except EwsError as err:
            out.error(err, ("Folders",))
    return out


def find_folder(ctx: Context, op: etree._Element) -> Responses:
    out = Responses("FindFolder")
    deep = op.get("Traversal", "Shallow") == "Deep"
    view = op.find(m("IndexedPageFolderView"))
    offset = int(view.get("Offset", "0")) if view is not None else 0
    limit = int(view.get("MaxEntriesReturned", "0")) if view is not None and view.get("MaxEntriesReturned") else None
    parents = op.find(m("ParentFolderIds"))
    for ref in parents if parents is not None else ():
        try:
            with ctx.store.lock:
                root = ctx.folder(ref)
                mailbox = ctx.require_mailbox()
                found: list[Folder] = []
                stack = [root]
                while stack:
                    for child in mailbox.children(stack.pop().id):
                        found.append(child)
                        if deep:
                            stack.append(child)
                page = found[offset:offset + limit] if limit is not None else found[offset:]
                msg = out.success()
                rf = sub(msg, m("RootFolder"), IndexedPagingOffset=str(offset + len(page)),
                         TotalItemsInView=str(len(found)),
                         IncludesLastItemInRange="true" if offset + len(page) >= len(found) else "false")
                folders = sub(rf, t("Folders"))
                for folder in page:
                    render_folder(ctx, folder, folders)
        except EwsError as err:
            out.error(err)
    return out
