"""OData query options for contacts: $filter (comparisons, and/or/not, startswith, any() lambdas incl.
singleValueExtendedProperties), $select, $expand of extended properties, $top."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Callable

from .wire import GraphError

_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?(?![\w:-]))"
                    r"|(?P<time>\d{4}-\d\d-\d\dT[\d:.]+(?:Z|[+-]\d\d:\d\d)?)|(?P<name>[A-Za-z_$][\w$]*(?:/[\w$]+)*)"
                    r"|(?P<punct>[(),:]))")
COMPARE = {"eq", "ne", "gt", "ge", "lt", "le"}
FUNCTIONS = {"startswith", "endswith", "contains"}
Node = tuple


def _bad(clause: str, why: str) -> GraphError:
    return GraphError(400, "BadRequest", f"Invalid filter clause: {why} (in $filter={clause!r}).")


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None:
            raise _bad(text, f"unexpected text at {text[pos:pos + 20]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str):
        self.text, self.toks, self.i = text, _tokens(text), 0

    def peek(self) -> tuple[str, str]:
        return self.toks[self.i] if self.i < len(self.toks) else ("end", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if value is not None and tok[1].lower() != value:
            raise _bad(self.text, f"expected {value!r}, found {tok[1] or 'the end'!r}")
        self.i += 1
        return tok

    def parse(self) -> Node:
        node = self.expr()
        if self.peek()[0] != "end":
            raise _bad(self.text, f"unexpected {self.peek()[1]!r}")
        return node

    def expr(self) -> Node:
        node = self.conj()
        while self.peek()[1].lower() == "or":
            self.take()
            node = ("or", node, self.conj())
        return node

    def conj(self) -> Node:
        node = self.unary()
        while self.peek()[1].lower() == "and":
            self.take()
            node = ("and", node, self.unary())
        return node

    def unary(self) -> Node:
        if self.peek()[1].lower() == "not":
            self.take()
            return ("not", self.unary())
        if self.peek()[1] == "(":
            self.take()
            node = self.expr()
            self.take(")")
            return node
        return self.term()

    def literal(self) -> Any:
        kind, value = self.take()
        if kind == "str":
            return value[1:-1].replace("''", "'")
        if kind == "num":
            return float(value) if "." in value else int(value)
        if kind == "time":
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        if kind == "name" and value.lower() in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[value.lower()]
        raise _bad(self.text, f"expected a literal, found {value or 'the end'!r}")

    def term(self) -> Node:
        kind, name = self.take()
        if kind != "name":
            raise _bad(self.text, f"expected a property, found {name or 'the end'!r}")
        if name.lower() in FUNCTIONS:
            self.take("(")
            path = self.take()[1]
            self.take(",")
            value = self.literal()
            self.take(")")
            return ("func", name.lower(), path, value)
        head, _, last = name.rpartition("/")
        if head and last.lower() == "any":
            self.take("(")
            var = self.take()[1]
            self.take(":")
            body = self.expr()
            self.take(")")
            return ("any", head, var, body)
        op = self.take()[1].lower()
        if op not in COMPARE:
            raise _bad(self.text, f"expected a comparison operator after {name!r}, found {op or 'the end'!r}")
        return ("cmp", op, name, self.literal())


def parse_filter(text: str) -> Node:
    return _Parser(text).parse()


def _norm(value: Any) -> Any:
    if isinstance(value, str):
        if re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:\d\d)?", value):
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return value.lower()
    return value


def _compare(op: str, left: Any, right: Any) -> bool:
    a, b = _norm(left), _norm(right)
    if op == "eq":
        return a == b
    if op == "ne":
        return a != b
    if a is None or b is None or type(a) is not type(b):
        return False
    return {"gt": a > b, "ge": a >= b, "lt": a < b, "le": a <= b}[op]


def evaluate(node: Node, lookup: Callable[[str], Any], scope: dict[str, Any] | None = None) -> bool:
    """Evaluate a parsed $filter; ``lookup(name)`` gives a top-level property of the contact."""
    scope = scope or {}

    def value(path: str) -> Any:
        first, _, rest = path.partition("/")
        current = scope[first] if first in scope else lookup(first)
        for part in rest.split("/") if rest else ():
            current = current.get(part) if isinstance(current, dict) else None
        return current

    kind = node[0]
    if kind == "and":
        return evaluate(node[1], lookup, scope) and evaluate(node[2], lookup, scope)
    if kind == "or":
        return evaluate(node[1], lookup, scope) or evaluate(node[2], lookup, scope)
    if kind == "not":
        return not evaluate(node[1], lookup, scope)
    if kind == "cmp":
        return _compare(node[1], value(node[2]), node[3])
    if kind == "func":
        text, needle = value(node[2]), node[3]
        if not isinstance(text, str) or not isinstance(needle, str):
            return False
        text, needle = text.lower(), needle.lower()
        return {"startswith": text.startswith, "endswith": text.endswith, "contains": text.__contains__}[
            node[1]](needle)
    if kind == "any":
        items = value(node[1]) or []
        return any(evaluate(node[3], lookup, {**scope, node[2]: element}) for element in items)
    raise AssertionError(kind)


def filter_names(node: Node) -> set[str]:
    """Top-level property names a filter reads (to check them before evaluating)."""
    kind = node[0]
    if kind in ("and", "or"):
        return filter_names(node[1]) | filter_names(node[2])
    if kind == "not":
        return filter_names(node[1])
    if kind == "any":
        return {node[1].split("/")[0]}
    path = node[2]
    return {path.split("/")[0]}


@dataclass
class Expand:
    single_values: bool = False
    single_filter: Node | None = None


_EXPAND = re.compile(r"^\s*(\w+)\s*(?:\(\s*\$filter\s*=\s*(.*)\)\s*)?$", re.S)


def parse_expand(text: str | None) -> Expand:
    out = Expand()
    if not text:
        return out
    for part in _split_top(text):
        m = _EXPAND.match(part)
        if m is None or m.group(1).lower() != "singlevalueextendedproperties":
            raise GraphError(400, "BadRequest", f"$expand={part!r}: the sandbox expands only "
                                                "singleValueExtendedProperties($filter=id eq '...').")
        out.single_values = True
        out.single_filter = parse_filter(m.group(2)) if m.group(2) else None
    return out


def _split_top(text: str) -> list[str]:
    parts, depth, start, quoted = [], 0, 0, False
    for i, ch in enumerate(text):
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch in "()":
            depth += 1 if ch == "(" else -1
        elif not quoted and ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p for p in parts if p.strip()]


def parse_select(text: str | None, known: frozenset[str], entity: str) -> list[str] | None:
    if not text:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        if name not in known:
            raise GraphError(400, "RequestBroker--ParseUri",
                             f"Could not find a property named '{name}' on type '{entity}'.")
    return names


def parse_int(query: dict[str, str], name: str, low: int, high: int) -> int | None:
    if name not in query:
        return None
    try:
        value = int(query[name])
    except ValueError:
        raise GraphError(400, "BadRequest", f"Invalid {name} value {query[name]!r}: expected a whole number.") \
            from None
    if not low <= value <= high:
        raise GraphError(400, "BadRequest", f"Invalid {name} value {value}: it must be between {low} and {high}.")
    return value
