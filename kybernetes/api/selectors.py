"""Label selectors as k8s.io/apimachinery/pkg/labels: the query-string parser, matching, and metav1.LabelSelector."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from kybernetes.api.errors import FieldError, bad_request, forbidden, invalid, required
from kybernetes.api.validation.meta import is_dns1123_subdomain, is_qualified_name, is_valid_label_value

# --- name and value validation: the syntax checks live in kybernetes.api.validation.meta ------------------


def validate_label_key(key: str, path: str) -> list[FieldError]:
    """metav1validation.ValidateLabelName: one error per problem with a label key."""
    return [invalid(path, key, msg) for msg in is_qualified_name(key)]


def validate_label_value(value: str, path: str) -> list[FieldError]:
    return [invalid(path, value, msg) for msg in is_valid_label_value(value)]


def validate_labels(labels: Mapping[str, str] | None, path: str) -> list[FieldError]:
    """metav1validation.ValidateLabels (as used for metadata.labels and matchLabels)."""
    errs: list[FieldError] = []
    for k, v in (labels or {}).items():
        errs.extend(validate_label_key(k, path))
        if not isinstance(v, str):
            errs.append(invalid(path, v, "must be a string"))
            continue
        errs.extend(validate_label_value(v, path))
    return errs


# --- requirements and selectors -----------------------------------------------------------------------

DOES_NOT_EXIST = "!"
EQUALS = "="
DOUBLE_EQUALS = "=="
IN = "in"
NOT_EQUALS = "!="
NOT_IN = "notin"
EXISTS = "exists"
GREATER_THAN = "gt"
LESS_THAN = "lt"
_BINARY_OPERATORS = (IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS, GREATER_THAN, LESS_THAN)


def _parse_int64(s: str) -> int | None:
    if not re.fullmatch(r"[+-]?[0-9]+", s):
        return None
    v = int(s)
    return v if -(2 ** 63) <= v < 2 ** 63 else None


@dataclass(frozen=True)
class Requirement:
    """One term of a selector: key, operator and the (sorted) values."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        has = self.key in labels
        if op in (IN, EQUALS, DOUBLE_EQUALS):
            return has and labels[self.key] in self.values
        if op in (NOT_IN, NOT_EQUALS):
            return not has or labels[self.key] not in self.values
        if op == EXISTS:
            return has
        if op == DOES_NOT_EXIST:
            return not has
        if op in (GREATER_THAN, LESS_THAN):
            if not has or len(self.values) != 1:
                return False
            have, want = _parse_int64(labels[self.key]), _parse_int64(self.values[0])
            if have is None or want is None:
                return False
            return have > want if op == GREATER_THAN else have < want
        return False

    def __str__(self) -> str:
        op = self.operator
        if op == DOES_NOT_EXIST:
            return "!" + self.key
        if op == EXISTS:
            return self.key
        if op in (IN, NOT_IN):
            return f"{self.key} {op} ({','.join(self.values)})"
        sym = {EQUALS: "=", DOUBLE_EQUALS: "==", NOT_EQUALS: "!=", GREATER_THAN: ">", LESS_THAN: "<"}[op]
        return f"{self.key}{sym}{self.values[0] if self.values else ''}"


def new_requirement(key: str, operator: str, values: Iterable[str], path: str = "") -> Requirement:
    """labels.NewRequirement: validates key, operator and values; raises ValueError with upstream's text."""
    vals = list(values)
    errs: list[FieldError] = []
    key_msgs = is_qualified_name(key)
    if key_msgs:
        errs.append(invalid(_child(path, "key"), key, "; ".join(key_msgs)))
    vpath = _child(path, "values")
    if operator in (IN, NOT_IN):
        if not vals:
            errs.append(invalid(vpath, vals, "for 'in', 'notin' operators, values set can't be empty"))
    elif operator in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS):
        if len(vals) != 1:
            errs.append(invalid(vpath, vals, "exact-match compatibility requires one single value"))
    elif operator in (EXISTS, DOES_NOT_EXIST):
        if vals:
            errs.append(invalid(vpath, vals, "values set must be empty for exists and does not exist"))
    elif operator in (GREATER_THAN, LESS_THAN):
        if len(vals) != 1:
            errs.append(invalid(vpath, vals, "for 'Gt', 'Lt' operators, exactly one value is required"))
        for i, v in enumerate(vals):
            if _parse_int64(v) is None:
                errs.append(invalid(f"{vpath}[{i}]", v, "for 'Gt', 'Lt' operators, the value must be an integer"))
    else:
        errs.append(FieldError("FieldValueNotSupported", _child(path, "operator"), operator,
                               "supported values: " + ", ".join(f'"{o}"' for o in
                                                                (IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS,
                                                                 EXISTS, DOES_NOT_EXIST, GREATER_THAN, LESS_THAN))))
    for i, v in enumerate(vals):
        msgs = is_valid_label_value(v)
        if msgs:
            errs.append(invalid(f"{vpath}[{i}][{key}]", v, "; ".join(msgs)))
    if errs:
        raise ValueError(_aggregate(errs))
    return Requirement(key, operator, tuple(vals))


