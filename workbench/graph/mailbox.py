"""One operator's contacts folder over Graph: paged reads, delta, writes through $batch.

Writes go in rounds of ``batch_size`` items; a round is cut into $batch requests of at most 20, of which up to
``max_in_flight`` (4, Exchange Online's MailboxConcurrency) are sent at once. Each item's outcome comes back in
input order. When a whole $batch request fails, the call raises that error once every request of the round has
ended: the engine's retry is idempotent (creates are looked up by CRM id first, a resent update meets its own
change key, a resent delete finds the item gone).

Updates and deletes name the item inside the contacts folder: immutable ids survive a move, so an item the user
moved to another folder (or one we deleted to Deleted Items) is GONE for them, as on EWS, and never touched there.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterator, Mapping, Sequence, TypeVar
from urllib.parse import quote, urlencode

from workbench.errors import WorkbenchError
from workbench.graph import mapping
from workbench.graph.errors_map import from_answer
from workbench.graph.transport import MAX_BATCH, Answer, Part, Transport
from workbench.mailbox import ChangePage, Deleted, ItemRef, StateInvalid

T = TypeVar("T")
FIND_CHUNK = 15            # CRM ids per $filter (URL length)
MAX_PAGE = 1000            # Graph's largest $top / odata.maxpagesize
#: the delete_to setting -> how Graph deletes: DELETE moves to Deleted Items; permanentDelete moves to
#: Recoverable Items\Purges (an admin can still restore it until the retention period ends)
PERMANENT = ("recoverable-items", "hard")


def user_path(address: str) -> str:
    return "/users/" + quote(address, safe="@.")


def _odata(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class GraphMailbox:
    def __init__(self, transport: Transport, address: str, folder_id: str, max_in_flight: int) -> None:
        self._t, self.address, self.folder_id, self.max_in_flight = transport, address, folder_id, max_in_flight
        self._base = user_path(address)
        self._folder = f"{self._base}/contactFolders/{quote(folder_id, safe='')}"

    # --- reads
    def _pages(self, path: str, params: Mapping[str, str] | None = None,
               headers: Mapping[str, str] | None = None) -> Iterator[dict[str, Any]]:
        url: str | None = path
        while url:
            body = self._t.call("GET", url, params=params, headers=headers, mailbox=self.address) or {}
            yield body
            url, params = body.get("@odata.nextLink"), None

    def _query(self, extra: Mapping[str, str], batch_size: int) -> list[dict[str, Any]]:
        params = {"$select": mapping.SELECT, "$expand": mapping.EXPAND, "$top": str(min(batch_size, MAX_PAGE)),
                  **extra}
        return [mapping.contact_to_row(c) for page in self._pages(f"{self._folder}/contacts", params)
                for c in page.get("value", [])]

    def snapshot(self, batch_size: int) -> list[dict[str, Any]]:
        return self._query({}, batch_size)

    def find_by_crm_ids(self, crm_ids: Sequence[str], batch_size: int) -> dict[str, list[dict[str, Any]]]:
        ids = list(dict.fromkeys(i for i in crm_ids if i))
        found: dict[str, list[dict[str, Any]]] = {}
        for start in range(0, len(ids), FIND_CHUNK):
            values = " or ".join(f"ep/value eq {_odata(i)}" for i in ids[start:start + FIND_CHUNK])
            condition = (f"singleValueExtendedProperties/any(ep: ep/id eq {_odata(mapping.CRM_ID_PROPERTY)} "
                         f"and ({values}))")
            for row in self._query({"$filter": condition}, batch_size):
                found.setdefault(row["crm_id"], []).append(row)
        return found

    def fetch_rows(self, item_ids: Sequence[str]) -> dict[str, dict[str, Any] | None]:
        query = "?" + urlencode({"$select": mapping.SELECT, "$expand": mapping.EXPAND}, quote_via=quote)
        parts = [Part("GET", f"{self._base}/contacts/{quote(i, safe='')}{query}") for i in item_ids]
        out: dict[str, dict[str, Any] | None] = {}
        for item_id, answer in zip(item_ids, self._send(parts)):
            if answer.ok and isinstance(answer.body, dict):
                row = mapping.contact_to_row(answer.body)
                row["in_contacts"] = answer.body.get("parentFolderId") in (None, self.folder_id)
                out[item_id] = row
            elif answer.status == 404:
                out[item_id] = None
            else:
                raise from_answer(answer.status, answer.body, answer.headers, mailbox=self.address)
        return out

    def changes_since(self, state: str | None, batch_size: int) -> Iterator[ChangePage]:
        """Delta on the contacts folder; state = the delta (or next) link. Delta takes no $expand, so the rows
        of changed items are read again in $batch (with the CRM-id property)."""
        headers = {"Prefer": f'IdType="ImmutableId", odata.maxpagesize={min(batch_size, MAX_PAGE)}'}
        start = state or f"{self._folder}/contacts/delta?$select={mapping.SELECT}"
        try:
            for body in self._pages(start, headers=headers):
                changed = [c["id"] for c in body.get("value", []) if "@removed" not in c]
                gone = [c["id"] for c in body.get("value", []) if "@removed" in c]
                rows = self.fetch_rows(changed)
                delta_link = body.get("@odata.deltaLink")
                yield ChangePage(upserts=[r for r in rows.values() if r is not None and r.pop("in_contacts", True)],
                                 deleted_item_ids=gone + [i for i, r in rows.items() if r is None],
                                 state=delta_link or body.get("@odata.nextLink"), last=bool(delta_link),
                                 from_state=state is not None)
        except WorkbenchError as err:
            if err.code == "GRAPH_DELTA_RESET":
                raise StateInvalid(err.detail, err.code) from None
            raise

    # --- writes
    def _send(self, parts: Sequence[Part]) -> list[Answer]:
        chunks = [list(parts[i:i + MAX_BATCH]) for i in range(0, len(parts), MAX_BATCH)]
        if len(chunks) <= 1:
            return self._t.batch(chunks[0]) if chunks else []
        with ThreadPoolExecutor(max_workers=min(self.max_in_flight, len(chunks))) as pool:
            futures = [pool.submit(self._t.batch, c) for c in chunks]
        failed = [f.exception() for f in futures if f.exception() is not None]
        if failed:
            raise failed[0]
        return [a for f in futures for a in f.result()]

    def _rounds(self, items: Sequence[T], batch_size: int, part: Callable[[T], Part],
                outcome: Callable[[Answer], Any]) -> list[Any]:
        out: list[Any] = []
        size = max(1, batch_size)
        for start in range(0, len(items), size):
            for answer in self._send([part(x) for x in items[start:start + size]]):
                out.append(outcome(answer) if answer.ok else
                           from_answer(answer.status, answer.body, answer.headers, mailbox=self.address, item=True))
        return out

    def _ref(self, answer: Answer) -> ItemRef | WorkbenchError:
        body = answer.body if isinstance(answer.body, dict) else {}
        if not body.get("id"):
            return WorkbenchError("GRAPH_PROTOCOL", f"mailbox {self.address}: a write answered without the item id")
        return ItemRef(body["id"], body.get("changeKey") or "")

    def create(self, payloads: Sequence[Mapping[str, Any]], batch_size: int) -> list[ItemRef | WorkbenchError]:
        def part(p: Mapping[str, Any]) -> Part:
            return Part("POST", f"{self._folder}/contacts",
                        mapping.contact_body(p["fields"], crm_id=p["crm_id"], categories=p["categories"],
                                             private=bool(p.get("private"))))
        return self._rounds(payloads, batch_size, part, self._ref)

    def update(self, updates: Sequence[Mapping[str, Any]], batch_size: int) -> list[ItemRef | WorkbenchError]:
        def part(u: Mapping[str, Any]) -> Part:
            headers = {"If-Match": f'W/"{u["change_key"]}"'} if u.get("change_key") else {}
            return Part("PATCH", f"{self._folder}/contacts/{quote(u['item_id'], safe='')}",
                        mapping.contact_body(u.get("fields"), crm_id=u["crm_id"], categories=u["categories"]),
                        headers)
        return self._rounds(updates, batch_size, part, self._ref)

    def delete(self, refs: Sequence[tuple[str, str | None]], batch_size: int,
               delete_to: str = "deleted-items") -> list[bool | WorkbenchError]:
        def part(ref: tuple[str, str | None]) -> Part:
            item_id, change_key = ref
            headers = {"If-Match": f'W/"{change_key}"'} if change_key else {}
            url = f"{self._folder}/contacts/{quote(item_id, safe='')}"
            if delete_to in PERMANENT:
                return Part("POST", url + "/permanentDelete", headers=headers)
            return Part("DELETE", url, headers=headers)
        return self._rounds(refs, batch_size, part, lambda _answer: True)

    def find_deleted(self, crm_ids: Sequence[str], batch_size: int) -> dict[str, Deleted]:
        """Nothing: Graph v1.0 lists no contacts outside contact folders (Deleted Items is a mail folder) and has
        no contact move, so ``sync undo`` recreates a contact deleted over Graph with its CRM id."""
        return {}

    def restore(self, item_ids: Sequence[str], batch_size: int) -> list[ItemRef | WorkbenchError]:
        """Never asked for (``find_deleted`` finds nothing): Graph v1.0 cannot move a contact back."""
        return [WorkbenchError("GRAPH_ITEM_REJECTED", f"{item_id}: Graph v1.0 has no move for contacts",
                               mailbox=self.address) for item_id in item_ids]
