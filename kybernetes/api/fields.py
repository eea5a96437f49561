"""Field selectors as k8s.io/apimachinery/pkg/fields, and the field labels each resource supports (1.32)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from kybernetes.api.errors import bad_request
from kybernetes.api.registry import ResourceInfo

EQUALS = "="
DOUBLE_EQUALS = "=="
NOT_EQUALS = "!="
_TERM_OPERATORS = (NOT_EQUALS, DOUBLE_EQUALS, EQUALS)


@dataclass(frozen=True)
class Requirement:
    """One term: `field` `operator` `value` where operator is '=' (also for '==') or '!='."""

    field: str
    operator: str
    value: str

    def matches(self, fields: Mapping[str, str]) -> bool:
        have = fields.get(self.field, "")
        return have != self.value if self.operator == NOT_EQUALS else have == self.value

    def __str__(self) -> str:
        return f"{self.field}{self.operator}{escape_value(self.value)}"


class FieldSelector:
    """A conjunction of field requirements; an empty selector matches everything."""

    __slots__ = ("requirements",)

    def __init__(self, requirements: Iterable[Requirement] = ()) -> None:
        self.requirements: tuple[Requirement, ...] = tuple(requirements)

    @classmethod
    def everything(cls) -> FieldSelector:
        return cls()

    def empty(self) -> bool:
        return not self.requirements

    def matches(self, fields: Mapping[str, str]) -> bool:
        """Match a fields set such as field_set() returns; a missing field reads as ''."""
        return all(r.matches(fields) for r in self.requirements)

    def matches_object(self, obj: Mapping[str, Any], info: ResourceInfo,
                       selectable_fields: Iterable[str] = ()) -> bool:
        return self.empty() or self.matches(field_set(obj, info, selectable_fields))

    def requires_exact_match(self, field: str) -> str | None:
        """The value `field` must equal, if the selector pins it with '=' (e.g. spec.nodeName for a kubelet)."""
        for r in self.requirements:
            if r.field == field and r.operator == EQUALS:
                return r.value
        return None

    def transform(self, fn: Callable[[str, str], tuple[str, str]]) -> FieldSelector:
        """Rewrite each (field, value) with fn, which may raise (fields.Selector.Transform)."""
        out = []
        for r in self.requirements:
            f, v = fn(r.field, r.value)
            out.append(Requirement(f, r.operator, v))
        return FieldSelector(out)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)

    def __repr__(self) -> str:
        return f"FieldSelector({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FieldSelector) and self.requirements == other.requirements

    def __hash__(self) -> int:
        return hash(self.requirements)


# --- parsing ----------------------------------------------------------------------------------------------

def escape_value(s: str) -> str:
    """fields.EscapeValue: backslash-escape '\\', ',' and '='."""
    return s.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def unescape_value(s: str) -> str:
    """fields.UnescapeValue; raises ValueError with upstream's message on a bad escape or a bare ',' or '='."""
    if not any(c in s for c in "\\,="):
        return s
    out: list[str] = []
    in_slash = False
    for c in s:
        if in_slash:
            if c not in "\\,=":
                raise ValueError(f"invalid field selector: invalid escape sequence: \\{c}")
            out.append(c)
            in_slash = False
        elif c == "\\":
            in_slash = True
        elif c in ",=":
            # upstream formats the rune with %v, which prints its code point
            raise ValueError(f"invalid field selector: unescaped character in value: {ord(c)}")
        else:
            out.append(c)
    if in_slash:
        raise ValueError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _split_terms(s: str) -> list[str]:
    if not s:
        return []
    terms: list[str] = []
    start, in_slash = 0, False
    for i, c in enumerate(s):
        if in_slash:
            in_slash = False
        elif c == "\\":
            in_slash = True
        elif c == ",":
            terms.append(s[start:i])
            start = i + 1
    terms.append(s[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    for i in range(len(term)):
        for op in _TERM_OPERATORS:
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op):]
    return None