def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _aggregate(errs: list[FieldError]) -> str:
    """utilerrors.Aggregate's Error(): one message, or '[a, b]'; a field error prints as 'path: body'."""
    msgs = [f"{e.field}: {e.message}" for e in errs]
    return msgs[0] if len(msgs) == 1 else "[" + ", ".join(msgs) + "]"


class LabelSelector:
    """A conjunction of requirements; `everything()` matches all label sets and `nothing()` none."""

    __slots__ = ("requirements", "_nothing")

    def __init__(self, requirements: Iterable[Requirement] = (), *, nothing: bool = False) -> None:
        self.requirements: tuple[Requirement, ...] = tuple(sorted(requirements, key=lambda r: r.key))
        self._nothing = nothing

    @classmethod
    def everything(cls) -> LabelSelector:
        return cls()

    @classmethod
    def nothing(cls) -> LabelSelector:
        return cls(nothing=True)

    def empty(self) -> bool:
        """True when the selector matches everything (no requirements)."""
        return not self._nothing and not self.requirements

    def is_nothing(self) -> bool:
        return self._nothing

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self._nothing:
            return False
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def requires_exact_match(self, key: str) -> str | None:
        """The single value `key` must equal (an '=', '==' or one-value 'in' requirement), if any."""
        for r in self.requirements:
            if r.key == key and r.operator in (EQUALS, DOUBLE_EQUALS, IN) and len(r.values) == 1:
                return r.values[0]
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)

    def __repr__(self) -> str:
        return "LabelSelector(nothing)" if self._nothing else f"LabelSelector({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, LabelSelector) and self.requirements == other.requirements
                and self._nothing == other._nothing)

    def __hash__(self) -> int:
        return hash((self.requirements, self._nothing))


# --- the query-string lexer and parser -------------------------------------------------------------------

_ERROR, _EOS, _CLOSED_PAR, _COMMA, _DOES_NOT_EXIST, _DOUBLE_EQUALS, _EQUALS, _GREATER, _IDENT, _IN, _LESS, \
    _NOT_EQUALS, _NOT_IN, _OPEN_PAR = range(14)
_STRING_TO_TOKEN = {")": _CLOSED_PAR, ",": _COMMA, "!": _DOES_NOT_EXIST, "==": _DOUBLE_EQUALS, "=": _EQUALS,
                    ">": _GREATER, "in": _IN, "<": _LESS, "!=": _NOT_EQUALS, "notin": _NOT_IN, "(": _OPEN_PAR}
_SPECIAL = set("=!(),><")
_WHITESPACE = set(" \t\r\n")


def _lex(s: str) -> list[tuple[int, str]]:
    items: list[tuple[int, str]] = []
    pos, n = 0, len(s)
    while True:
        while pos < n and s[pos] in _WHITESPACE:
            pos += 1
        if pos >= n:
            items.append((_EOS, ""))
            return items
        ch = s[pos]
        if ch in _SPECIAL:
            buf, last, end = "", None, pos
            while end < n and s[end] in _SPECIAL:
                buf += s[end]
                if buf in _STRING_TO_TOKEN:
                    last = (_STRING_TO_TOKEN[buf], buf)
                    end += 1
                elif last is not None:
                    break
                else:
                    end += 1
            if last is None:
                items.append((_ERROR, f"error expected: keyword found '{buf}'"))
                return items
            pos = pos + len(last[1])
            items.append(last)
        else:
            start = pos
            while pos < n and s[pos] not in _WHITESPACE and s[pos] not in _SPECIAL:
                pos += 1
            word = s[start:pos]
            items.append((_STRING_TO_TOKEN[word], word) if word in _STRING_TO_TOKEN else (_IDENT, word))


