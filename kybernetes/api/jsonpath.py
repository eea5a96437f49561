"""Kubernetes' JSONPath dialect (as client-go's util/jsonpath), evaluated over plain decoded JSON."""

# Supported: templates mixing text and `{...}` actions, `$` and `@`, `.field`, `['field.with.dots']`,
# `field\\.with\\.dots`, `.*`, `[*]`, `..name` recursive descent, indexes and slices `[0]`, `[-1]`, `[1:3:2]`,
# unions `[0,2]` / `['a','b']`, filters `[?(@.type=="Ready")]` with == != < > <= >= or bare existence,
# quoted text actions `{"\\n"}`, and `{range ...}...{end}`.

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Union


class JSONPathError(ValueError):
    """A template that does not parse, or a path that cannot be evaluated against the object."""


# ---------------------------------------------------------------------------------------------- AST


@dataclass(frozen=True)
class Root:
    """`$`: restart from the object the template is evaluated against."""


@dataclass(frozen=True)
class Current:
    """`@`: the value at hand (inside filters: the array element being tested)."""


@dataclass(frozen=True)
class Field:
    name: str


@dataclass(frozen=True)
class Wildcard:
    """`.*` or `[*]`: every value of a map, every element of a list."""


@dataclass(frozen=True)
class Recursive:
    """`..`: the value and every map or list below it; the next node then selects from all of them."""


@dataclass(frozen=True)
class Slice:
    """`[i]` (single index), `[start:end:step]`; None means 'not given'."""

    start: int | None
    end: int | None
    step: int | None
    single: bool = False


@dataclass(frozen=True)
class Union_:
    """`[a,b,...]`: the results of each alternative, concatenated."""

    paths: tuple[tuple["Node", ...], ...]


@dataclass(frozen=True)
class Literal:
    value: Any


@dataclass(frozen=True)
class Filter:
    """`[?(left op right)]`, or `[?(left)]` (op None) for existence."""

    left: tuple["Node", ...]
    op: str | None
    right: tuple["Node", ...] = ()


Node = Union[Root, Current, Field, Wildcard, Recursive, Slice, Union_, Literal, Filter]


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Action:
    """One `{path}` action of a template."""

    path: tuple[Node, ...]


@dataclass(frozen=True)
class Range:
    """`{range path}body{end}`: body evaluated once per result of path."""

    path: tuple[Node, ...]
    body: tuple["TemplateNode", ...] = field(default=())


TemplateNode = Union[Text, Action, Range]


# ------------------------------------------------------------------------------------------- parsing

_FILTER_OPS = ("==", "!=", "<=", ">=", "<", ">")
_FIELD_STOP = set(".[]()$@{},=!<> \t\n")


def parse(expr: str) -> tuple[TemplateNode, ...]:
    """Parse a template. A string with no `{` is taken as one bare path (`.a.b` means `{.a.b}`)."""
    if "{" not in expr:
        return (Action(_parse_path(expr.strip())),) if expr.strip() else ()
    stack: list[list[TemplateNode]] = [[]]
    ranges: list[tuple[Node, ...]] = []
    for kind, content in _split_template(expr):
        if kind == "text":
            stack[-1].append(Text(content))
            continue
        body = content.strip()
        if body.startswith("range ") or body == "range":
            ranges.append(_parse_path(body[5:].strip()))
            stack.append([])
        elif body == "end":
            if not ranges:
                raise JSONPathError(f"not in range, nothing to end in {expr!r}")
            inner = tuple(stack.pop())
            stack[-1].append(Range(ranges.pop(), inner))
        elif body[:1] in "\"'" and len(body) >= 2 and body[-1] == body[0]:
            stack[-1].append(Text(_unquote(body)))
        else:
            stack[-1].append(Action(_parse_path(body)))
    if ranges:
        raise JSONPathError(f"unclosed range in {expr!r}")
    return tuple(stack[0])


def _split_template(expr: str) -> list[tuple[str, str]]:
    parts: list[tuple[str, str]] = []
    i, n, text = 0, len(expr), []
    while i < n:
        c = expr[i]
        if c != "{":
            text.append(c)
            i += 1
            continue
        if text:
            parts.append(("text", "".join(text)))
            text = []
        j, quote = i + 1, ""
        while j < n:
            d = expr[j]
            if quote:
                if d == "\\":
                    j += 1
                elif d == quote:
                    quote = ""
            elif d in "\"'":
                quote = d
            elif d == "}":
                break
            j += 1
        if j >= n:
            raise JSONPathError(f"unclosed action in {expr!r}")
        parts.append(("action", expr[i + 1:j]))
        i = j + 1
    if text:
        parts.append(("text", "".join(text)))
    return parts


