"""Per-request context and folder resolution shared by the operation handlers."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lxml import etree

from .items import Item, is_item_id
from .soap import EwsError, local, t
from .store import Folder, Mailbox, Store, User

if TYPE_CHECKING:
    from .faults import Faults
    from .notify import Subscriptions


@dataclass
class Context:
    store: Store
    faults: "Faults"
    subscriptions: "Subscriptions"
    user: User
    mailbox: Mailbox | None
    version: str
    minute_seconds: float

    def require_mailbox(self) -> Mailbox:
        if self.mailbox is None:
            raise EwsError("ErrorNonExistentMailbox", f"{self.user.username} has no mailbox.")
        return self.mailbox

    def folder(self, ref: etree._Element) -> Folder:
        """Resolve t:FolderId or t:DistinguishedFolderId (with optional t:Mailbox) to a folder of the mailbox."""
        kind = local(ref)
        mailbox = self.require_mailbox()
        if kind == "DistinguishedFolderId":
            address = ref.findtext(f"{t('Mailbox')}/{t('EmailAddress')}")
            if address:
                other = self.store.find_mailbox(address)
                if other is None:
                    raise EwsError("ErrorNonExistentMailbox", f"No mailbox with address {address}.")
                if other is not mailbox:
                    raise EwsError("ErrorAccessDenied", f"{self.user.username} has no delegate access to {address}.")
            folder = mailbox.by_name.get(ref.get("Id", ""))
            if folder is None:
                raise EwsError("ErrorFolderNotFound", f"No distinguished folder {ref.get('Id')}.")
            return folder
        if kind == "FolderId":
            folder = mailbox.folders.get(ref.get("Id", ""))
            if folder is None:
                raise EwsError("ErrorFolderNotFound", "The specified folder could not be found in the store.")
            return folder
        raise EwsError("ErrorInvalidRequest", f"Unsupported folder reference {kind}.")

    def item(self, ref: etree._Element) -> Item:
        mailbox = self.require_mailbox()
        item_id = ref.get("Id", "")
        item = mailbox.item(item_id)
        if item is None:
            if not is_item_id(item_id):
                raise EwsError("ErrorInvalidIdMalformed", "Id is malformed.")
            raise EwsError("ErrorItemNotFound", "The specified object was not found in the store.")
        return item