def parse(selector: str) -> FieldSelector:
    """fields.ParseSelector; raises ValueError with upstream's message."""
    reqs: list[Requirement] = []
    for part in sorted(_split_terms(selector)):
        if not part:
            continue
        split = _split_term(part)
        if split is None:
            raise ValueError(f"invalid selector: '{selector}'; can't understand '{part}'")
        lhs, op, rhs = split
        reqs.append(Requirement(lhs, NOT_EQUALS if op == NOT_EQUALS else EQUALS, unescape_value(rhs)))
    return FieldSelector(reqs)


def parse_field_selector(selector: str | None) -> FieldSelector:
    """Parse a `fieldSelector` query parameter; a bad one is 400 BadRequest as kube-apiserver answers it."""
    if not selector:
        return FieldSelector.everything()
    try:
        return parse(selector)
    except ValueError as e:
        raise bad_request(str(e)) from None


# --- supported field labels per resource --------------------------------------------------------------

_META = ("metadata.name", "metadata.namespace")
_POD_FIELDS = _META + ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
                       "spec.hostNetwork", "status.phase", "status.podIP", "status.podIPs",
                       "status.nominatedNodeName")
_EVENT_FIELDS = _META + ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                         "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
                         "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type")
# events.k8s.io names its fields differently and maps them onto core's field set
_EVENTS_V1_MAPPING = {
    "reason": "reason", "type": "type", "metadata.name": "metadata.name", "metadata.namespace": "metadata.namespace",
    "regarding.kind": "involvedObject.kind", "regarding.namespace": "involvedObject.namespace",
    "regarding.name": "involvedObject.name", "regarding.uid": "involvedObject.uid",
    "regarding.apiVersion": "involvedObject.apiVersion",
    "regarding.resourceVersion": "involvedObject.resourceVersion",
    "regarding.fieldPath": "involvedObject.fieldPath", "reportingController": "reportingComponent",
}

# (group, plural) -> field labels its conversion func accepts; resources not listed get upstream's default
# conversion, which accepts only metadata.name and metadata.namespace.
FIELD_LABELS: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "pods"): _POD_FIELDS,
    ("", "events"): _EVENT_FIELDS,
    ("", "nodes"): ("metadata.name", "spec.unschedulable"),
    ("", "namespaces"): ("metadata.name", "status.phase"),
    ("", "secrets"): _META + ("type",),
    ("", "replicationcontrollers"): _META + ("status.replicas",),
    ("", "persistentvolumes"): ("metadata.name",),
    ("apps", "replicasets"): _META + ("status.replicas",),
    ("apps", "statefulsets"): _META + ("status.successful",),
    ("batch", "jobs"): _META + ("status.successful",),
    ("certificates.k8s.io", "certificatesigningrequests"): ("metadata.name", "spec.signerName"),
    ("certificates.k8s.io", "clustertrustbundles"): ("metadata.name", "spec.signerName"),
    ("resource.k8s.io", "resourceslices"): ("metadata.name", "spec.nodeName", "spec.driver"),
    ("events.k8s.io", "events"): tuple(_EVENTS_V1_MAPPING),
}

# resources whose conversion error names the kind ("field label not supported for <gvk>: <label>")
_KIND_IN_ERROR = {("apps", "statefulsets"): "appsv1.StatefulSet"}
_GVK_IN_ERROR = {("resource.k8s.io", "resourceslices")}


def _gvk_string(info: ResourceInfo) -> str:
    """schema.GroupVersionKind.String(): 'group/version, Kind=Kind' ('/v1, Kind=Pod' for core)."""
    return f"{info.group}/{info.version}, Kind={info.kind}"


def supported_field_labels(info: ResourceInfo, selectable_fields: Iterable[str] = ()) -> tuple[str, ...]:
    """The field labels a fieldSelector on this resource may use."""
    if info.crd:
        base = ("metadata.name",) + (("metadata.namespace",) if info.namespaced else ())
        return base + tuple(p.lstrip(".") for p in selectable_fields)
    return FIELD_LABELS.get((info.group, info.plural), _META)