def _unquote(s: str) -> str:
    if s[0] == '"':
        try:
            return json.loads(s)
        except ValueError as e:
            raise JSONPathError(f"invalid quoted string {s}") from e
    return s[1:-1]


class _PathParser:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def error(self, msg: str) -> JSONPathError:
        return JSONPathError(f"{msg} at position {self.i} in {self.s!r}")

    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.s[j] if j < len(self.s) else ""

    def path(self, stop: str = "") -> tuple[Node, ...]:
        nodes: list[Node] = []
        first = True
        while self.i < len(self.s):
            c = self.peek()
            if c in stop:
                break
            if c.isspace():
                self.i += 1
                continue
            if c == "$":
                self.i += 1
                nodes.append(Root())
            elif c == "@":
                self.i += 1
                nodes.append(Current())
            elif c == "." and self.peek(1) == ".":
                self.i += 2
                nodes.append(Recursive())
                if self.peek() not in ("[", "*"):
                    nodes.append(Field(self.field_name()))
                elif self.peek() == "*":
                    self.i += 1
                    nodes.append(Wildcard())
            elif c == ".":
                self.i += 1
                if self.peek() == "*":
                    self.i += 1
                    nodes.append(Wildcard())
                elif self.peek() == "" or self.peek() in stop:
                    pass  # a lone '.' is the current value
                else:
                    nodes.append(Field(self.field_name()))
            elif c == "[":
                nodes.append(self.bracket())
            elif first and c not in _FIELD_STOP:
                nodes.append(Field(self.field_name()))  # lenient: `metadata.name`
            else:
                raise self.error(f"unexpected {c!r}")
            first = False
        return tuple(nodes)

    def field_name(self) -> str:
        out: list[str] = []
        while self.i < len(self.s):
            c = self.s[self.i]
            if c == "\\" and self.i + 1 < len(self.s):
                out.append(self.s[self.i + 1])
                self.i += 2
                continue
            if c in _FIELD_STOP:
                break
            out.append(c)
            self.i += 1
        if not out:
            raise self.error("expected a field name")
        return "".join(out)

    def bracket(self) -> Node:
        self.i += 1  # '['
        self.skip_space()
        if self.peek() == "?":
            node = self.filter()
        elif self.peek() == "*" and self.after_space(1) == "]":
            self.i += 1
            node = Wildcard()
        else:
            items = [self.union_item()]
            while self.peek() == ",":
                self.i += 1
                items.append(self.union_item())
            node = items[0] if len(items) == 1 else Union_(tuple((it,) for it in items))
        self.skip_space()
        if self.peek() != "]":
            raise self.error("expected ']'")
        self.i += 1
        return node

    def after_space(self, k: int) -> str:
        j = self.i + k
        while j < len(self.s) and self.s[j].isspace():
            j += 1
        return self.s[j] if j < len(self.s) else ""

    def skip_space(self) -> None:
        while self.peek().isspace():
            self.i += 1

    def union_item(self) -> Node:
        self.skip_space()
        c = self.peek()
        if c in "\"'":
            node: Node = Field(self.quoted())
        else:
            node = self.slice()
        self.skip_space()
        return node

    def quoted(self) -> str:
        q = self.peek()
        j = self.i + 1
        while j < len(self.s) and self.s[j] != q:
            j += 2 if self.s[j] == "\\" else 1
        if j >= len(self.s):
            raise self.error("unterminated string")
        raw = self.s[self.i:j + 1]
        self.i = j + 1
        return _unquote(raw)

    def number(self) -> int | None:
        self.skip_space()
        j = self.i
        if self.peek() in "+-":
            self.i += 1
        while self.peek().isdigit():
            self.i += 1
        text = self.s[j:self.i]
        self.skip_space()
        if text in ("", "+", "-"):
            if text:
                raise self.error("expected a number")
            return None
        return int(text)

    def slice(self) -> Slice:
        parts = [self.number()]
        colons = 0
        while self.peek() == ":" and colons < 2:
            self.i += 1
            colons += 1
            parts.append(self.number())
        if colons == 0:
            if parts[0] is None:
                raise self.error("expected an index")
            return Slice(parts[0], None, None, single=True)
        parts += [None] * (3 - len(parts))
        return Slice(parts[0], parts[1], parts[2])

    def filter(self) -> Filter:
        self.i += 1  # '?'
        self.skip_space()
        if self.peek() != "(":
            raise self.error("expected '(' after '?'")
        depth, j = 0, self.i
        quote = ""
        while j < len(self.s):
            d = self.s[j]
            if quote:
                if d == "\\":
                    j += 1
                elif d == quote:
                    quote = ""
            elif d in "\"'":
                quote = d
            elif d == "(":
                depth += 1
            elif d == ")":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        if j >= len(self.s):
            raise self.error("unclosed filter")
        inner = self.s[self.i + 1:j]
        self.i = j + 1
        return _parse_filter(inner)


