"""ObjectMeta validation and the name/label/annotation/selector syntax checks, worded as apimachinery words them."""

from __future__ import annotations

import re
from typing import Any, Callable

import orjson

from kybernetes.api.errors import FieldError, forbidden, invalid, required, too_long

NameFn = Callable[[str, bool], list[str]]

FIELD_IMMUTABLE = "field is immutable"
IS_NEGATIVE = "must be greater than or equal to 0"
TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024

DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
                     "and must start and end with an alphanumeric character")
DNS1123_SUBDOMAIN_FMT = DNS1123_LABEL_FMT + r"(\." + DNS1123_LABEL_FMT + ")*"
DNS1123_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                         "'-' or '.', and must start and end with an alphanumeric character")
DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
DNS1035_LABEL_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
                     "start with an alphabetic character, and end with an alphanumeric character")
QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
QUALIFIED_NAME_MSG = ("must consist of alphanumeric characters, '-', '_' or '.', "
                      "and must start and end with an alphanumeric character")
LABEL_VALUE_FMT = "(" + QUALIFIED_NAME_FMT + ")?"
LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
                   "and must start and end with an alphanumeric character")
CONFIG_MAP_KEY_FMT = "[-._a-zA-Z0-9]+"
CONFIG_MAP_KEY_MSG = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
ENV_VAR_NAME_FMT = "[-._a-zA-Z][-._a-zA-Z0-9]*"
ENV_VAR_NAME_MSG = ("a valid environment variable name must consist of alphabetic characters, digits, '_', '-', "
                    "or '.', and must not start with a digit")
PERCENT_FMT = "[0-9]+%"
PERCENT_MSG = "a valid percent string must be a numeric string followed by an ending '%'"