def convert_field_label(info: ResourceInfo, label: str, value: str,
                        selectable_fields: Iterable[str] = ()) -> tuple[str, str]:
    """Scheme.ConvertFieldLabel: map a label to the internal field name, or raise ValueError as upstream does."""
    key = (info.group, info.plural)
    if info.crd:
        if label == "metadata.name" or (info.namespaced and label == "metadata.namespace"):
            return label, value
        for path in selectable_fields:
            if label == path or label == path.lstrip("."):
                return path.lstrip("."), value
        raise ValueError(f"field label not supported for {_gvk_string(info)}: {label}")
    if key == ("events.k8s.io", "events"):
        if label in _EVENTS_V1_MAPPING:
            return _EVENTS_V1_MAPPING[label], value
        raise ValueError(f"field label not supported: {label}")
    if key == ("", "pods") and label == "spec.host":  # old v1 clients
        return "spec.nodeName", value
    labels = FIELD_LABELS.get(key)
    if labels is None:
        if label in _META:
            return label, value
        raise ValueError(f'"{label}" is not a known field selector: only "metadata.name", "metadata.namespace"')
    if label in labels:
        return label, value
    if key in _KIND_IN_ERROR:
        raise ValueError(f"field label not supported for {_KIND_IN_ERROR[key]}: {label}")
    if key in _GVK_IN_ERROR:
        raise ValueError(f"field label not supported for {_gvk_string(info)}: {label}")
    raise ValueError(f"field label not supported: {label}")


def convert_field_selector(selector: FieldSelector, info: ResourceInfo,
                           selectable_fields: Iterable[str] = ()) -> FieldSelector:
    """Check and convert a parsed selector for a resource; unsupported labels are 400 BadRequest."""
    paths = tuple(selectable_fields)
    try:
        return selector.transform(lambda f, v: convert_field_label(info, f, v, paths))
    except ValueError as e:
        raise bad_request(str(e)) from None


# --- the fields set of an object (each registry strategy's GetAttrs) -------------------------------------

def _get(obj: Mapping[str, Any], *path: str) -> Any:
    cur: Any = obj
    for p in path:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(p)
    return cur


