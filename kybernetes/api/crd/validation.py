"""Validation of a CustomResourceDefinition object itself, worded as apiextensions-apiserver's validation."""

from __future__ import annotations

import copy
from typing import Any

from kybernetes.api.errors import FieldError, forbidden, invalid, not_supported, required
from kybernetes.api.crd import names as dns
from kybernetes.api.crd.names import GoValue
from kybernetes.api.crd.defaulting import apply_defaults
from kybernetes.api.crd.openapi import SchemaValidator
from kybernetes.api.crd.pruning import prune
from kybernetes.api.crd.structural import key, validate_openapi_schema, validate_structural

PRINTER_COLUMN_TYPES = ["boolean", "date", "integer", "number", "string"]
PRINTER_COLUMN_FORMATS = ["byte", "date", "date-time", "double", "float", "int32", "int64", "password"]
ALLOWED_AT_ROOT_WITH_STATUS = ("description", "type", "format", "title", "maximum", "exclusiveMaximum", "minimum",
                               "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems", "minItems",
                               "uniqueItems", "multipleOf", "required", "items", "properties", "externalDocs",
                               "example", "x-kubernetes-preserve-unknown-fields", "x-kubernetes-validations")
_ALLOWED_FIELDS_GO = "[Description Type Format Title Maximum ExclusiveMaximum Minimum ExclusiveMinimum MaxLength " \
                     "MinLength Pattern MaxItems MinItems UniqueItems MultipleOf Required Items Properties " \
                     "ExternalDocs Example XPreserveUnknownFields XValidations]"
MAX_SELECTABLE_FIELDS = 8


def validate_crd(crd: dict, old: dict | None = None) -> list[FieldError]:
    """ValidateCustomResourceDefinition (and ...Update when old is given): every error, in upstream's order."""
    spec = crd.get("spec") or {}
    errs = _validate_meta(crd, spec)
    errs += _validate_spec(spec, "spec")
    if old is not None:
        errs += _validate_update(spec, old)
    status = crd.get("status") or {}
    errs += validate_names(status.get("acceptedNames") or {}, "status.acceptedNames")
    errs += _validate_stored_versions(status.get("storedVersions"), spec.get("versions") or [])
    return errs


def _validate_meta(crd: dict, spec: dict) -> list[FieldError]:
    meta = crd.get("metadata") or {}
    name = meta.get("name") or ""
    if not name:
        if meta.get("generateName"):
            return [invalid("metadata.generateName", meta["generateName"], m)
                    for m in dns.name_is_dns_subdomain(meta["generateName"], True)]
        return [required("metadata.name", "name or generateName is required")]
    msgs = dns.is_dns1123_subdomain(name)
    names = spec.get("names") or {}
    if name != f"{names.get('plural', '')}.{spec.get('group', '')}":
        msgs.append('must be spec.names.plural+"."+spec.group')
    errs = [invalid("metadata.name", name, m) for m in msgs]
    if meta.get("namespace"):
        errs.append(forbidden("metadata.namespace", "not allowed on this type"))
    return errs