_RE = {fmt: re.compile("^" + fmt + "$") for fmt in (
    DNS1123_LABEL_FMT, DNS1123_SUBDOMAIN_FMT, DNS1035_LABEL_FMT, QUALIFIED_NAME_FMT, LABEL_VALUE_FMT,
    CONFIG_MAP_KEY_FMT, ENV_VAR_NAME_FMT, PERCENT_FMT)}


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    """validation.RegexError: the message, examples and the regex, exactly as upstream joins them."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    text = msg + " (e.g. "
    for i, ex in enumerate(examples):
        if i > 0:
            text += " or "
        text += f"'{ex}', "
    return text + f"regex used for validation is '{fmt}')"


def max_len_error(n: int) -> str:
    return f"must be no more than {n} characters"


def inclusive_range_error(lo: int, hi: int) -> str:
    return f"must be between {lo} and {hi}, inclusive"


def _matches(fmt: str, value: str) -> bool:
    return _RE[fmt].match(value) is not None


# ---- string syntax (validation.Is*) ----

def is_dns1123_label(value: str) -> list[str]:
    errs = []
    if len(value) > 63:
        errs.append(max_len_error(63))
    if not _matches(DNS1123_LABEL_FMT, value):
        errs.append(regex_error(DNS1123_LABEL_MSG, DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


def is_dns1123_subdomain(value: str) -> list[str]:
    errs = []
    if len(value) > 253:
        errs.append(max_len_error(253))
    if not _matches(DNS1123_SUBDOMAIN_FMT, value):
        errs.append(regex_error(DNS1123_SUBDOMAIN_MSG, DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def is_dns1035_label(value: str) -> list[str]:
    errs = []
    if len(value) > 63:
        errs.append(max_len_error(63))
    if not _matches(DNS1035_LABEL_FMT, value):
        errs.append(regex_error(DNS1035_LABEL_MSG, DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errs


def is_qualified_name(value: str) -> list[str]:
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + m for m in is_dns1123_subdomain(prefix))
    else:
        return ["a qualified name " + regex_error(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part " + max_len_error(63))
    if not _matches(QUALIFIED_NAME_FMT, name):
        errs.append("name part " + regex_error(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc"))
    return errs


def is_valid_label_value(value: str) -> list[str]:
    errs = []
    if len(value) > 63:
        errs.append(max_len_error(63))
    if not _matches(LABEL_VALUE_FMT, value):
        errs.append(regex_error(LABEL_VALUE_MSG, LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def _chdir_prefix(value: str) -> list[str]:
    if value == ".":
        return ["must not be '.'"]
    if value == "..":
        return ["must not be '..'"]
    if value.startswith(".."):
        return ["must not start with '..'"]
    return []


def is_config_map_key(value: str) -> list[str]:
    errs = []
    if len(value) > 253:
        errs.append(max_len_error(253))
    if not _matches(CONFIG_MAP_KEY_FMT, value):
        errs.append(regex_error(CONFIG_MAP_KEY_MSG, CONFIG_MAP_KEY_FMT, "key.name", "KEY_NAME", "key-name"))
    return errs + _chdir_prefix(value)


def is_env_var_name(value: str) -> list[str]:
    errs = []
    if not _matches(ENV_VAR_NAME_FMT, value):
        errs.append(regex_error(ENV_VAR_NAME_MSG, ENV_VAR_NAME_FMT, "my.env-name", "MY_ENV.NAME", "MyEnvName1"))
    return errs + _chdir_prefix(value)


def is_valid_port_num(port: Any) -> list[str]:
    if isinstance(port, int) and not isinstance(port, bool) and 1 <= port <= 65535:
        return []
    return [inclusive_range_error(1, 65535)]


def is_valid_port_name(port: str) -> list[str]:
    errs = []
    if len(port) > 15:
        errs.append(max_len_error(15))
    if not re.fullmatch(r"[-a-z0-9]+", port):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search(r"[a-z]", port):
        errs.append("must contain at least one letter (a-z)")
    if "--" in port:
        errs.append("must not contain consecutive hyphens")
    if port and (port[0] == "-" or port[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def is_valid_percent(value: str) -> list[str]:
    if _matches(PERCENT_FMT, value):
        return []
    return [regex_error(PERCENT_MSG, PERCENT_FMT, "1%", "93%")]


def is_valid_path_segment_name(name: str) -> list[str]:
    errs = []
    for illegal in ("..", "."):
        if name == illegal:
            errs.append(f"may not be '{illegal}'")
    for illegal in ("/", "%"):
        if illegal in name:
            errs.append(f"may not contain '{illegal}'")
    return errs


# ---- name functions (ValidateNameFunc): prefix=True for generateName ----

def _mask_trailing_dash(name: str) -> str:
    return name[:-1] + "a" if len(name) > 1 and name.endswith("-") else name


def name_is_dns_subdomain(name: str, prefix: bool) -> list[str]:
    return is_dns1123_subdomain(_mask_trailing_dash(name) if prefix else name)


def name_is_dns_label(name: str, prefix: bool) -> list[str]:
    return is_dns1123_label(_mask_trailing_dash(name) if prefix else name)


def name_is_dns1035_label(name: str, prefix: bool) -> list[str]:
    return is_dns1035_label(_mask_trailing_dash(name) if prefix else name)


def name_is_path_segment(name: str, prefix: bool) -> list[str]:
    if prefix:
        return [m for m in is_valid_path_segment_name(name) if m.startswith("may not contain")]
    return is_valid_path_segment_name(name)


def name_anything(name: str, prefix: bool) -> list[str]:
    return []


# ---- field-level checks ----

def validate_nonnegative(value: Any, path: str) -> list[FieldError]:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
        return [invalid(path, value, IS_NEGATIVE)]
    return []


def validate_immutable(new: Any, old: Any, path: str) -> list[FieldError]:
    return [] if new == old else [invalid(path, new, FIELD_IMMUTABLE)]


def validate_dns1123_label(value: str, path: str) -> list[FieldError]:
    return [invalid(path, value, m) for m in is_dns1123_label(value)]


def validate_dns1123_subdomain(value: str, path: str) -> list[FieldError]:
    return [invalid(path, value, m) for m in is_dns1123_subdomain(value)]


def validate_qualified_name(value: str, path: str) -> list[FieldError]:
    return [invalid(path, value, m) for m in is_qualified_name(value)]


def validate_label_name(key: str, path: str) -> list[FieldError]:
    return [invalid(path, key, m) for m in is_qualified_name(key)]


def validate_labels(labels: Any, path: str) -> list[FieldError]:
    """metav1validation.ValidateLabels: every error is reported at the map's path, not the key's."""
    if not isinstance(labels, dict):
        return []
    errs: list[FieldError] = []
    for k, v in labels.items():
        errs.extend(validate_label_name(k, path))
        if not isinstance(v, str):
            errs.append(invalid(path, v, "must be a string"))
            continue
        errs.extend(invalid(path, v, m) for m in is_valid_label_value(v))
    return errs


def annotations_size(annotations: dict) -> int:
    return sum(len(k.encode()) + len(str(v).encode()) for k, v in annotations.items())


def validate_annotations(annotations: Any, path: str) -> list[FieldError]:
    if not isinstance(annotations, dict):
        return []
    errs: list[FieldError] = []
    for k in annotations:
        errs.extend(invalid(path, k, m) for m in is_qualified_name(k.lower()))
    if annotations_size(annotations) > TOTAL_ANNOTATION_SIZE_LIMIT:
        errs.append(too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT))
    return errs


def validate_owner_references(refs: Any, path: str) -> list[FieldError]:
    if not isinstance(refs, list):
        return []
    errs: list[FieldError] = []
    first_controller = ""
    for ref in refs:
        if not isinstance(ref, dict):
            continue
        api_version = ref.get("apiVersion") or ""
        version = api_version.rpartition("/")[2]
        if not version:
            errs.append(invalid(path + ".apiVersion", api_version, "version must not be empty"))
        if not ref.get("kind"):
            errs.append(invalid(path + ".kind", ref.get("kind") or "", "kind must not be empty"))
        if not ref.get("name"):
            errs.append(invalid(path + ".name", ref.get("name") or "", "name must not be empty"))
        if not ref.get("uid"):
            errs.append(invalid(path + ".uid", ref.get("uid") or "", "uid must not be empty"))
        if ref.get("controller") is True:
            current = f"{ref.get('kind', '')}/{ref.get('name', '')}"
            if first_controller:
                errs.append(invalid(path, refs, "Only one reference can have Controller set to true. "
                                    f'Found "true" in references for {first_controller} and {current}'))
            else:
                first_controller = current
    return errs


STANDARD_FINALIZERS = ("kubernetes", "orphan", "foregroundDeletion")


def validate_finalizer_name(name: str, path: str) -> list[FieldError]:
    errs = validate_qualified_name(name, path)
    if "/" not in name and name not in STANDARD_FINALIZERS:
        errs.append(invalid(path, name, "name is neither a standard finalizer name nor is it fully qualified"))
    return errs


def validate_finalizers(finalizers: Any, path: str) -> list[FieldError]:
    if not isinstance(finalizers, list):
        return []
    errs: list[FieldError] = []
    for f in finalizers:
        errs.extend(validate_finalizer_name(str(f), path))
    if "orphan" in finalizers and "foregroundDeletion" in finalizers:
        errs.append(invalid(path, finalizers, "finalizer orphan and foregroundDeletion cannot be both set"))
    return errs


def validate_object_meta(meta: Any, namespaced: bool, name_fn: NameFn, path: str = "metadata") -> list[FieldError]:
    """ValidateObjectMeta on create (name generation already performed)."""
    meta = meta if isinstance(meta, dict) else {}
    errs: list[FieldError] = []
    generate_name = meta.get("generateName") or ""
    if generate_name:
        errs.extend(invalid(f"{path}.generateName", generate_name, m) for m in name_fn(generate_name, True))
    name = meta.get("name") or ""
    if not name:
        errs.append(required(f"{path}.name", "name or generateName is required"))
    else:
        errs.extend(invalid(f"{path}.name", name, m) for m in name_fn(name, False))
    namespace = meta.get("namespace") or ""
    if namespaced:
        if not namespace:
            errs.append(required(f"{path}.namespace"))
        else:
            errs.extend(invalid(f"{path}.namespace", namespace, m) for m in name_is_dns_label(namespace, False))
    elif namespace:
        errs.append(forbidden(f"{path}.namespace", "not allowed on this type"))
    errs.extend(validate_nonnegative(meta.get("generation", 0), f"{path}.generation"))
    errs.extend(_common_meta(meta, path))
    return errs


def _common_meta(meta: dict, path: str) -> list[FieldError]:
    errs = validate_labels(meta.get("labels"), f"{path}.labels")
    errs.extend(validate_annotations(meta.get("annotations"), f"{path}.annotations"))
    errs.extend(validate_owner_references(meta.get("ownerReferences"), f"{path}.ownerReferences"))
    errs.extend(validate_finalizers(meta.get("finalizers"), f"{path}.finalizers"))
    return errs


def _go_string_slice(values: list[str]) -> str:
    return "[]string{" + ", ".join(orjson.dumps(v).decode() for v in values) + "}"


def validate_object_meta_update(new: Any, old: Any, path: str = "metadata") -> list[FieldError]:
    """ValidateObjectMetaUpdate: identity fields immutable, resourceVersion required, generation monotonic."""
    new = new if isinstance(new, dict) else {}
    old = old if isinstance(old, dict) else {}
    errs: list[FieldError] = []
    if old.get("deletionTimestamp"):
        extra = sorted(set(new.get("finalizers") or []) - set(old.get("finalizers") or []))
        if extra:
            errs.append(forbidden(f"{path}.finalizers", "no new finalizers can be added if the object is being "
                                  f"deleted, found new finalizers {_go_string_slice(extra)}"))
    if not new.get("resourceVersion"):
        errs.append(invalid(f"{path}.resourceVersion", new.get("resourceVersion") or "",
                            "must be specified for an update"))
    if (new.get("generation") or 0) < (old.get("generation") or 0):
        errs.append(invalid(f"{path}.generation", new.get("generation") or 0, "must not be decremented"))
    for key in ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
        blank = "" if key in ("name", "namespace", "uid") else None
        errs.extend(validate_immutable(new.get(key, blank) or blank, old.get(key, blank) or blank, f"{path}.{key}"))
    errs.extend(_common_meta(new, path))
    return errs


# ---- label selectors (metav1validation.ValidateLabelSelector) and matching ----

def validate_label_selector(selector: Any, path: str) -> list[FieldError]:
    if not isinstance(selector, dict):
        return []
    errs = validate_labels(selector.get("matchLabels"), f"{path}.matchLabels")
    for i, expr in enumerate(selector.get("matchExpressions") or []):
        p = f"{path}.matchExpressions[{i}]"
        expr = expr if isinstance(expr, dict) else {}
        op, values = expr.get("operator"), expr.get("values") or []
        if op in ("In", "NotIn"):
            if not values:
                errs.append(required(f"{p}.values", "must be specified when `operator` is 'In' or 'NotIn'"))
        elif op in ("Exists", "DoesNotExist"):
            if values:
                errs.append(forbidden(f"{p}.values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
        else:
            errs.append(invalid(f"{p}.operator", op or "", "not a valid selector operator"))
        errs.extend(validate_label_name(expr.get("key") or "", f"{p}.key"))
        for j, v in enumerate(values):
            errs.extend(invalid(f"{p}.values[{j}]", v, m) for m in is_valid_label_value(str(v)))
    return errs


def selector_is_empty(selector: Any) -> bool:
    return not isinstance(selector, dict) or not (selector.get("matchLabels") or selector.get("matchExpressions"))


def selector_matches(selector: Any, labels: Any) -> bool | None:
    """Whether a LabelSelector matches labels; None if the selector cannot be converted (upstream skips then)."""
    if selector is None:
        return False
    if not isinstance(selector, dict):
        return None
    labels = labels if isinstance(labels, dict) else {}
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        if not isinstance(expr, dict):
            return None
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In":
            if not values:
                return None
            if key not in labels or labels[key] not in values:
                return False
        elif op == "NotIn":
            if not values:
                return None
            if key in labels and labels[key] in values:
                return False
        elif op == "Exists":
            if key not in labels:
                return False
        elif op == "DoesNotExist":
            if key in labels:
                return False
        else:
            return None
    return True


def map_selector_matches(selector: dict, labels: Any) -> bool:
    labels = labels if isinstance(labels, dict) else {}
    return all(labels.get(k) == v for k, v in selector.items())


