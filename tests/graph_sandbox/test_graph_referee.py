"""The CSDL referee itself: it must fail on what Graph would not send or accept."""
from __future__ import annotations

import pytest

from conftest import CSDL_FILE

from workbench.sandbox.graph import contact_map, csdl


@pytest.fixture
def schema(referee: csdl.Schema | None) -> csdl.Schema:
    if referee is None:
        pytest.skip("Graph CSDL not found (set GRAPH_SCHEMA_DIR)")
    return referee


def test_parsed_once_per_process(schema: csdl.Schema) -> None:
    assert csdl.load(CSDL_FILE) is schema
    assert "microsoft.graph.contact" in schema.types and "microsoft.graph.exchangeIdFormat" in schema.enums


def test_catches_unknown_properties_wrong_types_and_annotations(schema: csdl.Schema) -> None:
    good = {"@odata.etag": 'W/"x"', "id": "A", "displayName": "D", "businessPhones": ["1"],
            "emailAddresses": [{"name": "n", "address": "a@b"}], "createdDateTime": "2026-01-01T00:00:00Z"}
    assert schema.check("microsoft.graph.contact", good) == []
    cases = {"shoeSize": 44, "displayName": 5, "businessPhones": "1", "createdDateTime": "yesterday",
             "@odata.color": "red", "emailAddresses": [{"mail": "a@b"}], "homeAddress": {"town": "x"}}
    for key, value in cases.items():
        problems = schema.check("microsoft.graph.contact", {**good, key: value})
        assert problems and any(key in p for p in problems), (key, problems)
    assert schema.check("Collection(microsoft.graph.contact)", {"value": [good], "@odata.nextLink": "x"}) == []
    assert schema.check("Collection(microsoft.graph.contact)", {"value": good})
    assert schema.check("action:translateExchangeIds", {"inputIds": ["a"], "sourceIdType": "restId",
                                                        "targetIdType": "ewsId"}) == []
    assert schema.check("action:translateExchangeIds", {"inputIds": "a", "sourceIdType": "restId"})
    assert schema.check("odata.error", {"error": {"code": "X"}})


def test_the_sandbox_contact_properties_are_graph_properties(schema: csdl.Schema) -> None:
    props = schema.all_props("microsoft.graph.contact")
    assert set(contact_map.ORDER) <= set(props)
    assert {k for k, (t, _n) in props.items() if t.startswith("Collection(Edm.String)")} >= {
        "businessPhones", "homePhones", "imAddresses", "categories", "children"}
