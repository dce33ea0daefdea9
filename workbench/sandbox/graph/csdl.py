"""The fidelity referee: checks a JSON body against the type it claims in Microsoft's Graph v1.0 CSDL
(property names, primitive types, collections, enum members, ``@odata.*`` annotations).

The CSDL is read from where the caller says (tests: ``$GRAPH_SCHEMA_DIR``, default
``../shared/graph-schema``) and parsed once per process. Types the CSDL declares open but with properties
(``contact``) are checked as closed, since Graph refuses dynamic properties on them; open types without
properties (``resourceData``) accept any.
"""
from __future__ import annotations

import base64
import datetime as dt
import functools
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
ANNOTATIONS = {"@odata.context", "@odata.etag", "@odata.id", "@odata.type", "@odata.nextLink",
               "@odata.deltaLink", "@odata.editLink", "@odata.count", "@odata.readLink", "@odata.mediaEditLink"}
COLLECTION_KEYS = {"@odata.context", "@odata.nextLink", "@odata.deltaLink", "@odata.count", "value"}
_COLLECTION = re.compile(r"^Collection\((.+)\)$")


@dataclass
class TypeDef:
    name: str
    kind: str                                   # "entity" or "complex"
    base: str | None
    open: bool
    props: dict[str, tuple[str, bool]] = field(default_factory=dict)   # name -> (type, nullable)


class Schema:
    def __init__(self, path: Path):
        self.types: dict[str, TypeDef] = {}
        self.lower: dict[str, str] = {}
        self.enums: dict[str, set[str]] = {}
        self.actions: dict[str, dict[str, tuple[str, bool]]] = {}    # action name -> non-binding params
        root = etree.parse(str(path)).getroot()
        for schema in root.iter(f"{EDM}Schema"):
            ns, alias = schema.get("Namespace"), schema.get("Alias")
            for el in schema:
                self._read(el, ns, alias)
        self.lower = {k.lower(): k for k in self.types} | {k.lower(): k for k in self.enums}

    def _read(self, el: etree._Element, ns: str, alias: str | None) -> None:
        def qualify(type_name: str | None) -> str | None:
            if type_name is None:
                return None
            inner = _COLLECTION.match(type_name)
            if inner:
                return f"Collection({qualify(inner.group(1))})"
            if alias and type_name.startswith(alias + "."):
                return ns + type_name[len(alias):]
            return type_name

        tag = etree.QName(el).localname
        if tag in ("EntityType", "ComplexType"):
            t = TypeDef(f"{ns}.{el.get('Name')}", "entity" if tag == "EntityType" else "complex",
                        qualify(el.get("BaseType")), el.get("OpenType") == "true")
            for prop in el:
                local = etree.QName(prop).localname
                if local in ("Property", "NavigationProperty"):
                    t.props[prop.get("Name")] = (qualify(prop.get("Type")), prop.get("Nullable") != "false")
            self.types[t.name] = t
        elif tag == "EnumType":
            self.enums[f"{ns}.{el.get('Name')}"] = {m.get("Name") for m in el.iter(f"{EDM}Member")}
        elif tag == "Action" and el.get("IsBound") == "true":
            params = [p for p in el.iter(f"{EDM}Parameter")]
            if params and params[0].get("Type") in ("graph.user", f"{ns}.user"):
                self.actions[el.get("Name")] = {p.get("Name").lower(): (qualify(p.get("Type")),
                                                                        p.get("Nullable") != "false")
                                                for p in params[1:]}

    # --- lookups
    def all_props(self, name: str) -> dict[str, tuple[str, bool]]:
        out: dict[str, tuple[str, bool]] = {}
        current: str | None = name
        while current:
            t = self.types[current]
            out = {**t.props, **out}
            current = t.base
        return out

    def derives(self, name: str, base: str) -> bool:
        current: str | None = name
        while current:
            if current == base:
                return True
            current = self.types[current].base
        return False

    # --- checking
    def check(self, type_name: str, body: Any) -> list[str]:
        """Problems of ``body`` as an instance of ``type_name`` (empty when valid).

        Besides CSDL type names: ``Collection(T)`` is a response collection of T, ``action:NAME`` the
        parameters of a user-bound action, ``odata.error`` an OData error, ``odata.batchRequest`` and
        ``odata.batchResponse`` JSON batch envelopes.
        """
        errors: list[str] = []
        if type_name == "odata.error":
            self._error(body, "$", errors)
        elif type_name in ("odata.batchRequest", "odata.batchResponse"):
            self._batch(type_name, body, errors)
        elif type_name.startswith("action:"):
            self._action(type_name[7:], body, errors)
        elif (inner := _COLLECTION.match(type_name)) and isinstance(body, dict):
            for key in body:
                if key not in COLLECTION_KEYS:
                    errors.append(f"$.{key}: not allowed in a collection response")
            if not isinstance(body.get("value"), list):
                errors.append("$.value: a collection response needs a 'value' array")
            for i, element in enumerate(body.get("value") or []):
                self._value(inner.group(1), element, f"$.value[{i}]", errors, nullable=False)
        else:
            self._value(type_name, body, "$", errors, nullable=False)
        return errors

    def _error(self, body: Any, where: str, errors: list[str]) -> None:
        err = body.get("error") if isinstance(body, dict) and set(body) == {"error"} else None
        if not isinstance(err, dict) or not isinstance(err.get("code"), str) or not isinstance(err.get("message"), str):
            errors.append(f"{where}: an OData error is {{'error': {{'code': str, 'message': str, ...}}}}")
        elif set(err) - {"code", "message", "innerError", "details", "target"}:
            errors.append(f"{where}.error: unknown members {sorted(set(err) - {'code', 'message', 'innerError'})}")

    def _batch(self, kind: str, body: Any, errors: list[str]) -> None:
        key = "requests" if kind == "odata.batchRequest" else "responses"
        allowed = {"id", "method", "url", "headers", "body", "dependsOn"} if key == "requests" else {
            "id", "status", "headers", "body"}
        parts = body.get(key) if isinstance(body, dict) else None
        if not isinstance(parts, list) or set(body) != {key}:
            errors.append(f"$: a JSON batch {key[:-1]} envelope is {{'{key}': [...]}}")
            return
        for i, part in enumerate(parts):
            if not isinstance(part, dict) or set(part) - allowed or not isinstance(part.get("id"), str):
                errors.append(f"$.{key}[{i}]: members must be {sorted(allowed)} with a string id")
            elif key == "responses" and (not isinstance(part.get("status"), int) or
                                         (part["status"] >= 400 and "body" in part and
                                          self._error(part["body"], f"$.responses[{i}].body", errors))):
                errors.append(f"$.responses[{i}].status must be an integer")

    def _action(self, name: str, body: Any, errors: list[str]) -> None:
        params = self.actions.get(name)
        if params is None:
            errors.append(f"no user-bound action {name} in the CSDL")
            return
        if not isinstance(body, dict):
            errors.append(f"$: the parameters of {name} are a JSON object")
            return
        for key, value in body.items():
            found = params.get(key.lower())
            if found is None:
                errors.append(f"$.{key}: {name} has no parameter {key}")
            else:
                self._value(found[0], value, f"$.{key}", errors, found[1])

    def _value(self, type_name: str, value: Any, where: str, errors: list[str], nullable: bool = True) -> None:
        if value is None:
            if not nullable:
                errors.append(f"{where}: null is not allowed for {type_name}")
            return
        inner = _COLLECTION.match(type_name)
        if inner:
            if not isinstance(value, list):
                errors.append(f"{where}: expected a collection of {inner.group(1)}, got {type(value).__name__}")
                return
            for i, element in enumerate(value):
                self._value(inner.group(1), element, f"{where}[{i}]", errors, nullable=False)
            return
        if type_name.startswith("Edm."):
            problem = _primitive(type_name, value)
            if problem:
                errors.append(f"{where}: {problem}")
        elif type_name in self.enums:
            members = self.enums[type_name]
            if not isinstance(value, str) or any(v.strip() not in members for v in value.split(",")):
                errors.append(f"{where}: {value!r} is not a member of {type_name}")
        elif type_name in self.types:
            self._structured(type_name, value, where, errors)
        else:
            errors.append(f"{where}: unknown type {type_name}")

    def _structured(self, type_name: str, value: Any, where: str, errors: list[str]) -> None:
        if not isinstance(value, dict):
            errors.append(f"{where}: expected a {type_name} object, got {type(value).__name__}")
            return
        actual = type_name
        if self.types[type_name].open and not self.all_props(type_name):
            return                      # resourceData: whatever the resource's own properties are
        if isinstance(value.get("@odata.type"), str):
            named = self.lower.get(value["@odata.type"].lstrip("#").lower())
            if named is None or named not in self.types or not self.derives(named, type_name):
                errors.append(f"{where}.@odata.type: {value['@odata.type']!r} is not {type_name} or derived from it")
                return
            actual = named
        props = self.all_props(actual)
        for key, item in value.items():
            if key.startswith("@"):
                if key == "@removed":
                    if not isinstance(item, dict) or item.get("reason") not in ("changed", "deleted"):
                        errors.append(f"{where}.@removed: expected {{'reason': 'changed'|'deleted'}}")
                elif key not in ANNOTATIONS:
                    errors.append(f"{where}.{key}: unknown instance annotation")
                continue
            name, _, annotation = key.partition("@")
            if name not in props:
                errors.append(f"{where}.{name}: {actual} has no property {name!r}")
            elif annotation and "@" + annotation not in ANNOTATIONS:
                errors.append(f"{where}.{key}: unknown property annotation")
            elif not annotation:
                self._value(props[name][0], item, f"{where}.{name}", errors, props[name][1])