class _Parser:
    def __init__(self, s: str) -> None:
        self.items = _lex(s)
        self.pos = 0

    def lookahead(self, values: bool = True) -> tuple[int, str]:
        tok, lit = self.items[min(self.pos, len(self.items) - 1)]
        if values and tok in (_IN, _NOT_IN):
            tok = _IDENT
        return tok, lit

    def consume(self, values: bool = True) -> tuple[int, str]:
        tok, lit = self.lookahead(values)
        self.pos += 1
        return tok, lit

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        while True:
            tok, lit = self.lookahead()
            if tok in (_IDENT, _DOES_NOT_EXIST):
                try:
                    reqs.append(self.parse_requirement())
                except ValueError as e:
                    raise ValueError(f"unable to parse requirement: {e}") from None
                t, lit2 = self.consume()
                if t == _EOS:
                    return reqs
                if t == _COMMA:
                    t2, l2 = self.lookahead()
                    if t2 not in (_IDENT, _DOES_NOT_EXIST):
                        raise ValueError(f"found '{l2}', expected: identifier after ','")
                else:
                    raise ValueError(f"found '{lit2}', expected: ',' or 'end of string'")
            elif tok == _EOS:
                return reqs
            else:
                raise ValueError(f"found '{lit}', expected: !, identifier, or 'end of string'")

    def parse_requirement(self) -> Requirement:
        key, op = self.parse_key_and_infer_operator()
        if op in (EXISTS, DOES_NOT_EXIST):
            return new_requirement(key, op, [])
        op = self.parse_operator()
        if op in (IN, NOT_IN):
            values = self.parse_values()
        else:
            values = self.parse_exact_value()
        return new_requirement(key, op, sorted(values))

    def parse_key_and_infer_operator(self) -> tuple[str, str]:
        op = ""
        tok, lit = self.consume()
        if tok == _DOES_NOT_EXIST:
            op = DOES_NOT_EXIST
            tok, lit = self.consume()
        if tok != _IDENT:
            raise ValueError(f"found '{lit}', expected: identifier")
        msgs = is_qualified_name(lit)
        if msgs:
            # upstream validates against a nil field.Path, which prints as "<nil>"
            raise ValueError(str(invalid("<nil>", lit, "; ".join(msgs))))
        t, _ = self.lookahead()
        if t in (_EOS, _COMMA) and op != DOES_NOT_EXIST:
            op = EXISTS
        return lit, op

    def parse_operator(self) -> str:
        tok, lit = self.consume(values=False)
        ops = {_IN: IN, _EQUALS: EQUALS, _DOUBLE_EQUALS: DOUBLE_EQUALS, _GREATER: GREATER_THAN, _LESS: LESS_THAN,
               _NOT_IN: NOT_IN, _NOT_EQUALS: NOT_EQUALS}
        if tok not in ops:
            raise ValueError(f"found '{lit}', expected: {', '.join(_BINARY_OPERATORS)}")
        return ops[tok]

    def parse_values(self) -> set[str]:
        tok, lit = self.consume()
        if tok != _OPEN_PAR:
            raise ValueError(f"found '{lit}' expected: '('")
        tok, lit = self.lookahead()
        if tok in (_IDENT, _COMMA):
            s = self.parse_identifiers_list()
            tok2, _ = self.consume()
            if tok2 != _CLOSED_PAR:
                raise ValueError(f"found '{lit}', expected: ')'")
            return s
        if tok == _CLOSED_PAR:
            self.consume()
            return {""}
        raise ValueError(f"found '{lit}', expected: ',', ')' or identifier")

    def parse_identifiers_list(self) -> set[str]:
        s: set[str] = set()
        while True:
            tok, lit = self.consume()
            if tok == _IDENT:
                s.add(lit)
                tok2, lit2 = self.lookahead()
                if tok2 == _COMMA:
                    continue
                if tok2 == _CLOSED_PAR:
                    return s
                raise ValueError(f"found '{lit2}', expected: ',' or ')'")
            if tok == _COMMA:
                if not s:
                    s.add("")
                tok2, _ = self.lookahead()
                if tok2 == _CLOSED_PAR:
                    s.add("")
                    return s
                if tok2 == _COMMA:
                    self.consume()
                    s.add("")
                continue
            raise ValueError(f"found '{lit}', expected: ',', or identifier")

    def parse_exact_value(self) -> set[str]:
        tok, _ = self.lookahead()
        if tok in (_EOS, _COMMA):
            return {""}
        tok, lit = self.consume()
        if tok == _IDENT:
            return {lit}
        raise ValueError(f"found '{lit}', expected: identifier")


def parse(selector: str) -> LabelSelector:
    """labels.Parse; raises ValueError with upstream's message on bad syntax or invalid keys/values."""
    return LabelSelector(_Parser(selector).parse())


def parse_label_selector(selector: str | None) -> LabelSelector:
    """Parse a `labelSelector` query parameter; a bad one is a 400 BadRequest as kube-apiserver answers it."""
    if not selector:
        return LabelSelector.everything()
    try:
        return parse(selector)
    except ValueError as e:
        raise bad_request(str(e)) from None