def _split_operator(text: str) -> tuple[str, str | None, str]:
    quote, i = "", 0
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        else:
            for op in _FILTER_OPS:
                if text.startswith(op, i):
                    return text[:i], op, text[i + len(op):]
        i += 1
    return text, None, ""


def _parse_operand(text: str) -> tuple[Node, ...]:
    t = text.strip()
    if not t:
        raise JSONPathError("empty filter operand")
    if t[0] in "\"'" and t[-1] == t[0] and len(t) >= 2:
        return (Literal(_unquote(t)),)
    if t in ("true", "false"):
        return (Literal(t == "true"),)
    try:
        return (Literal(int(t)),)
    except ValueError:
        pass
    try:
        return (Literal(float(t)),)
    except ValueError:
        pass
    return _PathParser(t).path()


def _parse_filter(text: str) -> Filter:
    left, op, right = _split_operator(text)
    if op is None:
        return Filter(_parse_operand(left), None)
    return Filter(_parse_operand(left), op, _parse_operand(right))


def _parse_path(text: str) -> tuple[Node, ...]:
    p = _PathParser(text)
    nodes = p.path()
    if p.i != len(text):
        raise p.error("unexpected trailing input")
    return nodes


# ---------------------------------------------------------------------------------------- evaluation

_MISSING = object()