def _validate_spec(spec: dict, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    group = spec.get("group") or ""
    if not group:
        errs.append(required(f"{path}.group"))
    elif msgs := dns.is_dns1123_subdomain(group):
        errs.append(invalid(f"{path}.group", group, ",".join(msgs)))
    elif len(group.split(".")) < 2:
        errs.append(invalid(f"{path}.group", group, "should be a domain with at least one dot"))
    scope = spec.get("scope") or ""
    if not scope:
        errs.append(required(f"{path}.scope"))
    elif scope not in ("Cluster", "Namespaced"):
        errs.append(not_supported(f"{path}.scope", scope, ["Cluster", "Namespaced"]))

    versions: list[dict] = spec.get("versions") or []
    for i, v in enumerate(versions):
        if not ((v.get("schema") or {}).get("openAPIV3Schema")):
            errs.append(required(f"{path}.versions[{i}].schema.openAPIV3Schema", "schemas are required"))
    if spec.get("preserveUnknownFields"):
        errs.append(invalid(f"{path}.preserveUnknownFields", True,
                            "must be false in order to use defaults in the schema")
                    if _any_schema_has(versions, lambda s: "default" in s) else
                    invalid(f"{path}.preserveUnknownFields", True,
                            "cannot set to true, set x-kubernetes-preserve-unknown-fields to true in "
                            "spec.versions[*].schema instead"))

    storage, seen, unique = 0, set(), True
    for i, v in enumerate(versions):
        vpath = f"{path}.versions[{i}]"
        storage += 1 if v.get("storage") else 0
        vname = v.get("name") or ""
        unique = unique and vname not in seen
        seen.add(vname)
        if msgs := dns.is_dns1035_label(vname):
            errs.append(invalid(f"{vpath}.name", vname, ",".join(msgs)))
        errs += _validate_version(v, vpath)

    if not unique:
        errs.append(invalid(f"{path}.versions", versions, "must contain unique version names"))
    if storage != 1:
        errs.append(invalid(f"{path}.versions", versions, "must have exactly one version marked as storage version"))

    names = spec.get("names") or {}
    for n in ("plural", "singular", "kind", "listKind"):
        if not names.get(n):
            errs.append(required(f"{path}.names.{n}"))
    errs += validate_names(names, f"{path}.names")
    errs += _validate_conversion(spec.get("conversion"), f"{path}.conversion")
    return errs


def _any_schema_has(versions: list[dict], pred: Any) -> bool:
    def walk(s: Any) -> bool:
        if isinstance(s, dict):
            if pred(s):
                return True
            return any(walk(v) for k, v in s.items() if k not in ("default", "enum", "example"))
        if isinstance(s, list):
            return any(walk(v) for v in s)
        return False

    return any(walk((v.get("schema") or {}).get("openAPIV3Schema")) for v in versions)


def validate_names(names: dict, path: str) -> list[FieldError]:
    """ValidateCustomResourceDefinitionNames."""
    errs: list[FieldError] = []
    for n in ("plural", "singular"):
        value = names.get(n) or ""
        if value and (msgs := dns.is_dns1035_label(value)):
            errs.append(invalid(f"{path}.{n}", value, ",".join(msgs)))
    for n in ("kind", "listKind"):
        value = names.get(n) or ""
        if value and (msgs := dns.is_dns1035_label(value.lower())):
            errs.append(invalid(f"{path}.{n}", value, "may have mixed case, but should otherwise match: " + ",".join(msgs)))
    for i, short in enumerate(names.get("shortNames") or []):
        if msgs := dns.is_dns1035_label(short):
            errs.append(invalid(f"{path}.shortNames[{i}]", short, ",".join(msgs)))
    if names.get("kind") and names.get("kind") == names.get("listKind"):
        errs.append(invalid(f"{path}.listKind", names["listKind"], "kind and listKind may not be the same"))
    for i, cat in enumerate(names.get("categories") or []):
        if msgs := dns.is_dns1035_label(cat):
            errs.append(invalid(f"{path}.categories[{i}]", cat, ",".join(msgs)))
    return errs


def _validate_version(v: dict, vpath: str) -> list[FieldError]:
    errs: list[FieldError] = []
    warning = v.get("deprecationWarning")
    if warning is not None:
        if not v.get("deprecated"):
            errs.append(invalid(f"{vpath}.deprecationWarning", warning, "can only be set for deprecated versions"))
        elif len(warning) > 256:
            errs.append(invalid(f"{vpath}.deprecationWarning", warning, "must be <= 256 characters long"))
        elif not warning:
            errs.append(invalid(f"{vpath}.deprecationWarning", warning, "must not be an empty string"))
    subresources = v.get("subresources") or {}
    schema = (v.get("schema") or {}).get("openAPIV3Schema")
    if isinstance(schema, dict):
        errs += validate_version_schema(schema, f"{vpath}.schema", "status" in subresources)
    errs += _validate_subresources(v.get("subresources"), f"{vpath}.subresources")
    for i, col in enumerate(v.get("additionalPrinterColumns") or []):
        errs += _validate_column(col, f"{vpath}.additionalPrinterColumns[{i}]")
    fields = v.get("selectableFields") or []
    if fields:
        errs += _validate_selectable_fields(fields, schema or {}, f"{vpath}.selectableFields")
    return errs


def validate_version_schema(schema: dict, path: str, status_enabled: bool) -> list[FieldError]:
    """validateCustomResourceDefinitionValidation for one version's schema (path ends in '.schema')."""
    errs: list[FieldError] = []
    root = f"{path}.openAPIV3Schema"
    if status_enabled:
        for k, value in schema.items():
            if value in (None, False, "", [], {}, 0):
                continue
            if k == "type":
                if value != "object":
                    errs.append(invalid(f"{root}.type", value, 'only "object" is allowed as the type at the root of '
                                                               'the schema if the status subresource is enabled'))
                continue
            if k not in ALLOWED_AT_ROOT_WITH_STATUS:
                errs.append(invalid(root, schema, f"only {_ALLOWED_FIELDS_GO} fields are allowed at the root of the "
                                                  "schema if the status subresource is enabled"))
                break
    if schema.get("nullable"):
        errs.append(forbidden(f"{root}.nullable", "nullable cannot be true at the root"))
    structural = validate_structural(root, schema)
    if structural:
        errs += structural
    else:
        errs += validate_defaults(schema, root)
    errs += validate_openapi_schema(schema, root)
    return errs


def validate_defaults(schema: dict, root: str) -> list[FieldError]:
    """Every `default` must validate against its schema and hold no field pruning would drop."""
    errs: list[FieldError] = []

    def walk(s: dict, path: str, is_root: bool, inside_meta: bool) -> None:
        if not isinstance(s, dict):
            return
        if s.get("default") is not None and not inside_meta:
            value = s["default"]
            pruned = copy.deepcopy(value)
            prune(pruned, s, is_resource_root=bool(s.get("x-kubernetes-embedded-resource")))
            if pruned != value:
                errs.append(invalid(f"{path}.default", value, "must not have unknown fields"))
            else:
                defaulted = copy.deepcopy(value)
                apply_defaults(defaulted, s)
                errs.extend(SchemaValidator(s, f"{path}.default").validate(defaulted))
        for k, sub in (s.get("properties") or {}).items():
            walk(sub, key(f"{path}.properties", k), False,
                 inside_meta or ((is_root or bool(s.get("x-kubernetes-embedded-resource"))) and k == "metadata"))
        if isinstance(s.get("items"), dict):
            walk(s["items"], f"{path}.items", False, inside_meta)
        if isinstance(s.get("additionalProperties"), dict):
            walk(s["additionalProperties"], f"{path}.additionalProperties", False, inside_meta)

    walk(schema, root, True, False)
    return errs


def _validate_subresources(sub: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    scale = (sub or {}).get("scale")
    if scale is None:
        return errs
    for fld, prefix, where in (("specReplicasPath", (".spec.",), ".spec"),
                               ("statusReplicasPath", (".status.",), ".status")):
        value = scale.get(fld) or ""
        if not value:
            errs.append(required(f"{path}.scale.{fld}"))
        elif e := _simple_json_path(value, f"{path}.scale.{fld}"):
            errs += e
        elif not value.startswith(prefix):
            errs.append(invalid(f"{path}.scale.{fld}", value, f"should be a json path under {where}"))
    selector = scale.get("labelSelectorPath")
    if selector:
        if e := _simple_json_path(selector, f"{path}.scale.labelSelectorPath"):
            errs += e
        elif not selector.startswith((".spec.", ".status.")):
            errs.append(invalid(f"{path}.scale.labelSelectorPath", selector,
                                "should be a json path under either .spec or .status"))
    return errs


def _simple_json_path(s: str, path: str) -> list[FieldError]:
    if not s:
        return [invalid(path, s, "must not be empty")]
    if s[0] != ".":
        return [invalid(path, s, "must be a simple json path starting with .")]
    return []


def _validate_column(col: dict, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if not col.get("name"):
        errs.append(required(f"{path}.name"))
    t = col.get("type") or ""
    one_of = "must be one of " + ",".join(PRINTER_COLUMN_TYPES)
    if not t:
        errs.append(required(f"{path}.type", one_of))
    elif t not in PRINTER_COLUMN_TYPES:
        errs.append(invalid(f"{path}.type", t, one_of))
    fmt = col.get("format") or ""
    if fmt and fmt not in PRINTER_COLUMN_FORMATS:
        errs.append(invalid(f"{path}.format", fmt, "must be one of " + ",".join(PRINTER_COLUMN_FORMATS)))
    json_path = col.get("jsonPath") or ""
    if not json_path:
        errs.append(required(f"{path}.JSONPath"))
    else:
        errs += _simple_json_path(json_path, f"{path}.JSONPath")
    return errs


def _validate_selectable_fields(fields: list[dict], schema: dict, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    seen: set[str] = set()
    for i, f in enumerate(fields):
        p = f"{path}[{i}].jsonPath"
        jp = f.get("jsonPath") or ""
        if not jp:
            errs.append(required(p))
            continue
        node: Any = schema
        parts = jp.lstrip(".").split(".")
        for part in parts:
            node = ((node or {}).get("properties") or {}).get(part) if isinstance(node, dict) else None
        if node is None:
            errs.append(invalid(p, jp, f"is an invalid path: does not refer to a valid field"))
            continue
        if parts[0] == "metadata":
            errs.append(invalid(p, jp, "must not point to fields in metadata"))
        if node.get("type") not in ("string", "boolean", "integer"):
            errs.append(invalid(p, jp, "must point to a field of type string, boolean or integer. Enum string fields "
                                       "and strings with formats are allowed."))
        norm = ".".join(parts)
        if norm in seen:
            errs.append(FieldError("FieldValueDuplicate", p, jp))
        seen.add(norm)
    if len(seen) > MAX_SELECTABLE_FIELDS:
        errs.append(FieldError("FieldValueTooMany", path, len(seen), f"must have at most {MAX_SELECTABLE_FIELDS} items"))
    return errs


def _validate_conversion(conv: Any, path: str) -> list[FieldError]:
    if conv is None:
        return []
    errs: list[FieldError] = []
    strategy = conv.get("strategy") or ""
    if not strategy:
        errs.append(required(f"{path}.strategy"))
    elif strategy not in ("None", "Webhook"):
        errs.append(not_supported(f"{path}.strategy", strategy, ["None", "Webhook"]))
    webhook = conv.get("webhook")
    if strategy == "Webhook":
        client = (webhook or {}).get("clientConfig")
        if client is None:
            errs.append(required(f"{path}.webhookClientConfig", "required when strategy is set to Webhook"))
        elif ("url" in client) == ("service" in client):
            errs.append(required(f"{path}.webhookClientConfig", "exactly one of url or service is required"))
        versions = (webhook or {}).get("conversionReviewVersions") or []
        if not versions:
            errs.append(required(f"{path}.conversionReviewVersions"))
        elif not {"v1", "v1beta1"} & set(versions):
            errs.append(invalid(f"{path}.conversionReviewVersions", versions, "must include at least one of v1, v1beta1"))
    elif webhook is not None:
        if webhook.get("clientConfig") is not None:
            errs.append(forbidden(f"{path}.webhookClientConfig", "should not be set when strategy is not set to Webhook"))
        if webhook.get("conversionReviewVersions"):
            errs.append(forbidden(f"{path}.conversionReviewVersions",
                                  "should not be set when strategy is not set to Webhook"))
    return errs


def _validate_stored_versions(stored: Any, versions: list[dict]) -> list[FieldError]:
    path = "status.storedVersions"
    if not stored:
        return [invalid(path, GoValue("[]string(nil)") if stored is None else stored,
                        "must have at least one stored version")]
    errs: list[FieldError] = []
    remaining = {v: i for i, v in enumerate(stored)}
    for v in versions:
        if v.get("storage") and v.get("name") not in remaining:
            errs.append(invalid(path, stored, "must have the storage version " + str(v.get("name"))))
        remaining.pop(v.get("name"), None)
    for v, i in remaining.items():
        errs.append(invalid(f"{path}[{i}]", v, f"missing from spec.versions; {v} was previously a storage version, "
                            f"and must remain in spec.versions until a storage migration ensures no data remains "
                            f"persisted in {v} and removes {v} from status.storedVersions"))
    return errs


def _validate_update(spec: dict, old: dict) -> list[FieldError]:
    errs: list[FieldError] = []
    old_spec = old.get("spec") or {}
    established = any(c.get("type") == "Established" and c.get("status") == "True"
                      for c in (old.get("status") or {}).get("conditions") or [])
    checks = [("spec.group", spec.get("group"), old_spec.get("group")),
              ("spec.names.plural", (spec.get("names") or {}).get("plural"),
               (old_spec.get("names") or {}).get("plural"))]
    if established:
        checks[:0] = [("spec.scope", spec.get("scope"), old_spec.get("scope")),
                      ("spec.names.kind", (spec.get("names") or {}).get("kind"),
                       (old_spec.get("names") or {}).get("kind"))]
    for path, new, prev in checks:
        if new != prev:
            errs.append(invalid(path, new, "field is immutable"))
    return errs
