"""Contacts and contact folders: GET (with $select, $filter, $expand, $top/$skip paging), POST, PATCH
with If-Match, DELETE (to Deleted Items), permanentDelete."""
from __future__ import annotations

from typing import Any

from ..items import Item, new_id
from ..store import Folder, Mailbox, now
from . import contact_map as cm
from . import query
from .ids import rest_id, user_id
from .state import GraphState
from .wire import GraphError, Request, Response

PAGE = 10
MAX_TOP = 1000
FILTERABLE = cm.PROPERTIES | {"singleValueExtendedProperties"}


def render(g: GraphState, request: Request, mb: Mailbox, item: Item, select: list[str] | None = None,
           expand: query.Expand | None = None) -> dict[str, Any]:
    body = cm.to_json(item, rest_id(item.folder_id), select)
    body["id"] = g.public_id(request, mb, item.id)
    if expand is not None and expand.single_values:
        values = cm.single_values(item)
        if expand.single_filter is not None:
            values = [v for v in values if query.evaluate(expand.single_filter, v.get)]
        body["singleValueExtendedProperties"] = values
    return body


def _headers(request: Request) -> dict[str, str]:
    if request.prefer().get("idtype", "").lower() == "immutableid":
        return {"Preference-Applied": 'IdType="ImmutableId"'}
    return {}


def find_item(g: GraphState, mb: Mailbox, graph_id: str, folder: Folder | None) -> Item:
    item_id = g.ids.resolve(mb, graph_id)
    item = mb.item(item_id) if item_id else None
    if item is None or item.kind != "Contact" or (folder is not None and item.folder_id != folder.id):
        raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
    return item


def list_contacts(g: GraphState, request: Request, mb: Mailbox, folder: Folder) -> Response:
    q = request.query
    select = query.parse_select(q.get("$select"), cm.PROPERTIES, cm.ENTITY)
    expand = query.parse_expand(q.get("$expand"))
    top = query.parse_int(q, "$top", 1, MAX_TOP) or PAGE
    skip = query.parse_int(q, "$skip", 0, 10**9) or 0
    condition = query.parse_filter(q["$filter"]) if q.get("$filter") else None
    if condition is not None:
        unknown = query.filter_names(condition) - FILTERABLE
        if unknown:
            raise GraphError(400, "RequestBroker--ParseUri",
                             f"Could not find a property named '{sorted(unknown)[0]}' on type '{cm.ENTITY}'.")
    with g.store.lock:
        folder_rest = rest_id(folder.id)
        ids = folder.ordered_ids()
        if condition is not None:
            ids = [i for i in ids if query.evaluate(condition, lambda n, it=folder.items[i]: cm.prop(it, n, folder_rest))]
        page = ids[skip:skip + top]
        value = [render(g, request, mb, folder.items[i], select, expand) for i in page]
        more = skip + top < len(ids)
    body: dict[str, Any] = {"@odata.context": g.context(mb, "contacts"), "value": value}
    if more:
        body["@odata.nextLink"] = g.link(request.path.removeprefix("/v1.0"), {**q, "$top": str(top),
                                                                             "$skip": str(skip + top)})
    return Response(200, body, _headers(request), type_name="Collection(microsoft.graph.contact)")


def get_contact(g: GraphState, request: Request, mb: Mailbox, folder: Folder | None, graph_id: str) -> Response:
    select = query.parse_select(request.query.get("$select"), cm.PROPERTIES, cm.ENTITY)
    expand = query.parse_expand(request.query.get("$expand"))
    with g.store.lock:
        item = find_item(g, mb, graph_id, folder)
        body = {"@odata.context": g.context(mb, "contacts/$entity"), **render(g, request, mb, item, select, expand)}
    return Response(200, body, _headers(request), type_name="microsoft.graph.contact")


def create_contact(g: GraphState, request: Request, mb: Mailbox, folder: Folder) -> Response:
    data = request.json_object()
    stamp = now()
    item = Item(id=new_id(b"SBXI"), kind="Contact", folder_id="", created=stamp, modified=stamp)
    cm.apply(item, data)
    item.text.setdefault("Sensitivity", "Normal")
    if "DisplayName" not in item.text:
        name = " ".join(p for p in (item.text.get("GivenName"), item.text.get("Surname")) if p)
        if name:
            item.text["DisplayName"] = name
    g.check_item(item)
    with g.store.lock:
        mb.create(folder, item)
        body = {"@odata.context": g.context(mb, "contacts/$entity"), **render(g, request, mb, item)}
    return Response(201, body, {"Location": f"{g.graph_url}/users('{user_id(mb.primary)}')/contacts('{body['id']}')",
                                **_headers(request)}, type_name="microsoft.graph.contact")


def _check_etag(request: Request, item: Item) -> None:
    wanted = request.headers.get("if-match")
    if wanted and wanted.strip() != "*" and wanted.strip() != cm.etag(item):
        raise GraphError(412, "ErrorIrresolvableConflict", "The send or update operation could not be performed "
                         "because the change key passed in the request does not match the current change key for "
                         "the item.")


def update_contact(g: GraphState, request: Request, mb: Mailbox, folder: Folder | None, graph_id: str) -> Response:
    data = request.json_object()
    with g.store.lock:
        item = find_item(g, mb, graph_id, folder)
        _check_etag(request, item)
        changed = Item.from_json(item.to_json())
        cm.apply(changed, data)            # validate everything before touching the stored item
        g.check_item(changed)
        item.text, item.lists, item.indexed = changed.text, changed.lists, changed.indexed
        item.addresses, item.ext = changed.addresses, changed.ext
        mb.modified(item)
        body = {"@odata.context": g.context(mb, "contacts/$entity"), **render(g, request, mb, item)}
    return Response(200, body, _headers(request), type_name="microsoft.graph.contact")


def delete_contact(g: GraphState, request: Request, mb: Mailbox, folder: Folder | None, graph_id: str,
                   permanent: bool = False) -> Response:
    with g.store.lock:
        item = find_item(g, mb, graph_id, folder)
        _check_etag(request, item)
        if permanent or item.folder_id == mb.by_name["deleteditems"].id:
            mb.delete(item)
        else:
            mb.move(item, mb.by_name["deleteditems"])
    return Response(204)


def folder_json(g: GraphState, folder: Folder) -> dict[str, Any]:
    return {"id": rest_id(folder.id), "displayName": folder.display_name,
            "parentFolderId": rest_id(folder.parent_id or "")}


def list_folders(g: GraphState, request: Request, mb: Mailbox) -> Response:
    with g.store.lock:
        value = [folder_json(g, f) for f in mb.folders.values() if f.folder_class == "IPF.Contact"]
    return Response(200, {"@odata.context": g.context(mb, "contactFolders"), "value": value},
                    type_name="Collection(microsoft.graph.contactFolder)")


def get_folder(g: GraphState, request: Request, mb: Mailbox, folder: Folder) -> Response:
    with g.store.lock:
        body = {"@odata.context": g.context(mb, "contactFolders/$entity"), **folder_json(g, folder)}
    return Response(200, body, type_name="microsoft.graph.contactFolder")
