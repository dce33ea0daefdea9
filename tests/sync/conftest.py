"""Fixtures and helpers for the sync tests: the shared ``exchange_env`` plus readers of both sides."""
from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from workbench.exchange.mapping import CRM_ID_PROPERTY_NAME
from workbench.fields import CONTACT_FIELDS, content_hash

WRITE_OPS = {"CreateItem", "UpdateItem", "DeleteItem"}
CAT = "PegaSASync"


def writes_since(sandbox: Any, mark: int, *, exclude_mailbox: str | None = None) -> list:
    return [r for r in sandbox.requests[mark:] if r.operation in WRITE_OPS
            and (exclude_mailbox is None or (r.mailbox or "").lower() != exclude_mailbox.lower())]


def item_row(d: dict) -> dict:
    """A sandbox item dict as a store-like row."""
    addr = d.get("physical_addresses", {}).get("Business", {})
    phones = d.get("phone_numbers", {})
    row = {"item_id": d["item_id"], "change_key": d["changekey"], "categories": d.get("categories", []),
           "private": d.get("sensitivity") == "Private",
           "crm_id": d.get("extended_properties", {}).get(CRM_ID_PROPERTY_NAME),
           "given_name": d.get("given_name"), "surname": d.get("surname"),
           "email": d.get("email_addresses", {}).get("EmailAddress1"),
           "business_phone": phones.get("BusinessPhone"), "mobile_phone": phones.get("MobilePhone"),
           "home_phone": phones.get("HomePhone"), "company": d.get("company_name"), "job_title": d.get("job_title"),
           "street": addr.get("Street"), "city": addr.get("City"), "state": addr.get("State"),
           "postal_code": addr.get("PostalCode"), "country": addr.get("CountryOrRegion")}
    row["hash"] = content_hash(row)
    return row


def mailbox_rows(sandbox: Any, address: str) -> list[dict]:
    return [item_row(d) for d in sandbox.mailbox(address).contacts]


def mailbox_of(store: Any, operator_id: str) -> str:
    return store.scalar("SELECT email FROM operators WHERE operator_id = ?", [operator_id])


def assert_converged(env: Any, operator_ids: list[str]) -> None:
    """Both sides agree for each operator: every live team contact is in the mailbox exactly once (by CRM id),
    with the same content; every categorised non-private item is linked; links point at existing items."""
    store = env.store
    cat = env.settings().sync_category
    for op in operator_ids:
        rows = mailbox_rows(env.sandbox, mailbox_of(store, op))
        ids = Counter(r["crm_id"] for r in rows if r["crm_id"])
        assert [k for k, n in ids.items() if n > 1] == [], f"{op}: a CRM id twice"
        team = store.df("SELECT c.* FROM contacts c JOIN contact_team t USING (contact_id) "
                        "WHERE t.operator_id = ? AND c.deleted_at IS NULL AND NOT c.private", [op])
        team = team.astype(object).where(team.notna(), None)
        crm = {r["contact_id"]: r for r in team.to_dict("records")}
        skipped = set(store.df("SELECT contact_id FROM sync_log WHERE operator_id = ? AND code = 'AMBIGUOUS_MATCH' "
                               "AND contact_id IS NOT NULL", [op])["contact_id"])
        by_id = {r["crm_id"]: r for r in rows if r["crm_id"]}
        missing = set(crm) - set(by_id) - skipped
        assert not missing, f"{op}: CRM contacts missing in the mailbox: {sorted(missing)[:5]}"
        for cid, c in crm.items():
            if cid in by_id:
                diff = {f: (c[f], by_id[cid][f]) for f in CONTACT_FIELDS if (c[f] or None) != (by_id[cid][f] or None)}
                assert not diff, f"{op}/{cid}: content differs: {diff}"
                assert cat in by_id[cid]["categories"]
        for r in rows:
            if cat in r["categories"] and not r["private"] and r["crm_id"] is None:
                pytest.fail(f"{op}: categorised item {r['item_id']} ({r['email']}) not synced")
        links = store.df("SELECT * FROM links WHERE operator_id = ?", [op])
        items = {r["item_id"] for r in rows}
        assert set(links["item_id"]) <= items, f"{op}: link to a missing item"
        assert set(links["contact_id"]) == {r["crm_id"] for r in rows if r["crm_id"] and cat in r["categories"]}


@pytest.fixture
def env(exchange_env):
    return exchange_env


def ok_operators(result: Any) -> list[str]:
    return [m.operator_id for m in result.mailboxes if m.status in ("ok", "partial")]


__all__ = ["CAT", "CONTACT_FIELDS", "assert_converged", "item_row", "mailbox_of", "mailbox_rows", "ok_operators",
           "writes_since"]


@pytest.fixture(scope="module")
def parity_sandbox(tmp_path_factory, seed_dir, ews_schema_dir):
    from tests.sync.backends import shared_sandbox
    sb = shared_sandbox(tmp_path_factory, seed_dir, ews_schema_dir)
    yield sb
    from tests.conftest import close_ews_connections
    close_ews_connections()
    sb.stop()


@pytest.fixture(params=["fake", "ews", "graph"])
def backend_env(request, tmp_path, monkeypatch, capsys):
    """The demo world served by each backend in turn (``tests/sync/backends.py``)."""
    from tests.sync.backends import make_env
    return make_env(request.param, request, tmp_path / "work", monkeypatch, capsys)


@pytest.fixture
def make_backend_env(request, tmp_path, monkeypatch, capsys):
    """``make_backend_env(kind)``: several backends' worlds in one test, each in its own folder."""
    from tests.sync.backends import make_env
    return lambda kind: make_env(kind, request, tmp_path / kind, monkeypatch, capsys)