# --- metav1.LabelSelector ---------------------------------------------------------------------------------

_METAV1_OPERATORS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}


def label_selector_from_dict(sel: Mapping[str, Any] | None) -> LabelSelector:
    """metav1.LabelSelectorAsSelector: None selects nothing, an empty selector everything.

    Raises ValueError (upstream's message) for an unknown operator or invalid key/value.
    """
    if sel is None:
        return LabelSelector.nothing()
    match_labels = sel.get("matchLabels") or {}
    exprs = sel.get("matchExpressions") or []
    if not match_labels and not exprs:
        return LabelSelector.everything()
    reqs = [new_requirement(k, EQUALS, [v]) for k, v in match_labels.items()]
    for expr in exprs:
        op = expr.get("operator")
        if op not in _METAV1_OPERATORS:
            raise ValueError(f'"{op}" is not a valid label selector operator')
        reqs.append(new_requirement(expr.get("key", ""), _METAV1_OPERATORS[op], list(expr.get("values") or [])))
    return LabelSelector(reqs)


def label_selector_from_dict_or_everything(sel: Mapping[str, Any] | None) -> LabelSelector:
    """Like label_selector_from_dict, but a missing selector matches everything (e.g. a PodDisruptionBudget's
    nil selector in policy/v1beta1, NetworkPolicy peers); use where upstream documents that."""
    return LabelSelector.everything() if sel is None else label_selector_from_dict(sel)


def label_selector_matches(sel: Mapping[str, Any] | None, labels: Mapping[str, str] | None) -> bool:
    """Does a metav1.LabelSelector dict select these labels? An invalid selector selects nothing."""
    try:
        return label_selector_from_dict(sel).matches(labels)
    except ValueError:
        return False


def validate_label_selector_dict(sel: Mapping[str, Any] | None, path: str, *,
                                 allow_invalid_label_value: bool = False) -> list[FieldError]:
    """metav1validation.ValidateLabelSelector for a selector at `path` (e.g. 'spec.selector')."""
    if sel is None:
        return []
    errs = validate_labels(sel.get("matchLabels"), f"{path}.matchLabels")
    for i, expr in enumerate(sel.get("matchExpressions") or []):
        p = f"{path}.matchExpressions[{i}]"
        op = expr.get("operator")
        values = expr.get("values") or []
        if op in ("In", "NotIn"):
            if not values:
                errs.append(required(f"{p}.values", "must be specified when `operator` is 'In' or 'NotIn'"))
        elif op in ("Exists", "DoesNotExist"):
            if values:
                errs.append(forbidden(f"{p}.values", "may not be specified when `operator` is 'Exists' or "
                                                     "'DoesNotExist'"))
        else:
            errs.append(invalid(f"{p}.operator", op, "not a valid selector operator"))
        errs.extend(validate_label_key(expr.get("key", ""), f"{p}.key"))
        if not allow_invalid_label_value:
            for j, v in enumerate(values):
                errs.extend(validate_label_value(v, f"{p}.values[{j}]"))
    return errs


def selector_to_dict(selector: LabelSelector) -> dict[str, Any]:
    """A parsed selector as a metav1.LabelSelector dict (metav1.ParseToLabelSelector's shape)."""
    match_labels: dict[str, str] = {}
    exprs: list[dict[str, Any]] = []
    names = {IN: "In", NOT_IN: "NotIn", EXISTS: "Exists", DOES_NOT_EXIST: "DoesNotExist"}
    for r in selector.requirements:
        if r.operator in (EQUALS, DOUBLE_EQUALS):
            match_labels[r.key] = r.values[0]
        elif r.operator == NOT_EQUALS:
            exprs.append({"key": r.key, "operator": "NotIn", "values": list(r.values)})
        elif r.operator in names:
            e: dict[str, Any] = {"key": r.key, "operator": names[r.operator]}
            if r.values:
                e["values"] = list(r.values)
            exprs.append(e)
        else:
            raise ValueError(f"{r.operator!r} is not a valid label selector operator")
    out: dict[str, Any] = {}
    if match_labels:
        out["matchLabels"] = match_labels
    if exprs:
        out["matchExpressions"] = exprs
    return out


__all__ = [
    "LabelSelector", "Requirement", "is_qualified_name", "is_valid_label_value",
    "is_dns1123_subdomain", "label_selector_from_dict", "label_selector_from_dict_or_everything",
    "label_selector_matches", "new_requirement", "parse", "parse_label_selector", "selector_to_dict",
    "validate_label_key", "validate_label_selector_dict", "validate_label_value", "validate_labels",
]