_DATE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$")


def _primitive(type_name: str, value: Any) -> str | None:
    kind = type_name[4:]
    if kind in ("String", "Duration"):
        return None if isinstance(value, str) else f"expected a string for {type_name}, got {value!r}"
    if kind == "Boolean":
        return None if isinstance(value, bool) else f"expected true/false, got {value!r}"
    if kind in ("Int16", "Int32", "Int64", "Byte", "SByte"):
        return None if isinstance(value, int) and not isinstance(value, bool) else f"expected an integer, got {value!r}"
    if kind in ("Double", "Single", "Decimal"):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) or value in ("INF", "-INF", "NaN")
        return None if ok else f"expected a number, got {value!r}"
    if kind == "DateTimeOffset":
        ok = isinstance(value, str) and _DATE_TIME.match(value)
        return None if ok else f"expected a DateTimeOffset with an offset, got {value!r}"
    if kind == "Date":
        try:
            dt.date.fromisoformat(value)
            return None
        except (TypeError, ValueError):
            return f"expected a date, got {value!r}"
    if kind == "Guid":
        try:
            uuid.UUID(str(value))
            return None if isinstance(value, str) else f"expected a GUID string, got {value!r}"
        except ValueError:
            return f"expected a GUID, got {value!r}"
    if kind == "Binary":
        try:
            base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_" if "-" in value or "_" in value
                             else None, validate=True)
            return None
        except (TypeError, ValueError):
            return f"expected base64, got {value!r}"
    return None


@functools.lru_cache(maxsize=4)
def load(path: Path) -> Schema:
    """The parsed CSDL (once per process and path)."""
    return Schema(Path(path))