class _Evaluator:
    def __init__(self, root: Any, allow_missing: bool) -> None:
        self.root = root
        self.allow_missing = allow_missing

    def path(self, nodes: tuple[Node, ...], values: list[Any]) -> list[Any]:
        for node in nodes:
            values = self.node(node, values)
        return values

    def node(self, node: Node, values: list[Any]) -> list[Any]:
        if isinstance(node, Root):
            return [self.root]
        if isinstance(node, Current):
            return values
        if isinstance(node, Field):
            return self.field(node, values)
        if isinstance(node, Wildcard):
            return [x for v in values for x in _children(v)]
        if isinstance(node, Recursive):
            return [x for v in values for x in _descend(v)]
        if isinstance(node, Slice):
            return [x for v in values if v is not None for x in self.slice(node, v)]
        if isinstance(node, Union_):
            return [x for p in node.paths for x in self.path(p, values)]
        if isinstance(node, Filter):
            return [x for v in values if v is not None for x in self.filter(node, v)]
        if isinstance(node, Literal):
            return [node.value]
        raise JSONPathError(f"unknown node {node!r}")

    def field(self, node: Field, values: list[Any]) -> list[Any]:
        out = [v[node.name] for v in values if isinstance(v, dict) and node.name in v]
        if not out and not self.allow_missing:
            raise JSONPathError(f"{node.name} is not found")
        return out

    @staticmethod
    def slice(node: Slice, value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise JSONPathError(f"{type(value).__name__} is not array or slice")
        n = len(value)
        start = 0 if node.start is None else node.start
        if start < 0:
            start += n
        if node.single:
            end = start + 1
        else:
            end = n if node.end is None else node.end
            if end < 0:
                end += n
        if end == start:
            return []
        if start >= n or start < 0:
            raise JSONPathError(f"array index out of bounds: index {start}, length {n}")
        if end > n or end < 0:
            raise JSONPathError(f"array index out of bounds: index {end - 1}, length {n}")
        if start > end:
            raise JSONPathError(f"starting index {start} is greater than ending index {end}")
        step = 1 if node.step is None else node.step
        if step <= 0:
            raise JSONPathError("step must be > 0")
        return value[start:end:step]

    def filter(self, node: Filter, value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise JSONPathError(f"{type(value).__name__} is not array or slice and cannot be filtered")
        out = []
        for item in value:
            lefts = self.operand(node.left, item, strict=node.op is not None)
            if node.op is None:
                if lefts:
                    out.append(item)
                continue
            if not lefts:
                continue
            if len(lefts) > 1:
                raise JSONPathError("can only compare one element at a time")
            rights = self.operand(node.right, item, strict=True)
            if len(rights) != 1:
                raise JSONPathError("can only compare one element at a time")
            if _compare(node.op, lefts[0], rights[0]):
                out.append(item)
        return out

    def operand(self, nodes: tuple[Node, ...], item: Any, strict: bool) -> list[Any]:
        saved = self.allow_missing
        self.allow_missing = True
        try:
            return self.path(nodes, [item])
        except JSONPathError:
            if strict:
                raise
            return []
        finally:
            self.allow_missing = saved

    def template(self, nodes: tuple[TemplateNode, ...], current: Any) -> list[Any]:
        out: list[Any] = []
        for node in nodes:
            if isinstance(node, Text):
                out.append(node.text)
            elif isinstance(node, Action):
                out.extend(self.path(node.path, [current]))
            else:
                for item in self.path(node.path, [current]):
                    out.extend(self.template(node.body, item))
        return out


def _children(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, list):
        return list(value)
    return []


def _descend(value: Any) -> list[Any]:
    """The value and every non-empty map or list below it, in document order (client-go's evalRecursive)."""
    kids = _children(value)
    if not kids:
        return []
    out = [value]
    for kid in kids:
        out.extend(_descend(kid))
    return out


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _compare(op: str, left: Any, right: Any) -> bool:
    if _is_number(left) and _is_number(right):
        pass
    elif type(left) is not type(right) or left is None:
        raise JSONPathError(f"incompatible types for comparison: {left!r} {op} {right!r}")
    if op in ("==", "!="):
        return (left == right) == (op == "==")
    if isinstance(left, (bool, dict, list)):
        raise JSONPathError(f"invalid type for comparison: {left!r}")
    return {"<": left < right, ">": left > right, "<=": left <= right, ">=": left >= right}[op]


def evaluate(expr: str, obj: Any, *, allow_missing: bool = True) -> list:
    """Every result of the template against obj, flattened in order (text nodes give their text).

    Missing keys give no result when allow_missing (as printer columns use it); otherwise they raise
    JSONPathError, as do out-of-range indexes and type mismatches, like client-go.
    """
    nodes = parse(expr) if isinstance(expr, str) else expr
    return _Evaluator(obj, allow_missing).template(nodes, obj)


# ------------------------------------------------------------------------------------------ printing


def format_float(value: float) -> str:
    """A float as Go's fmt %v prints it: shortest digits, exponent form below 1e-4 and from 1e21."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    d = Decimal(repr(value))
    sign, digits, exp = d.as_tuple()
    text = "".join(map(str, digits)).rstrip("0") or "0"
    point = len(digits) + exp  # position of the decimal point relative to the first digit
    exp10 = point - 1
    neg = "-" if sign else ""
    if -4 <= exp10 < 21:
        if point <= 0:
            return f"{neg}0.{'0' * -point}{text}"
        if point >= len(text):
            return f"{neg}{text}{'0' * (point - len(text))}"
        return f"{neg}{text[:point]}.{text[point:]}"
    mant = text[0] + ("." + text[1:] if len(text) > 1 else "")
    return f"{neg}{mant}e{'+' if exp10 >= 0 else '-'}{abs(exp10):02d}"


def go_json(value: Any) -> str:
    """Compact JSON as Go's encoding/json writes it: sorted map keys, HTML characters escaped."""
    def default(o: Any) -> Any:
        raise TypeError(f"cannot encode {type(o).__name__}")

    def fix(v: Any) -> Any:
        if isinstance(v, float) and v.is_integer() and abs(v) < 1e21:
            return int(v)
        if isinstance(v, dict):
            return {k: fix(x) for k, x in v.items()}
        if isinstance(v, list):
            return [fix(x) for x in v]
        return v

    text = json.dumps(fix(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=default)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def to_text(value: Any) -> str:
    """One result as client-go's JSONPath.PrintResults writes it: maps and lists as JSON, scalars plainly."""
    if value is None:
        return "<no value>"
    if isinstance(value, (dict, list)):
        return go_json(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format_float(value)
    return str(value)


def render(expr: str, obj: Any, *, allow_missing: bool = True) -> str:
    """The template executed as text: each action's results joined by spaces (like kubectl -o jsonpath)."""
    nodes = parse(expr)
    ev = _Evaluator(obj, allow_missing)

    def run(ns: tuple[TemplateNode, ...], current: Any) -> str:
        parts: list[str] = []
        for node in ns:
            if isinstance(node, Text):
                parts.append(node.text)
            elif isinstance(node, Action):
                parts.append(" ".join(to_text(v) for v in ev.path(node.path, [current])))
            else:
                parts.extend(run(node.body, item) for item in ev.path(node.path, [current]))
        return "".join(parts)

    return run(nodes, obj)
