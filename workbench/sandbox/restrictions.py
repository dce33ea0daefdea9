"""Evaluation of EWS search restrictions (FindItem) and sort orders against stored items."""
from __future__ import annotations

from typing import Any, Callable

from lxml import etree

from .items import DATETIME_FIELDS, NUMERIC_FIELDS, Item, element_for_uri, parse_time
from .soap import T, EwsError, local

PATHS = ("FieldURI", "IndexedFieldURI", "ExtendedFieldURI")
COMPARISONS = {
    "IsEqualTo": lambda a, b: a == b,
    "IsNotEqualTo": lambda a, b: a != b,
    "IsGreaterThan": lambda a, b: a > b,
    "IsGreaterThanOrEqualTo": lambda a, b: a >= b,
    "IsLessThan": lambda a, b: a < b,
    "IsLessThanOrEqualTo": lambda a, b: a <= b,
}
EXT_DATETIME = {"SystemTime"}
EXT_NUMERIC = {"Integer", "Long", "Short", "Double", "Float", "Currency"}


def _path_of(node: etree._Element) -> etree._Element:
    for child in node:
        if local(child) in PATHS:
            return child
    raise EwsError("ErrorInvalidRestriction", f"{local(node)} has no property path.")


def _converter(path: etree._Element) -> Callable[[str], Any]:
    if local(path) == "ExtendedFieldURI":
        ptype = path.get("PropertyType", "String")
        if ptype in EXT_DATETIME:
            return parse_time
        if ptype in EXT_NUMERIC:
            return float
        if ptype == "Boolean":
            return lambda v: v.strip().lower() in ("true", "1")
        return lambda v: v.casefold()
    name = element_for_uri(path.get("FieldURI", ""))
    if name in DATETIME_FIELDS:
        return parse_time
    if name in NUMERIC_FIELDS:
        return float
    if name.startswith("Is") or name.startswith("Has") or name == "ReminderIsSet":
        return lambda v: v.strip().lower() in ("true", "1")
    return lambda v: v.casefold()


def compile_restriction(node: etree._Element) -> Callable[[Item], bool]:
    """Turn a restriction element (the child of m:Restriction) into a predicate."""
    kind = local(node)
    if kind in ("And", "Or"):
        parts = [compile_restriction(c) for c in node]
        return (lambda i: all(p(i) for p in parts)) if kind == "And" else (lambda i: any(p(i) for p in parts))
    if kind == "Not":
        inner = compile_restriction(node[0])
        return lambda i: not inner(i)
    if kind == "Exists":
        path = _path_of(node)
        return lambda i: bool(i.values(path))
    if kind in COMPARISONS:
        path = _path_of(node)
        conv = _converter(path)
        op = COMPARISONS[kind]
        holder = node.find(f"{{{T}}}FieldURIOrConstant")
        constant = holder.find(f"{{{T}}}Constant") if holder is not None else None
        if constant is None:
            raise EwsError("ErrorUnsupportedQueryFilter", "Only comparisons with a constant are supported.")
        try:
            target = conv(constant.get("Value", ""))
        except ValueError:
            raise EwsError("ErrorInvalidValueForProperty", f"Bad constant {constant.get('Value')!r}.") from None

        def compare(item: Item) -> bool:
            # multi-valued properties (categories): true when any value satisfies the comparison
            for raw in item.values(path):
                try:
                    if op(conv(raw), target):
                        return True
                except (ValueError, TypeError):
                    continue
            return False
        return compare
    if kind == "Contains":
        path = _path_of(node)
        constant = node.find(f"{{{T}}}Constant")
        needle = constant.get("Value", "") if constant is not None else ""
        mode = node.get("ContainmentMode", "Substring")
        ignore_case = "IgnoreCase" in node.get("ContainmentComparison", "Exact")
        if ignore_case:
            needle = needle.casefold()

        def contains(item: Item) -> bool:
            for raw in item.values(path):
                value = raw.casefold() if ignore_case else raw
                if (mode == "FullString" and value == needle) or (mode == "Prefixed" and value.startswith(needle)) \
                        or (mode in ("Substring", "PrefixOnWords", "ExactPhrase") and needle in value):
                    return True
            return False
        return contains
    if kind == "Excludes":
        raise EwsError("ErrorUnsupportedQueryFilter", "Excludes (bitmask) restrictions are not supported.")
    raise EwsError("ErrorInvalidRestriction", f"Unknown restriction element {kind}.")


def sort_key(order: etree._Element) -> list[tuple[Callable[[Item], Any], bool]]:
    """The FieldOrder list of a SortOrder as (key function, descending) pairs."""
    keys = []
    for field_order in order:
        path = _path_of(field_order)
        conv = _converter(path)
        descending = field_order.get("Order", "Ascending") == "Descending"

        def key(item: Item, path: etree._Element = path, conv: Callable[[str], Any] = conv) -> Any:
            values = item.values(path)
            if not values:
                return (0, "")
            try:
                return (1, conv(values[0]))
            except ValueError:
                return (1, values[0])
        keys.append((key, descending))
    return keys


def sorted_items(items: list[Item], order: etree._Element) -> list[Item]:
    result = list(items)
    for key, descending in reversed(sort_key(order)):
        result.sort(key=key, reverse=descending)
    return result