def _s(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _pod_fields(obj: Mapping[str, Any]) -> dict[str, str]:
    ips = _get(obj, "status", "podIPs") or []
    pod_ip = _s(ips[0].get("ip")) if ips and isinstance(ips[0], Mapping) else _s(_get(obj, "status", "podIP"))
    return {
        "spec.nodeName": _s(_get(obj, "spec", "nodeName")),
        "spec.restartPolicy": _s(_get(obj, "spec", "restartPolicy")),
        "spec.schedulerName": _s(_get(obj, "spec", "schedulerName")),
        "spec.serviceAccountName": _s(_get(obj, "spec", "serviceAccountName")),
        "spec.hostNetwork": "true" if _get(obj, "spec", "hostNetwork") else "false",
        "status.phase": _s(_get(obj, "status", "phase")),
        "status.podIP": pod_ip,
        "status.nominatedNodeName": _s(_get(obj, "status", "nominatedNodeName")),
    }


def _event_fields(obj: Mapping[str, Any]) -> dict[str, str]:
    inv = obj.get("involvedObject") or obj.get("regarding") or {}
    source = _s(_get(obj, "source", "component")) or _s(obj.get("reportingComponent") or
                                                        obj.get("reportingController"))
    return {
        "involvedObject.kind": _s(inv.get("kind")),
        "involvedObject.namespace": _s(inv.get("namespace")),
        "involvedObject.name": _s(inv.get("name")),
        "involvedObject.uid": _s(inv.get("uid")),
        "involvedObject.apiVersion": _s(inv.get("apiVersion")),
        "involvedObject.resourceVersion": _s(inv.get("resourceVersion")),
        "involvedObject.fieldPath": _s(inv.get("fieldPath")),
        "reason": _s(obj.get("reason")),
        "reportingComponent": _s(obj.get("reportingComponent") or obj.get("reportingController")),
        "source": source,
        "type": _s(obj.get("type")),
    }


def _simple(*fields: tuple[str, tuple[str, ...]]) -> Callable[[Mapping[str, Any]], dict[str, str]]:
    def get(obj: Mapping[str, Any]) -> dict[str, str]:
        return {name: _s(_get(obj, *path)) for name, path in fields}
    return get


_FIELD_GETTERS: dict[tuple[str, str], Callable[[Mapping[str, Any]], dict[str, str]]] = {
    ("", "pods"): _pod_fields,
    ("", "events"): _event_fields,
    ("events.k8s.io", "events"): _event_fields,
    ("", "nodes"): lambda o: {"spec.unschedulable": "true" if _get(o, "spec", "unschedulable") else "false"},
    ("", "namespaces"): _simple(("status.phase", ("status", "phase"))),
    ("", "secrets"): _simple(("type", ("type",))),
    ("", "replicationcontrollers"): lambda o: {"status.replicas": str(int(_get(o, "status", "replicas") or 0))},
    ("apps", "replicasets"): lambda o: {"status.replicas": str(int(_get(o, "status", "replicas") or 0))},
    ("batch", "jobs"): lambda o: {"status.successful": str(int(_get(o, "status", "succeeded") or 0))},
    ("certificates.k8s.io", "certificatesigningrequests"): _simple(("spec.signerName", ("spec", "signerName"))),
    ("certificates.k8s.io", "clustertrustbundles"): _simple(("spec.signerName", ("spec", "signerName"))),
    ("resource.k8s.io", "resourceslices"): _simple(("spec.nodeName", ("spec", "nodeName")),
                                                   ("spec.driver", ("spec", "driver"))),
}


def _json_path_value(obj: Mapping[str, Any], path: str) -> str | None:
    """A CRD selectableFields JSONPath (simple '.a.b.c') read as a string; None when absent."""
    v = _get(obj, *[p for p in path.lstrip(".").split(".") if p])
    if v is None or isinstance(v, (dict, list)):
        return None
    return _s(v)


def field_set(obj: Mapping[str, Any], info: ResourceInfo, selectable_fields: Iterable[str] = ()) -> dict[str, str]:
    """The fields.Set a selector is matched against: metadata.name, metadata.namespace (namespaced only)
    and the resource's own selectable fields."""
    meta = obj.get("metadata") or {}
    out = {"metadata.name": _s(meta.get("name"))}
    if info.namespaced:
        out["metadata.namespace"] = _s(meta.get("namespace"))
    getter = _FIELD_GETTERS.get((info.group, info.plural))
    if getter is not None:
        out.update(getter(obj))
    for path in selectable_fields:
        v = _json_path_value(obj, path)
        if v is not None:
            out[path.lstrip(".")] = v
    return out


def field_getter(info: ResourceInfo, selectable_fields: Iterable[str] = ()) -> Callable[[Mapping[str, Any]],
                                                                                         dict[str, str]]:
    """A function from object to its fields set, for filtering many objects of one resource."""
    paths = tuple(selectable_fields)
    return lambda obj: field_set(obj, info, paths)


def parse_and_convert(selector: str | None, info: ResourceInfo,
                      selectable_fields: Iterable[str] = ()) -> FieldSelector:
    """Parse a fieldSelector query parameter and check it against the resource, as a list/watch does."""
    return convert_field_selector(parse_field_selector(selector), info, selectable_fields)


__all__ = [
    "FIELD_LABELS", "FieldSelector", "Requirement", "convert_field_label", "convert_field_selector",
    "escape_value", "field_getter", "field_set", "parse", "parse_and_convert", "parse_field_selector",
    "supported_field_labels", "unescape_value",
]
